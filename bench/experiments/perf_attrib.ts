/**
 * Attributes `perf record` samples of a Deno process to what the time went to, although the
 * deno binary is stripped: calibration workloads that do only one thing (SHA-256 through
 * node:crypto; TLS encryption and decryption) are profiled first, and the 4 KiB pages of the
 * binary that are hot in them name the pages in the real profile. Kernel and libc symbols are
 * grouped by name.
 *
 * ```sh
 * # once: calibrate (writes /tmp/ferry-perf-calibration.json)
 * deno run -A bench/experiments/perf_attrib.ts calibrate
 * # profile something, e.g. the server during a put:
 * perf record -F 1999 -p SERVER_PID -o /tmp/server.data -- sleep 5
 * deno run -A bench/experiments/perf_attrib.ts report /tmp/server.data
 * ```
 *
 * The calibration workloads are this script's `work-sha256` and `work-tls` modes.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { tlsFiles } from "./common.ts";

const CALIBRATION = "/tmp/ferry-perf-calibration.json";
const PAGE = 4096;

async function sh(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) throw new Error(`${cmd} failed: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout);
}

interface Sym {
  percent: number;
  dso: string;
  sym: string;
}

/** Flat profile: percent of samples per (dso, symbol). */
async function flat(data: string): Promise<Sym[]> {
  const text = await sh("perf", [
    "report",
    "-i",
    data,
    "--no-children",
    "--sort",
    "dso,sym",
    "--stdio",
    "-g",
    "none",
    "--percent-limit",
    "0",
  ]);
  const rows: Sym[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s+([\d.]+)%\s+(\S+(?: \S+)*?)\s+\[(.)\]\s+(.*)$/.exec(line);
    if (m === null) continue;
    rows.push({ percent: Number(m[1]), dso: m[2].trim(), sym: m[4].trim() });
  }
  return rows;
}

function pageOf(sym: string): number | null {
  const m = /^0x([0-9a-f]+)$/.exec(sym);
  return m === null ? null : Math.floor(parseInt(m[1], 16) / PAGE);
}

/** Pages of the deno binary that hold at least `share` of a calibration profile's samples. */
function hotPages(rows: Sym[], share: number): number[] {
  const pages = new Map<number, number>();
  for (const r of rows) {
    if (r.dso !== "deno") continue;
    const p = pageOf(r.sym);
    if (p !== null) pages.set(p, (pages.get(p) ?? 0) + r.percent);
  }
  return [...pages].filter(([, pct]) => pct >= share * 100).map(([p]) => p);
}

async function profile(args: string[], data: string): Promise<Sym[]> {
  await sh("perf", ["record", "-F", "1999", "-o", data, "--", Deno.execPath(), ...args]);
  return await flat(data);
}

async function calibrate(): Promise<void> {
  const self = new URL(import.meta.url).pathname;
  const sha = await profile(["run", "-A", self, "work-sha256"], "/tmp/ferry-perf-sha.data");
  const tls = await profile(["run", "-A", self, "work-tls"], "/tmp/ferry-perf-tls.data");
  const alloc = await profile(["run", "-A", self, "work-alloc"], "/tmp/ferry-perf-alloc.data");
  const shaPages = hotPages(sha, 0.005);
  const tlsPages = hotPages(tls, 0.005).filter((p) => !shaPages.includes(p));
  const allocPages = hotPages(alloc, 0.005).filter((p) =>
    !shaPages.includes(p) && !tlsPages.includes(p)
  );
  await Deno.writeTextFile(
    CALIBRATION,
    JSON.stringify({ sha256: shaPages, tls: tlsPages, alloc: allocPages }),
  );
  console.log(
    `calibrated: ${shaPages.length} SHA-256 pages, ${tlsPages.length} TLS pages, ${allocPages.length} allocation/GC pages`,
  );
}

