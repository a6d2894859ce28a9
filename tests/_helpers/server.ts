/**
 * Ferry servers for tests, over real TLS on 127.0.0.1, each in a fresh temporary directory:
 *
 * - {@linkcode startServer}: `serve()` in this process, with admin, read-write and read-only
 *   tokens, its log lines kept as objects, and a client connected to it on demand;
 * - {@linkcode spawnServer}: `server/main.ts` as a child process with the `serve` task's
 *   permission flags, so its exit status, stderr, memory, CPU and file descriptors can be read;
 * - {@linkcode spawnTestServer}: the same with the test certificates and accounts.
 *
 * @module
 */

import {
  type CertificateSet,
  generateCertificates,
  writeCertificates,
} from "../../server/certificates.ts";
import { accountFor, userRecord } from "../../server/auth.ts";
import { type FerryServer, serve } from "../../server/server.ts";
import type { Limits } from "../../server/limits.ts";
import type { LogFields } from "../../server/log.ts";
import type { StorageChoice } from "../../server/storage/open.ts";
import { connect, type FerryClient } from "../../mod.ts";
import assert from "node:assert/strict";
import { randomBytes, sha256Hex } from "./bytes.ts";
import { freePort, sleep } from "./net.ts";
import { collector } from "./streams.ts";
import { cpuSeconds, fdCount, statusKiB } from "./proc.ts";
import { collect, denoRun, SERVER, SERVER_FLAGS } from "./tasks.ts";

let certs: Promise<CertificateSet> | undefined;

/** One CA and server certificate shared by all tests of a run (generation takes a moment). */
export function testCertificates(): Promise<CertificateSet> {
  certs ??= generateCertificates();
  return certs;
}

/** Tokens of the test accounts. */
export const TOKENS = {
  admin: "admin-token-for-tests",
  write: "rw-token-for-tests",
  read: "ro-token",
};

// ---------------------------------------------------------------------------------------------
// In this process

/** A running test server and what a test needs to reach it. */
export interface TestServer {
  /** The server. */
  server: FerryServer;
  /** Its port on 127.0.0.1. */
  port: number;
  /** The served data root (a temporary directory). */
  root: string;
  /** A temporary directory beside the root, for local files and canaries. */
  outside: string;
  /** The CA certificate, PEM. */
  ca: string;
  /** Every log line the server wrote. */
  logs: LogFields[];
  /** Connects a client with `token` (default: admin), through `port` (a relay) if given. */
  client(token?: string, port?: number): Promise<FerryClient>;
  /** Shuts the server down and removes the temporary directories. */
  close(): Promise<void>;
}

/** Options of {@linkcode startServer} beyond its limits. */
export interface TestServerOptions {
  /** The storage to serve with (default `auto`). */
  storage?: StorageChoice;
}

/** Starts a server on a free port with small, test-friendly limits. */
export async function startServer(
  limits: Partial<Limits> = {},
  options: TestServerOptions = {},
): Promise<TestServer> {
  const set = await testCertificates();
  const base = await Deno.makeTempDir({ prefix: "ferry-test-" });
  const root = `${base}/root`;
  const outside = `${base}/outside`;
  await Deno.mkdir(root);
  await Deno.mkdir(outside);
  const logs: LogFields[] = [];
  const server = await serve({
    hostname: "127.0.0.1",
    port: 0,
    root,
    storage: options.storage,
    cert: set.cert,
    key: set.key,
    accounts: [
      accountFor("admin", "admin", TOKENS.admin),
      accountFor("alice", "write", TOKENS.write),
      accountFor("bob", "read", TOKENS.read),
    ],
    limits: { shutdownGraceMs: 2_000, ...limits },
    log: (fields) => logs.push(fields),
  });
  const port = server.addr.port;
  return {
    server,
    port,
    root,
    outside,
    ca: set.caCert,
    logs,
    client: (token = TOKENS.admin, via = port) =>
      connect({ hostname: "localhost", port: via, token, caCerts: [set.caCert] }),
    async close() {
      await server.shutdown("test done");
      await server.finished;
      await Deno.remove(base, { recursive: true });
    },
  };
}

