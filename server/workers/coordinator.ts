/**
 * A server running one isolate per core: the main isolate is the coordinator and serves no
 * connection; it measures the root's usage, creates the shared memory
 * (`server/workers/shared_state.ts`), and starts N workers (`server/workers/worker_main.ts`),
 * each running the ordinary serve loop on the same port with `SO_REUSEPORT`, so that the kernel
 * spreads the connections over them. It holds the accounts and the only login throttle, and the
 * commit lock, which workers ask for by message; an admin's CLOSE_SERVER on any worker, or
 * {@linkcode WorkersServer.shutdown}, drains every worker, and `finished` resolves once all have
 * stopped (or rejects, when one died of an uncaught error: the others are then drained too).
 *
 * @module
 */

import { type ErrorCode, FerryError } from "../../protocol/errors.ts";
import { AuthThrottle, DEFAULT_LIMITS, type Limits } from "../limits.ts";
import { createLogins } from "../logins.ts";
import { type Logger, stderrLogger } from "../log.ts";
import type { FerryServer, ServeOptions } from "../server.ts";
import { openStorage, type StorageKind } from "../storage/open.ts";
import { createKeyedLock } from "../storage/staging.ts";
import type { FromWorker, ToWorker } from "./messages.ts";
import { createSharedBuffers, type SharedBuffers } from "./shared_state.ts";

/** Most workers a server starts. */
export const MAX_WORKERS = 64;

/** Options of {@linkcode serveWorkers}: those of `serve`, and how many isolates. */
export interface WorkersOptions extends ServeOptions {
  /** Worker isolates, 2..{@linkcode MAX_WORKERS}. */
  workers: number;
}

/** A server running several isolates: a `FerryServer`, and how many workers it runs. */
export interface WorkersServer extends FerryServer {
  /** Worker isolates serving. */
  readonly workers: number;
}

/** One worker and what the coordinator holds for it. */
interface WorkerHandle {
  readonly index: number;
  readonly worker: Worker;
  /** Commit locks it holds or waits for: request id to release. */
  readonly locks: Map<number, () => void>;
  /** Resolves once it has stopped, or died. */
  readonly stopped: Promise<void>;
}

/**
 * Starts a server over `options.workers` isolates (Linux only: it needs `SO_REUSEPORT`'s load
 * balancing, and Deno's `--unstable-net`).
 *
 * @throws {FerryError} `USAGE` for a worker count out of range or a system without
 * `SO_REUSEPORT` balancing; what a worker's start throws (a port in use, a bad root...).
 */