/** Buckets of a real profile. */
function bucket(r: Sym, cal: { sha256: number[]; tls: number[]; alloc?: number[] }): string {
  const s = r.sym;
  if (r.dso === "deno") {
    const p = pageOf(s);
    if (p !== null && cal.sha256.includes(p)) return "SHA-256 (node:crypto)";
    if (p !== null && cal.tls.includes(p)) return "TLS crypto + rustls";
    if (p !== null && cal.alloc?.includes(p)) return "V8 ArrayBuffer allocation + GC";
    return "deno/V8 runtime (other native)";
  }
  if (r.dso.startsWith("[JIT]") || r.dso.includes("perf-")) return "JavaScript (JIT code)";
  if (r.dso.startsWith("libc")) {
    if (/memset/.test(s)) return "memset (zeroing new buffers)";
    if (/memmove|memcpy/.test(s)) return "memcpy (user-space copies)";
    if (/malloc|free|cfree|_int_/.test(s)) return "malloc/free";
    return "libc other";
  }
  if (r.dso.includes("kernel")) {
    if (
      /copy_folio_from_iter|generic_perform_write|ext4_|filemap_|folio|iomap|jbd2|blk_|nvme|virtio_blk|bio_/
        .test(s)
    ) {
      return "kernel: file write / page cache / fsync";
    }
    if (
      /tcp_|skb|sock_|inet_|ip_|__dev_queue|loopback|net_rx|napi|copy_to_iter|_copy_from_iter|__sys_recv|__sys_send|sendmsg|recvmsg/
        .test(s)
    ) {
      return "kernel: TCP send/receive";
    }
    if (
      /clear_page|page_fault|do_anonymous|handle_mm_fault|__handle_mm|alloc_pages|rmqueue|zap_|unmap|mmap|free_pages|free_unref|__free|release_pages|lru|memcg/
        .test(s)
    ) {
      return "kernel: page faults / memory mapping";
    }
    if (
      /futex|schedule|switch|epoll|ep_poll|wake|pick_next|enqueue|dequeue|update_curr|__raw_spin|_raw_spin|syscall|entry_|do_syscall|irq/
        .test(s)
    ) {
      return "kernel: syscalls, wakeups, scheduling";
    }
    return "kernel: other";
  }
  return `other (${r.dso})`;
}

async function report(data: string): Promise<void> {
  const cal = JSON.parse(await Deno.readTextFile(CALIBRATION));
  const rows = await flat(data);
  const sums = new Map<string, number>();
  for (const r of rows) sums.set(bucket(r, cal), (sums.get(bucket(r, cal)) ?? 0) + r.percent);
  const total = [...sums.values()].reduce((a, b) => a + b, 0);
  console.log(`| where | share of samples |\n| --- | --- |`);
  for (const [k, v] of [...sums].sort((a, b) => b[1] - a[1])) {
    console.log(`| ${k} | ${(v / total * 100).toFixed(1)}% |`);
  }
  const other = new Map<number, number>();
  for (const r of rows) {
    if (bucket(r, cal) !== "deno/V8 runtime (other native)") continue;
    const p = pageOf(r.sym);
    if (p !== null) other.set(p, (other.get(p) ?? 0) + r.percent);
  }
  const top = [...other].sort((a, b) => b[1] - a[1]).slice(0, 6);
  console.log(
    `\nhottest unattributed pages of the deno binary: ${
      top.map(([p, v]) => `0x${(p * PAGE).toString(16)} ${v.toFixed(1)}%`).join(", ")
    }`,
  );
  console.log(`\ntop kernel and libc symbols:`);
  for (const r of rows.filter((r) => r.dso !== "deno").slice(0, 12)) {
    console.log(`  ${r.percent.toFixed(2)}% ${r.dso} ${r.sym}`);
  }
}

function workSha256(): void {
  const data = new Uint8Array(256 * 1024);
  crypto.getRandomValues(data.subarray(0, 65536));
  const h = createHash("sha256");
  for (let i = 0; i < 8 * 4096; i++) h.update(data); // 8 GiB
  h.digest();
}

async function workTls(): Promise<void> {
  const tls = await tlsFiles();
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: await Deno.readTextFile(tls.cert),
    key: await Deno.readTextFile(tls.key),
  });
  const port = (listener.addr as Deno.NetAddr).port;
  const total = 4 * 1024 ** 3;
  const server = (async () => {
    const c = await listener.accept();
    const buf = new Uint8Array(256 * 1024);
    for (let sent = 0; sent < total; sent += buf.length) {
      let o = 0;
      while (o < buf.length) o += await c.write(buf.subarray(o));
    }
    c.close();
  })();
  const c = await Deno.connectTls({
    hostname: "127.0.0.1",
    port,
    caCerts: [await Deno.readTextFile(tls.ca)],
  });
  const buf = new Uint8Array(256 * 1024);
  while ((await c.read(buf)) !== null) { /* discard */ }
  await server;
  listener.close();
  await Deno.remove(tls.dir, { recursive: true });
}

/** Allocates a fresh 256 KiB buffer per step, as the old protocol/reader.ts did per read. */
function workAlloc(): void {
  let sum = 0;
  for (let i = 0; i < 64 * 1024; i++) {
    const b = new Uint8Array(256 * 1024);
    b[i & 0xffff] = 1;
    sum += b[0];
  }
  if (sum < 0) console.log(sum);
}

if (import.meta.main) {
  const [cmd, arg] = Deno.args;
  if (cmd === "calibrate") await calibrate();
  else if (cmd === "report") await report(arg);
  else if (cmd === "work-sha256") workSha256();
  else if (cmd === "work-tls") await workTls();
  else if (cmd === "work-alloc") workAlloc();
  else {
    console.error("usage: perf_attrib.ts calibrate | report PERF_DATA");
    Deno.exit(2);
  }
}
