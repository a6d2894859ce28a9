/**
 * Helpers for the hardening tests (limits, fuzz, load): raw TLS connections that speak frames
 * directly, a relay that makes connections come from another loopback address, and a ferry
 * server run as a child process so its memory, CPU and file descriptors can be read in /proc.
 *
 * @module
 */

import assert from "node:assert/strict";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { readFrames } from "../protocol/frame_reader.ts";
import { writeAll } from "../protocol/frame_writer.ts";
import type { Frame } from "../protocol/frame.ts";
import {
  decodeError,
  encodeAuth,
  encodeHello,
  type ErrorMessage,
} from "../protocol/messages/mod.ts";
import { SERVICES } from "../protocol/services.ts";
import { userRecord } from "../server/auth.ts";
import { connect } from "../mod.ts";
import { randomBytes, sha256Hex, testCertificates, TOKENS } from "./helpers.ts";
import { concat } from "./bytes.ts";

const KiB = 1024;
const REPO = fileURLToPath(new URL("..", import.meta.url));

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `cond` every 20 ms until it is true, failing after `ms`. */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string,
  ms = 10_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * Reads a file below /proc through `cat` (Deno's permissions want --allow-all for /proc itself;
 * the tests have --allow-run).
 */
export function readProc(path: string): string {
  const out = new Deno.Command("cat", { args: [path], stdout: "piped", stderr: "null" })
    .outputSync();
  return new TextDecoder().decode(out.stdout);
}

/** Open file descriptors of process `pid` (default: this one). */
export function fdCount(pid: number = Deno.pid): number {
  const out = new Deno.Command("ls", { args: [`/proc/${pid}/fd`], stdout: "piped", stderr: "null" })
    .outputSync();
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "").length;
}

/** A field of /proc/PID/status in KiB (VmRSS, VmHWM...). */
export function statusKiB(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readProc(`/proc/${pid}/status`));
  return m ? Number(m[1]) : NaN;
}

// ---------------------------------------------------------------------------------------------
// A good client

/** A put+get round trip verified by SHA-256 (catalogue: "others OK"). */
export async function roundTrip(port: number, ca: string, name: string, size = 256 * KiB) {
  const c = await connect({ hostname: "localhost", port, token: TOKENS.write, caCerts: [ca] });
  try {
    const data = randomBytes(size);
    await c.upload(data, name);
    const chunks: Uint8Array[] = [];
    await c.download(
      name,
      new WritableStream({
        write(chunk) {
          chunks.push(chunk);
        },
      }),
    );
    const back = new Uint8Array(chunks.reduce((n, b) => n + b.length, 0));
    let o = 0;
    for (const b of chunks) {
      back.set(b, o);
      o += b.length;
    }
    assert.equal(sha256Hex(back), sha256Hex(data), `${name}: round trip`);
  } finally {
    c.close();
    await c.closed;
  }
}

// ---------------------------------------------------------------------------------------------
// Raw frame connections

/** A TLS connection that sends and receives raw frames. */
export interface RawConn {
  /** Writes byte strings (concatenated into one write). */
  send(...parts: Uint8Array[]): Promise<void>;
  /** The next frame from the server, or `null` once it closed; fails after `ms`. */
  next(ms?: number): Promise<Frame | null>;
  /** Resolves once the server has closed the connection, or after `ms` (then `false`). */
  closedWithin(ms: number): Promise<boolean>;
  /** Frames received and not yet taken by `next`. */
  readonly pending: Frame[];
  /** From now on, drops every frame received (and those pending). */
  discard(): void;
  /** Half-closes (TLS close_notify), keeps reading. */
  closeWrite(): Promise<void>;
  /** Closes and waits for the reader to stop. */
  close(): Promise<void>;
}

/** Options of {@linkcode openRaw}. */
export interface RawOptions {
  /** Do not read from the connection at all (a client that stops reading). */
  noRead?: boolean;
  /** Keep no frames (for connections that receive a lot). */
  discard?: boolean;
}