export async function serveWorkers(options: WorkersOptions): Promise<WorkersServer> {
  const count = options.workers;
  if (!Number.isInteger(count) || count < 2 || count > MAX_WORKERS) {
    throw new FerryError("USAGE", `workers must be 1..${MAX_WORKERS}, not ${count}`);
  }
  if (Deno.build.os !== "linux") {
    throw new FerryError(
      "USAGE",
      `several workers need Linux (SO_REUSEPORT spreads connections only there); use --workers 1`,
    );
  }
  const limits: Limits = { ...DEFAULT_LIMITS, ...options.limits };
  const log: Logger = options.log ?? stderrLogger();
  const measured = await openStorage(options.root, { choice: options.storage });
  let used = 0;
  try {
    // As one isolate does: the root is walked only when there is a quota to hold.
    if (limits.quotaBytes > 0) used = await measured.storage.usage();
  } finally {
    measured.close();
  }
  const buffers = createSharedBuffers(limits, used);
  let accounts = options.accounts;
  const logins = createLogins(() => accounts, new AuthThrottle(limits));
  const commits = createKeyedLock();
  const handles: WorkerHandle[] = [];
  let shuttingDown: string | undefined;
  /** The first worker that died of an uncaught error: the server then stops, and fails. */
  let crashed: string | undefined;

  function send(handle: WorkerHandle, message: ToWorker): void {
    try {
      handle.worker.postMessage(message);
    } catch {
      // terminated
    }
  }

  function shutdown(reason = "requested"): Promise<void> {
    if (shuttingDown === undefined) {
      shuttingDown = reason;
      log({ event: "shutdown", reason, workers: handles.length });
      for (const handle of handles) send(handle, { type: "shutdown", reason });
    }
    return finished.catch(() => {});
  }

  /** Starts worker `index`; resolves with its first answer (listening or failed). */
  function start(
    index: number,
    port: number,
    listening: (m: Extract<FromWorker, { type: "listening" | "failed" }>) => void,
  ): WorkerHandle {
    const worker = new Worker(new URL("./worker_main.ts", import.meta.url).href, {
      type: "module",
      name: `ferry-worker-${index}`,
    });
    const locks = new Map<number, () => void>();
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => stop = resolve);
    const handle: WorkerHandle = { index, worker, locks, stopped };
    worker.onmessage = (event: MessageEvent<FromWorker>) => {
      const message = event.data;
      switch (message.type) {
        case "listening":
        case "failed":
          listening(message);
          if (message.type === "failed") stop();
          break;
        case "login": {
          const outcome = logins.attempt(message.address, message.token);
          void Promise.resolve(outcome).then((o) =>
            send(handle, { type: "login-result", id: message.id, outcome: o })
          );
          break;
        }
        case "lock":
          void commits.run(message.key, () =>
            new Promise<void>((release) => {
              locks.set(message.id, release);
              send(handle, { type: "locked", id: message.id });
            }));
          break;
        case "unlock":
          locks.get(message.id)?.();
          locks.delete(message.id);
          break;
        case "close-server":
          void shutdown(`requested by ${message.by}`);
          break;
        case "log":
          log({ worker: index, ...message.fields });
          break;
        case "stopped":
          stop();
          break;
      }
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      log({ worker: index, event: "worker", result: "error", error: event.message });
      crashed ??= `worker ${index}: ${event.message}`;
      listening({ type: "failed", error: event.message });
      stop();
      void shutdown(`worker ${index} failed`);
    };
    stopped.then(() => {
      // Its commit locks are given back, so other workers' commits to those names go on.
      for (const release of locks.values()) release();
      locks.clear();
    });
    const message: ToWorker = {
      type: "start",
      worker: index,
      hostname: options.hostname ?? "0.0.0.0",
      port,
      root: options.root,
      storage: options.storage ?? "auto",
      cert: options.cert,
      key: options.key,
      limits,
      buffers: buffers satisfies SharedBuffers,
      cleanup: index === 1,
    };
    worker.postMessage(message);
    handles.push(handle);
    return handle;
  }

  // The first worker binds the port (perhaps a free one, for port 0); the others join it.
  let first!: Extract<FromWorker, { type: "listening" | "failed" }>;
  const ready = (async () => {
    await new Promise<void>((resolve) => {
      start(1, options.port ?? 4433, (m) => {
        first = m;
        resolve();
      });
    });
    if (first.type === "failed") return;
    const port = first.port;
    const others = await Promise.all(
      Array.from(
        { length: count - 1 },
        (_, i) =>
          new Promise<Extract<FromWorker, { type: "listening" | "failed" }>>((resolve) => {
            start(i + 2, port, resolve);
          }),
      ),
    );
    const failed = others.find((m) => m.type === "failed");
    if (failed !== undefined) first = failed;
  })();
  const finished: Promise<void> = (async () => {
    await ready;
    await Promise.all(handles.map((h) => h.stopped));
    for (const handle of handles) handle.worker.terminate();
    log({ event: "stopped", workers: handles.length });
    // The isolates share counters that a dead one never gave back: the server stops and fails.
    if (crashed !== undefined) throw new FerryError("INTERNAL", `a worker failed: ${crashed}`);
  })();

  await ready;
  if (first.type === "failed") {
    await shutdown("start-up failed");
    finished.catch(() => {}); // the error below says it
    throw startError(first);
  }
  const hostname = options.hostname ?? "0.0.0.0";
  const kind: StorageKind = first.kind;
  log({
    event: "listening",
    address: `${hostname}:${first.port}`,
    root: first.root,
    storage: kind,
    why: first.reason,
    workers: count,
  });
  return {
    addr: { transport: "tcp", hostname, port: first.port },
    storage: { kind, reason: first.reason },
    finished,
    shutdown,
    setAccounts: (next) => void (accounts = next),
    workers: count,
  };
}

/**
 * The worker count a `--workers` value asks for: a whole number 1..{@linkcode MAX_WORKERS}, or
 * `auto` for one per core (`navigator.hardwareConcurrency`, capped; 1 where `SO_REUSEPORT`
 * does not spread connections, i.e. off Linux). Unset means 1.
 *
 * @example Usage
 * ```ts
 * import { parseWorkers } from "./coordinator.ts";
 * parseWorkers("3"); // => 3
 * parseWorkers(undefined); // => 1
 * ```
 *
 * @throws {FerryError} `USAGE` for anything else.
 */
export function parseWorkers(text: string | undefined): number {
  if (text === undefined) return 1;
  if (text === "auto") {
    if (Deno.build.os !== "linux") return 1;
    return Math.max(1, Math.min(MAX_WORKERS, navigator.hardwareConcurrency || 1));
  }
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > MAX_WORKERS) {
    throw new FerryError("USAGE", `--workers must be auto or 1..${MAX_WORKERS}, not ${text}`);
  }
  return n;
}

/**
 * The error a worker's start failed with, rebuilt in this isolate as what it was (a
 * `FerryError` with its code, or one of `Deno.errors`, such as `AddrInUse`), so that callers
 * explain it as they would for one isolate.
 */
function startError(failed: Extract<FromWorker, { type: "failed" }>): Error {
  if (failed.code !== undefined) return new FerryError(failed.code as ErrorCode, failed.error);
  const errors = Deno.errors as unknown as Record<string, ErrorConstructor | undefined>;
  const Class = failed.name === undefined ? undefined : errors[failed.name];
  return Class !== undefined
    ? new Class(failed.error)
    : new FerryError("INTERNAL", `a worker could not start: ${failed.error}`);
}
