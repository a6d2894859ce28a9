/**
 * Shared pieces of the cost-ladder experiments: TLS material, a peer process, and measuring
 * wall and CPU time of one variant.
 *
 * @module
 */

import process from "node:process";
import { generateCertificates } from "../../server/certificates.ts";
import { closeQuietly, stopChild } from "../harness/process.ts";

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

/** The peer's side: listens with TLS on 127.0.0.1 and prints `ready <port>` for {@linkcode startPeer}. */
export async function listenPeer(
  port: number,
  cert: string,
  key: string,
): Promise<Deno.TlsListener> {
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port,
    cert: await Deno.readTextFile(cert),
    key: await Deno.readTextFile(key),
  });
  console.log(`ready ${(listener.addr as Deno.NetAddr).port}`);
  return listener;
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

/** Command-line options both ladders take (`parseArgs` form). */
export const LADDER_OPTIONS = {
  mib: { type: "string", default: "512" },
  reps: { type: "string", default: "3" },
  dir: { type: "string", default: "/tmp" },
  port: { type: "string", default: "0" },
  cert: { type: "string" },
  key: { type: "string" },
} as const;

/** What {@linkcode runLadder} needs to know about one ladder. */
export interface Ladder<R extends { name: string }> {
  /** This script's path: the peer is this script in another mode. */
  script: string;
  /** The peer's mode and options; `--cert` and `--key` are added. */
  peerArgs: string[];
  /** Bytes each run moves. */
  bytes: number;
  /** Runs per rung; the median is shown. */
  reps: number;
  /** First line of the output. */
  title: string;
  /** The rungs, in order. */
  rungs: R[];
  /** Whether a rung starts a new series (no Δ against the rung above). */
  startsSeries(name: string): boolean;
  /** One timed run of `rung` over a fresh connection to the peer. */
  sample(rung: R, conn: Deno.TlsConn): Promise<Sample>;
  /** Removes what the runs left behind. */
  cleanup(): Promise<void>;
}

/**
 * Starts the peer, runs every rung `reps` times, prints one table row per rung (median sample,
 * CPU Δ against the rung above), and stops the peer.
 */
export async function runLadder<R extends { name: string }>(l: Ladder<R>): Promise<void> {
  const tls = await tlsFiles();
  const peer = await startPeer(l.script, [...l.peerArgs, "--cert", tls.cert, "--key", tls.key]);
  const ca = await Deno.readTextFile(tls.ca);
  console.log(`${l.title}, median of ${l.reps}\n`);
  console.log(ROW_HEADER);
  let previous: Sample | undefined;
  try {
    for (const rung of l.rungs) {
      const samples: Sample[] = [];
      for (let r = 0; r < l.reps; r++) {
        const conn = await connectTls(peer.port, ca);
        try {
          samples.push(await l.sample(rung, conn));
        } finally {
          closeQuietly(conn);
        }
      }
      const s = medianSample(samples);
      console.log(row(rung.name, l.bytes, s, l.startsSeries(rung.name) ? undefined : previous));
      previous = s;
    }
  } finally {
    await stopChild(peer.child);
    await l.cleanup();
    await Deno.remove(tls.dir, { recursive: true });
  }
}
