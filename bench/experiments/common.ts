/**
 * Shared pieces of the cost-ladder experiments: TLS material, a peer process, and measuring
 * wall and CPU time of one variant.
 *
 * @module
 */

import process from "node:process";
import { generateCertificates } from "../../server/certificates.ts";

/** MiB. */
export const MiB = 1024 * 1024;

/** TLS material in a temporary directory, shared with the peer process by path. */
export async function tlsFiles(): Promise<{ dir: string; cert: string; key: string; ca: string }> {
  const set = await generateCertificates();
  const dir = await Deno.makeTempDir({ prefix: "ferry-exp-" });
  await Deno.writeTextFile(`${dir}/cert.pem`, set.cert);
  await Deno.writeTextFile(`${dir}/key.pem`, set.key);
  await Deno.writeTextFile(`${dir}/ca.pem`, set.caCert);
  return { dir, cert: `${dir}/cert.pem`, key: `${dir}/key.pem`, ca: `${dir}/ca.pem` };
}

/** Starts `deno run -A <script> <args>` and waits for `ready <port>` on its stdout. */
export async function startPeer(
  script: string,
  args: string[],
): Promise<{ port: number; child: Deno.ChildProcess }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/ready (\d+)/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the peer exited before it was ready");
    text += value;
  }
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  return { port: Number(/ready (\d+)/.exec(text)![1]), child };
}

/** Connects with TLS to 127.0.0.1:port (Nagle off, as the ferry client does). */
export async function connectTls(port: number, ca: string): Promise<Deno.TlsConn> {
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
  tcp.setNoDelay(true);
  const conn = await Deno.startTls(tcp, { hostname: "127.0.0.1", caCerts: [ca] });
  await conn.handshake();
  return conn;
}

/** One measurement: wall ms and this process's CPU ms (user, system). */
export interface Sample {
  wallMs: number;
  userMs: number;
  sysMs: number;
}

/** Runs `body` and measures its wall time and this process's CPU time. */
export async function timed(body: () => Promise<void>): Promise<Sample> {
  const cpu = process.cpuUsage();
  const t = performance.now();
  await body();
  const wallMs = performance.now() - t;
  const d = process.cpuUsage(cpu);
  return { wallMs, userMs: d.user / 1000, sysMs: d.system / 1000 };
}

/** The median sample by wall time. */
export function medianSample(samples: Sample[]): Sample {
  const s = [...samples].sort((a, b) => a.wallMs - b.wallMs);
  return s[s.length >> 1];
}

/** One line of a ladder table: rate, and CPU per GiB of the measuring process. */
export function row(name: string, bytes: number, s: Sample, base?: Sample): string {
  const gib = bytes / (1024 * MiB);
  const rate = bytes / 1e6 / (s.wallMs / 1000);
  const cpu = (s.userMs + s.sysMs) / gib;
  const delta = base === undefined
    ? ""
    : ` ${(cpu - (base.userMs + base.sysMs) / gib) >= 0 ? "+" : ""}${
      (cpu - (base.userMs + base.sysMs) / gib).toFixed(0)
    }`;
  return `| ${name} | ${rate.toFixed(0)} | ${(s.wallMs / gib).toFixed(0)} | ${
    cpu.toFixed(0)
  }${delta} | ${(s.userMs / gib).toFixed(0)} | ${(s.sysMs / gib).toFixed(0)} |`;
}

/** Header of a ladder table. */
export const ROW_HEADER = [
  "| variant | MB/s | wall ms/GiB | CPU ms/GiB (Δ vs previous) | user | sys |",
  "| --- | --- | --- | --- | --- | --- |",
].join("\n");