/** Opens a TLS connection to `port` on localhost that speaks raw frames. */
export async function openRaw(
  port: number,
  ca: string,
  options: RawOptions = {},
): Promise<RawConn> {
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
  tcp.setNoDelay(true);
  const conn = await Deno.startTls(tcp, { hostname: "localhost", caCerts: [ca] });
  await conn.handshake();
  const frames: Frame[] = [];
  let discarding = options.discard ?? false;
  let ended = false;
  let wake = null as (() => void) | null;
  const pump = options.noRead ? Promise.resolve() : (async () => {
    try {
      for await (const f of readFrames(conn)) {
        if (!discarding) frames.push(f);
        wake?.();
      }
    } catch {
      // the server closed abruptly, or we closed: either way the stream is over
    } finally {
      ended = true;
      wake?.();
    }
  })();
  let closed = false;
  async function waitUntil(cond: () => boolean, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((r) => {
        wake = r;
        timer = setTimeout(r, left);
      });
      clearTimeout(timer);
      wake = null;
    }
    return true;
  }
  return {
    pending: frames,
    discard() {
      discarding = true;
      frames.length = 0;
    },
    async send(...parts) {
      await writeAll(conn, parts.length === 1 ? parts[0] : concat(parts));
    },
    async next(ms = 5_000) {
      if (!(await waitUntil(() => frames.length > 0 || ended, ms))) {
        assert.fail(`no frame from the server within ${ms} ms`);
      }
      return frames.shift() ?? null;
    },
    closedWithin(ms) {
      return waitUntil(() => ended, ms);
    },
    async closeWrite() {
      await conn.closeWrite();
    },
    async close() {
      if (!closed) {
        closed = true;
        try {
          conn.close();
        } catch {
          // already closed
        }
      }
      await pump;
    },
  };
}

/** Is `f` an ERROR frame? Returns its contents, or `undefined`. */
export function errorOf(f: Frame | null): ErrorMessage | undefined {
  if (f === null || f.type !== SERVICES.ERROR.type || f.num !== SERVICES.ERROR.num) {
    return undefined;
  }
  return decodeError(f.payload);
}

/** Asserts that `f` is an ERROR with `code` (and `id` when given). */
export function expectError(f: Frame | null, code: string, what: string, id?: number): void {
  assert.ok(f !== null, `${what}: the server closed the connection instead of answering`);
  const e = errorOf(f);
  assert.ok(e !== undefined, `${what}: expected ERROR ${code}, got frame (${f.type},${f.num})`);
  assert.equal(e.code, code, `${what}: ${e.message}`);
  if (id !== undefined) assert.equal(e.id, id, `${what}: request id`);
}

/** Asserts that `f` is the frame of `service`. */
export function expectFrame(
  f: Frame | null,
  service: { type: number; num: number },
  what: string,
): Frame {
  assert.ok(f !== null, `${what}: the server closed the connection`);
  const e = errorOf(f);
  assert.ok(e === undefined, `${what}: got ERROR ${e?.code}: ${e?.message}`);
  assert.deepEqual([f.type, f.num], [service.type, service.num], `${what}: unexpected frame`);
  return f;
}

/** HELLO (id 1) and AUTH (id 2) with `token`, answered WELCOME and AUTH_OK. */
export async function rawLogin(raw: RawConn, token: string = TOKENS.write): Promise<void> {
  await raw.send(
    encodeHello({ id: 1, minVersion: 1, maxVersion: 1, agent: "raw" }),
    encodeAuth({ id: 2, token }),
  );
  expectFrame(await raw.next(), SERVICES.WELCOME, "HELLO");
  expectFrame(await raw.next(), SERVICES.AUTH_OK, "AUTH");
}

/** Opens a plain TCP connection to `port` that sends nothing (or `bytes`). */
export async function openTcp(port: number, bytes?: Uint8Array): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  if (bytes !== undefined) await writeAll(conn, bytes);
  return conn;
}

/** Reads from a plain connection until EOF or reset (true), or until `ms` pass (false). */
export async function tcpClosedWithin(conn: Deno.Conn, ms: number): Promise<boolean> {
  const buf = new Uint8Array(16 * 1024);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), ms));
  try {
    while (true) {
      const read = conn.read(buf);
      read.catch(() => {}); // still pending when the timer wins; rejects once conn is closed
      const n = await Promise.race([read, timeout]);
      if (n === "timeout") return false;
      if (n === null) return true;
    }
  } catch {
    return true; // reset
  } finally {
    clearTimeout(timer);
  }
}

/** Closes a connection, ignoring one that is already closed. */
export function closeQuietly(conn: { close(): void }): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}

// ---------------------------------------------------------------------------------------------
// A relay from another loopback address

/**
 * A TCP relay on 127.0.0.1 that connects to `targetPort` from `sourceAddress` (e.g.
 * 127.0.0.2: all of 127/8 is loopback on Linux), so the server sees another client address.
 * Deno.connect cannot bind a local address; node:net can.
 */