/** Runs `fn` against a fresh server with `limits` and always shuts it down. */
export async function withServer(
  fn: (t: TestServer) => Promise<void>,
  limits: Partial<Limits> = {},
): Promise<void> {
  const t = await startServer(limits);
  try {
    await fn(t);
  } finally {
    await t.close();
  }
}

/** Connects a client to `t` with `token`, runs `fn`, and always closes the client. */
export async function withClient(
  t: TestServer,
  token: string,
  fn: (c: FerryClient) => Promise<void>,
): Promise<void> {
  const c = await t.client(token);
  try {
    await fn(c);
  } finally {
    await closeClient(c);
  }
}

/** Closes a client and waits until its connection has ended. */
export async function closeClient(c: FerryClient): Promise<void> {
  c.close();
  await c.closed;
}

/**
 * A put and get of `size` random bytes as `name`, with a write token, verified by SHA-256 (what
 * "others are still served" means in the hardening tests).
 */
export async function roundTrip(
  port: number,
  ca: string,
  name: string,
  size = 256 * 1024,
): Promise<void> {
  const c = await connect({ hostname: "localhost", port, token: TOKENS.write, caCerts: [ca] });
  try {
    const data = randomBytes(size);
    await c.upload(data, name);
    const sink = collector();
    await c.download(name, sink.stream);
    assert.equal(sha256Hex(sink.bytes()), sha256Hex(data), `${name}: round trip`);
  } finally {
    await closeClient(c);
  }
}

// ---------------------------------------------------------------------------------------------
// As a child process

/** A ferry server running as a child process. */
export interface ServerProcess {
  /** The process. */
  child: Deno.ChildProcess;
  /** Its process id. */
  pid: number;
  /** Its port on 127.0.0.1. */
  port: number;
  /** Everything it wrote to stderr so far (its log). */
  stderr(): string;
  /** Resolves with its status once it exited and its output was read. */
  exited: Promise<Deno.CommandStatus>;
  /** Sends `signal`, unless it has exited already. */
  kill(signal: Deno.Signal): void;
  /** A field of /proc/PID/status in KiB (VmRSS, VmHWM...). */
  statusKiB(field: string): number;
  /** CPU time used so far (user + system), in seconds. */
  cpuSeconds(): number;
  /** Open file descriptors. */
  fdCount(): number;
  /**
   * Stops it with SIGTERM (SIGKILL after 10 s) unless it has exited, and removes the temporary
   * directory it was given by default. Safe to call more than once.
   */
  stop(): Promise<Deno.CommandStatus>;
}

/** Options of {@linkcode spawnServer}. */
export interface SpawnOptions {
  /**
   * Its working directory, where `./data` and `./certs` are (default: a fresh temporary
   * directory, removed by `stop()`).
   */
  cwd?: string;
  /** Its port (default: a free one). */
  port?: number;
  /**
   * Keep the `serve` task's FFI grant (default true); without it the server cannot load the C
   * library and falls back to the path-based storage.
   */
  ffi?: boolean;
}

/**
 * Starts `server/main.ts --host 127.0.0.1 --port P ...args` with the `serve` task's flags and
 * waits until it listens and has written its whole start-up banner.
 */
