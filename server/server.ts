/**
 * The server: accepts TLS connections on one address and serves each concurrently over one
 * data root, until it is shut down (by an admin's CLOSE_SERVER, a signal, or the API).
 *
 * @module
 */

import type { Account } from "./auth.ts";
import { handleConnection } from "./connection.ts";
import { addressKey, AuthThrottle, ConnectionCaps, DEFAULT_LIMITS, type Limits } from "./limits.ts";
import { type Logger, stderrLogger } from "./log.ts";
import type { ServerContext, Session } from "./session.ts";
import { createQuota } from "./quota.ts";
import { createLocalStorage } from "./storage/local.ts";
import { startCleanup } from "./cleanup.ts";
import { VERSION } from "../common/version.ts";

/**
 * Connections being refused (handshake, then ERROR BUSY) at once; past it, connections over a
 * limit are closed at once, without a handshake, so a flood of them holds no timers or
 * per-connection state. (Deno still waits in the background for the handshake of a TLS
 * connection closed before it; see SECURITY.md.)
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
  /** Directory served (the local storage's root); must exist. */
  root: string;
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
 * Starts a server.
 *
 * @example
 * ```ts ignore
 * const server = await serve({ root: "./data", cert, key, accounts, port: 4433 });
 * await server.finished;
 * ```
 */
export async function serve(options: ServeOptions): Promise<FerryServer> {
  const limits: Limits = { ...DEFAULT_LIMITS, ...options.limits };
  const log = options.log ?? stderrLogger();
  const storage = await createLocalStorage(options.root);
  const listener = Deno.listenTls({
    hostname: options.hostname ?? "0.0.0.0",
    port: options.port ?? 4433,
    cert: options.cert,
    key: options.key,
  });
  const addr = listener.addr as Deno.NetAddr;
  const sessions = new Set<Session>();
  const sockets = new Set<Deno.TlsConn>();
  const connections = new Set<Promise<void>>();
  let shuttingDown: Promise<void> | null = null;
  let connCount = 0;
  let accounts = options.accounts;

  const quota = createQuota(limits.quotaBytes, limits.quotaBytes > 0 ? await storage.usage() : 0);
  const ctx: ServerContext = {
    storage,
    quota,
    authThrottle: new AuthThrottle(limits),
    connections: new ConnectionCaps(limits, MAX_REFUSING),
    get accounts() {
      return accounts;
    },
    limits,
    log,
    agent: SERVER_AGENT,
    isShuttingDown: () => shuttingDown !== null,
    requestShutdown: (by) => void shutdown(`requested by ${by}`),
  };

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
      const n = ++connCount;
      const remote = conn.remoteAddr as Deno.NetAddr;
      const address = addressKey(remote.hostname);
      const admission = ctx.connections.admit(address);
      if (admission === undefined) {
        log({ conn: n, peer: address, event: "refused", result: "BUSY", handshake: false });
        try {
          conn.close();
        } catch {
          // already closed
        }
        continue;
      }
      const done = handleConnection(conn, ctx, {
        conn: n,
        refuse: admission.refuse,
        onSession: (s) => sessions.add(s),
      });
      connections.add(done);
      sockets.add(conn);
      done.finally(() => {
        connections.delete(done);
        sockets.delete(conn);
        for (const s of sessions) if (s.conn === n) sessions.delete(s);
        admission.end();
      });
    }
  }

  const accepting = acceptLoop();
  // Stale temporary files: once now, in the background, then every cleanupIntervalMs.
  const cleanup = startCleanup(storage, limits, log);

  async function drain(reason: string): Promise<void> {
    log({ event: "shutdown", reason, connections: connections.size });
    const cleaned = cleanup.stop();
    try {
      listener.close();
    } catch {
      // already closed
    }
    await accepting;
    const deadline = Date.now() + limits.shutdownGraceMs;
    while (connections.size > 0 && Date.now() < deadline) {
      for (const s of sessions) if (s.inFlight === 0) s.close();
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const s of sessions) s.close();
    for (const socket of sockets) {
      try {
        socket.close();
      } catch {
        // closed by its session meanwhile
      }
    }
    await Promise.allSettled([...connections]);
    await cleaned;
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

  log({ event: "listening", address: `${addr.hostname}:${addr.port}`, root: storage.root });
  return {
    addr,
    finished,
    shutdown,
    setAccounts: (next) => void (accounts = next),
  };
}