export function relayFrom(sourceAddress: string, targetPort: number): {
  port: number;
  close(): Promise<void>;
} {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const relays: Promise<void>[] = [];
  const open = new Set<Deno.Conn>();

  async function relay(client: Deno.Conn): Promise<void> {
    open.add(client);
    const upstream = net.connect({
      host: "127.0.0.1",
      port: targetPort,
      localAddress: sourceAddress,
    });
    const done = new Promise<void>((resolve) => {
      upstream.once("close", () => resolve());
    });
    upstream.on("error", () => {});
    upstream.on("data", (chunk: Uint8Array) => {
      upstream.pause();
      writeAll(client, chunk).then(() => upstream.resume(), () => upstream.destroy());
    });
    upstream.on("end", () => closeQuietly(client));
    try {
      const buf = new Uint8Array(64 * 1024);
      while (true) {
        const n = await client.read(buf);
        if (n === null) break;
        const chunk = buf.slice(0, n);
        await new Promise<void>((r) => upstream.write(chunk, () => r()));
      }
    } catch {
      // reset by the client
    }
    upstream.end();
    upstream.destroy();
    await done;
    open.delete(client);
    closeQuietly(client);
  }

  const accepting = (async () => {
    try {
      for await (const client of listener) relays.push(relay(client).catch(() => {}));
    } catch {
      // listener closed
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      listener.close();
      await accepting;
      for (const c of open) closeQuietly(c);
      await Promise.all(relays);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The server as a child process

/** A ferry server running as a child process. */
export interface ServerProcess {
  /** Its process id. */
  pid: number;
  /** Its port on 127.0.0.1. */
  port: number;
  /** The served root. */
  root: string;
  /** A directory beside the root (for canaries and local files). */
  outside: string;
  /** The CA certificate, PEM. */
  ca: string;
  /** Tokens: admin (its certs/token), write and read (from a users file). */
  tokens: { admin: string; write: string; read: string };
  /** Everything it wrote to stderr so far. */
  output(): string;
  /** A field of /proc/PID/status in KiB (VmRSS, VmHWM...). */
  statusKiB(field: string): number;
  /** CPU time used so far (user + system), in seconds. */
  cpuSeconds(): number;
  /** Open file descriptors. */
  fdCount(): number;
  /** Stops it with SIGTERM (SIGKILL after 10 s) and removes its directories. */
  stop(): Promise<Deno.CommandStatus>;
}

/** Options for {@linkcode spawnServer}. */
export interface SpawnOptions {
  /** Fills the data root before the server starts (for what it does at start-up). */
  prepare?: (root: string) => Promise<void>;
}

/** Starts `server/main.ts` on a free port with `flags`, in a fresh temporary directory. */
export async function spawnServer(
  flags: string[] = [],
  options: SpawnOptions = {},
): Promise<ServerProcess> {
  const set = await testCertificates();
  const base = await Deno.makeTempDir({ prefix: "ferry-proc-" });
  const root = `${base}/root`;
  const outside = `${base}/outside`;
  await Deno.mkdir(root);
  await Deno.mkdir(outside);
  await options.prepare?.(root);
  await Deno.mkdir(`${base}/certs`);
  await Deno.writeTextFile(`${base}/certs/server.pem`, set.cert);
  await Deno.writeTextFile(`${base}/certs/server.key`, set.key, { mode: 0o600 });
  await Deno.writeTextFile(`${base}/certs/token`, TOKENS.admin + "\n", { mode: 0o600 });
  await Deno.writeTextFile(
    `${base}/certs/users.json`,
    JSON.stringify([
      userRecord("alice", "write", TOKENS.write),
      userRecord("bob", "read", TOKENS.read),
    ]),
  );
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      // As in the `serve` task, so that memory is measured as shipped.
      "--v8-flags=--max-semi-space-size=2",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-ffi",
      `${REPO}server/main.ts`,
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--root",
      root,
      "--certs",
      `${base}/certs`,
      "--cert",
      `${base}/certs/server.pem`,
      "--key",
      `${base}/certs/server.key`,
      ...flags,
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let text = "";
  const drained = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) text += chunk;
  })();
  drained.catch(() => {});
  const deadline = Date.now() + 30_000;
  while (!text.includes("listening on")) {
    if (Date.now() > deadline) {
      try {
        child.kill("SIGKILL");
      } catch {
        // gone
      }
      await child.status;
      await drained;
      throw new Error(`server did not start:\n${text}`);
    }
    const status = await Promise.race([child.status, sleep(20).then(() => undefined)]);
    if (status !== undefined) {
      await drained;
      throw new Error(`server exited with ${status.code}:\n${text}`);
    }
  }
  const pid = child.pid;
  let stopped: Promise<Deno.CommandStatus> | undefined;
  return {
    pid,
    port,
    root,
    outside,
    ca: set.caCert,
    tokens: { ...TOKENS },
    output: () => text,
    statusKiB(field) {
      return statusKiB(pid, field);
    },
    cpuSeconds() {
      const stat = readProc(`/proc/${pid}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // utime and stime are fields 14 and 15 of stat(5); here, after the name, at 11 and 12.
      return (Number(fields[11]) + Number(fields[12])) / 100;
    },
    fdCount() {
      return fdCount(pid);
    },
    stop() {
      stopped ??= (async () => {
        try {
          child.kill("SIGTERM");
        } catch {
          // already gone
        }
        const timer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch {
            // gone
          }
        }, 10_000);
        const status = await child.status;
        clearTimeout(timer);
        await drained;
        await Deno.remove(base, { recursive: true });
        return status;
      })();
      return stopped;
    },
  };
}