export async function spawnServer(
  args: string[] = [],
  options: SpawnOptions = {},
): Promise<ServerProcess> {
  const cwd = options.cwd ?? await Deno.makeTempDir({ prefix: "ferry-proc-" });
  const port = options.port ?? freePort();
  const flags = options.ffi === false
    ? SERVER_FLAGS.filter((f) => !f.startsWith("--allow-ffi"))
    : SERVER_FLAGS;
  const child = denoRun(
    SERVER,
    flags,
    ["--host", "127.0.0.1", "--port", String(port), ...args],
    { cwd },
  ).spawn();
  const out = collect(child.stdout);
  const err = collect(child.stderr);
  let running = true;
  const exited = (async () => {
    const status = await child.status;
    running = false;
    await Promise.all([out.done, err.done]);
    return status;
  })();
  const kill = (signal: Deno.Signal) => {
    if (!running) return;
    try {
      child.kill(signal);
    } catch {
      // exited meanwhile
    }
  };
  let stopped: Promise<Deno.CommandStatus> | undefined;
  const proc: ServerProcess = {
    child,
    pid: child.pid,
    port,
    stderr: err.text,
    exited,
    kill,
    statusKiB: (field) => statusKiB(child.pid, field),
    cpuSeconds: () => cpuSeconds(child.pid),
    fdCount: () => fdCount(child.pid),
    stop() {
      stopped ??= (async () => {
        kill("SIGTERM");
        const timer = setTimeout(() => kill("SIGKILL"), 10_000);
        const status = await exited;
        clearTimeout(timer);
        if (options.cwd === undefined) await Deno.remove(cwd, { recursive: true });
        return status;
      })();
      return stopped;
    },
  };
  const deadline = Date.now() + 30_000;
  // The start-up banner ends with the certificate's fingerprint, after the listening and
  // storage lines: once it is there, all of them can be read.
  const started = () =>
    /listening on 127\.0\.0\.1:\d+/.test(err.text()) &&
    /certificate SHA-256 fingerprint/.test(err.text());
  while (!started()) {
    if (!running || Date.now() > deadline) {
      kill("SIGKILL");
      await proc.stop();
      throw new Error(`the server did not start listening; stderr:\n${err.text()}`);
    }
    await sleep(20);
  }
  return proc;
}

/** A child-process server with the test certificates and accounts, from spawnTestServer. */
export interface TestServerProcess extends ServerProcess {
  /** The served root (`./data` in its working directory). */
  root: string;
  /** A directory beside the root (for canaries and local files). */
  outside: string;
  /** The CA certificate, PEM. */
  ca: string;
  /** Tokens: admin (its certs/token), write and read (from its users file). */
  tokens: typeof TOKENS;
}

/** Options of {@linkcode spawnTestServer}. */
export interface TestSpawnOptions {
  /** Fills the data root before the server starts (for what it does at start-up). */
  prepare?: (root: string) => Promise<void>;
  /** Keep the `serve` task's FFI grant (default true), as {@linkcode SpawnOptions.ffi}. */
  ffi?: boolean;
}

/**
 * Starts `server/main.ts` in a fresh temporary directory holding the test certificates, the
 * admin token and a users file with the read-write and read-only accounts, with `flags`.
 */
export async function spawnTestServer(
  flags: string[] = [],
  options: TestSpawnOptions = {},
): Promise<TestServerProcess> {
  const set = await testCertificates();
  const base = await Deno.makeTempDir({ prefix: "ferry-proc-" });
  const root = `${base}/data`;
  const outside = `${base}/outside`;
  await Deno.mkdir(root);
  await Deno.mkdir(outside);
  await options.prepare?.(root);
  await writeCertificates(`${base}/certs`, set);
  await Deno.writeTextFile(`${base}/certs/token`, TOKENS.admin + "\n", { mode: 0o600 });
  await Deno.writeTextFile(
    `${base}/certs/users.json`,
    JSON.stringify([
      userRecord("alice", "write", TOKENS.write),
      userRecord("bob", "read", TOKENS.read),
    ]),
  );
  let proc: ServerProcess;
  try {
    proc = await spawnServer(flags, { cwd: base, ffi: options.ffi });
  } catch (err) {
    await Deno.remove(base, { recursive: true });
    throw err;
  }
  let stopped: Promise<Deno.CommandStatus> | undefined;
  return {
    ...proc,
    root,
    outside,
    ca: set.caCert,
    tokens: { ...TOKENS },
    stop() {
      stopped ??= proc.stop().finally(() => Deno.remove(base, { recursive: true }));
      return stopped;
    },
  };
}
