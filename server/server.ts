/**
 * The server: accepts TLS connections on one address and serves each concurrently over one
 * data root, until it is shut down (by an admin's CLOSE_SERVER, a signal, or the API).
 *
 * @module
 */

import type { Account } from "./auth.ts";
import { type ConnectionHandle, serveConnection } from "./connection.ts";
import { addressKey, AuthThrottle, DEFAULT_LIMITS, type Limits } from "./limits.ts";
import { ConnectionCaps, EVICTED } from "./connection_caps.ts";
import { type Logger, stderrLogger } from "./log.ts";
import { PreLoginLogGate } from "./log_gate.ts";
import { createSocketReaper } from "./socket_reaper.ts";
import type { ServerContext } from "./session.ts";
import { FerryError } from "../protocol/errors.ts";
import { createQuota, type Quota } from "./quota.ts";
import { createLogins, type Logins } from "./logins.ts";
import type { StagingShared } from "./storage/staging.ts";
import {
  type OpenedStorage,
  openStorage,
  type StorageChoice,
  type StorageKind,
} from "./storage/open.ts";
import type { Storage } from "./storage/storage.ts";
import { startCleanup } from "./cleanup.ts";
import { VERSION } from "../common/version.ts";

/**
 * Connections being refused (handshake, then ERROR BUSY) at once; past it, connections over a
 * limit are closed at once, without a handshake, so a flood of them holds no timers or
 * per-connection state (their sockets are shut down by the reaper, `socket_reaper.ts`).
 */
export const MAX_REFUSING = 64;

/** Pause after a failed accept (EMFILE...), so the accept loop does not spin. */
const ACCEPT_ERROR_PAUSE_MS = 100;

/** Version string sent to clients in WELCOME. */
export const SERVER_AGENT: string = `ferry-server/${VERSION}`;

/** Options for {@linkcode serve}. */
export interface ServeOptions {
  /** Address to listen on (default `0.0.0.0`). */
  hostname?: string;
  /** Port to listen on (default 4433; 0 picks a free one). */
  port?: number;
  /** Directory served (the storage's root); must exist. */
  root: string;
  /**
   * Which storage serves it (default `auto`: the race-free one where it can run, else the
   * path-based one; see `server/storage/open.ts`).
   */
  storage?: StorageChoice;
  /**
   * A storage opened by the caller, served instead of the directory `root` and `storage`: an
   * S3 bucket (`server/storage/s3/settings.ts`); `location` names it in the log.
   */
  backend?: { storage: Storage; kind: "s3"; location: string };
  /** Server certificate chain, PEM. */
  cert: string;
  /** Server private key, PEM (PKCS#8). */
  key: string;
  /** Accounts whose tokens are accepted (replaced later with {@linkcode FerryServer.setAccounts}). */
  accounts: readonly Account[];
  /** Limits and deadlines; unset fields take {@linkcode DEFAULT_LIMITS}. */
  limits?: Partial<Limits>;
  /** Where log lines go (default: standard error). */
  log?: Logger;
}

/** A running server. */
export interface FerryServer {
  /** The address actually bound. */
  readonly addr: Deno.NetAddr;
  /** The storage serving the root, and why it was chosen. */
  readonly storage: { readonly kind: StorageKind | "s3"; readonly reason: string };
  /** Resolves once the server has stopped and every connection is closed. */
  readonly finished: Promise<void>;
  /**
   * Stops accepting, lets operations in flight finish within the grace period, then closes
   * every connection. Resolves when done; safe to call more than once.
   */
  shutdown(reason?: string): Promise<void>;
  /**
   * Replaces the accounts whose tokens are accepted, for logins from now on; sessions already
   * logged in keep theirs.
   */
  setAccounts(accounts: readonly Account[]): void;
}

/**
 * What one isolate of a server running several shares with the others (`server/workers/`):
 * it replaces the isolate's own quota, caps, logins and upload state, and its shutdown.
 */
export interface IsolateSharing {
  /** The quota of the root, over every isolate. */
  readonly quota: Quota;
  /** The connection caps, over every isolate. */
  readonly connections: Pick<ConnectionCaps, "admit">;
  /** The next connection number, unique across isolates. */
  nextConnection(): number;
  /** The logins (checked by the coordinator). */
  readonly logins: Logins;
  /** The temporaries being written and the commit lock, over every isolate. */
  readonly staging: StagingShared;
  /** True for the one isolate that runs the cleanup of stale temporaries. */
  readonly cleanup: boolean;
  /** Asks every isolate to shut down (an admin's CLOSE_SERVER). */
  requestShutdown(by: string): void;
}

/**
 * Starts a server.
 *
 * @example
 * ```ts ignore
 * const server = await serve({ root: "./data", cert, key, accounts, port: 4433 });
 * await server.finished;
 * ```
 */
export function serve(options: ServeOptions): Promise<FerryServer> {
  return serveIsolate(options, undefined);
}

/**
 * Starts a server in this isolate; with `sharing`, as one of several isolates listening on one
 * port (`SO_REUSEPORT`), whose state is `sharing`'s.
 */
export async function serveIsolate(
  options: ServeOptions,
  sharing: IsolateSharing | undefined,
): Promise<FerryServer> {
  const limits: Limits = { ...DEFAULT_LIMITS, ...options.limits };
  const log = options.log ?? stderrLogger();
  const opened = options.backend === undefined
    ? await openStorage(options.root, { choice: options.storage, shared: sharing?.staging })
    : openedBackend(options.backend);
  const { storage } = opened;
  let listener: Deno.TlsListener;
  try {
    listener = Deno.listenTls({
      hostname: options.hostname ?? "0.0.0.0",
      port: options.port ?? 4433,
      cert: options.cert,
      key: options.key,
      ...(sharing === undefined ? {} : { reusePort: true }),
    });
  } catch (err) {
    opened.close();
    throw err;
  }
  const addr = listener.addr as Deno.NetAddr;
  const handles = new Map<number, ConnectionHandle>();
  let shuttingDown: Promise<void> | null = null;
  let connCount = 0;
  let accounts = options.accounts;

  const reaper = createSocketReaper();
  const preLoginLog = new PreLoginLogGate(log, limits);
  const quota = sharing?.quota ??
    createQuota(limits.quotaBytes, limits.quotaBytes > 0 ? await storage.usage() : 0);
  const ctx: ServerContext = {
    storage,
    quota,
    logins: sharing?.logins ?? createLogins(() => accounts, new AuthThrottle(limits)),
    connections: sharing?.connections ?? new ConnectionCaps(limits, MAX_REFUSING),
    preLoginLog,
    reaper,
    limits,
    log,
    agent: SERVER_AGENT,
    isShuttingDown: () => shuttingDown !== null,
    requestShutdown: sharing === undefined
      ? (by) => void shutdown(`requested by ${by}`)
      : (by) => sharing.requestShutdown(by),
  };

  /** Closes a connection that gets no handshake at all. */
  function drop(conn: Deno.TlsConn): void {
    try {
      conn.close();
    } catch {
      // already closed
    }
    reaper.reap(conn);
  }

  async function acceptLoop(): Promise<void> {
    while (true) {
      let conn: Deno.TlsConn;
      try {
        conn = await listener.accept();
      } catch (err) {
        if (shuttingDown !== null || err instanceof Deno.errors.BadResource) return;
        log({ event: "accept", result: "error", error: String(err) });
        // Out of file descriptors (EMFILE) and the like: pause instead of spinning.
        await new Promise((r) => setTimeout(r, ACCEPT_ERROR_PAUSE_MS));
        continue;
      }
      const n = sharing === undefined ? ++connCount : sharing.nextConnection();
      const remote = conn.remoteAddr as Deno.NetAddr;
      const address = addressKey(remote.hostname);
      // The eviction callback runs only on a later accept, once the handle exists.
      const evictable: { handle?: ConnectionHandle } = {};
      const admission = ctx.connections.admit(address, () => {
        if (preLoginLog.admit()) log({ conn: n, peer: address, event: "evicted", result: "BUSY" });
        evictable.handle?.close(EVICTED);
      });
      if (admission === undefined) {
        if (preLoginLog.admit()) {
          log({ conn: n, peer: address, event: "refused", result: "BUSY", handshake: false });
        }
        drop(conn);
        continue;
      }
      const handle = serveConnection(conn, ctx, { conn: n, admission });
      evictable.handle = handle;
      handles.set(n, handle);
      handle.finished.finally(() => {
        handles.delete(n);
        admission.end();
      });
    }
  }

  const accepting = acceptLoop();
  // Stale temporary files: once now, in the background, then every cleanupIntervalMs.
  const cleanup = sharing === undefined || sharing.cleanup
    ? startCleanup(storage, limits, log)
    : { stop: () => Promise.resolve() };

  async function drain(reason: string): Promise<void> {
    log({ event: "shutdown", reason, connections: handles.size });
    const cleaned = cleanup.stop();
    try {
      listener.close();
    } catch {
      // already closed
    }
    await accepting;
    // Every connection is told SHUTTING_DOWN (id 0) before it is closed: idle ones at once,
    // the others once their work is done or the grace period is over.
    const stopping = new FerryError(
      "SHUTTING_DOWN",
      "the server is shutting down and accepts no new operations",
    );
    const parting = new Map<number, Promise<void>>();
    const tell = (h: ConnectionHandle) => {
      if (!parting.has(h.id)) parting.set(h.id, h.closeWith(stopping, "server shutting down"));
    };
    const deadline = Date.now() + limits.shutdownGraceMs;
    while (handles.size > 0 && Date.now() < deadline) {
      for (const h of handles.values()) {
        if (h.session === undefined) h.close("server shutting down");
        else if (h.session.inFlight === 0) tell(h);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const h of handles.values()) tell(h);
    await Promise.allSettled(parting.values());
    for (const h of handles.values()) h.close("server shutting down");
    await Promise.allSettled([...handles.values()].map((h) => h.finished));
    await cleaned;
    preLoginLog.report();
    reaper.stop();
    opened.close();
    log({ event: "stopped" });
  }

  function shutdown(reason = "requested"): Promise<void> {
    shuttingDown ??= drain(reason);
    return shuttingDown;
  }

  const finished = (async () => {
    await accepting;
    await shuttingDown;
  })();

  if (!reaper.active) {
    log({ event: "reaper", result: "inactive", reason: reaper.reason });
  }
  log({
    event: "listening",
    address: `${addr.hostname}:${addr.port}`,
    root: opened.root,
    storage: opened.kind,
    why: opened.reason,
  });
  return {
    addr,
    storage: { kind: opened.kind, reason: opened.reason },
    finished,
    shutdown,
    setAccounts: (next) => void (accounts = next),
  };
}

/** A storage the caller opened, as `serve` uses it: named by its location, nothing to close. */
function openedBackend(
  backend: { storage: Storage; kind: "s3"; location: string },
): Omit<OpenedStorage, "kind"> & { kind: "s3" } {
  const { storage, kind, location } = backend;
  return { storage, kind, reason: location, root: location, close() {} };
}
