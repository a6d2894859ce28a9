/**
 * The server: accepts TLS connections on one address and serves each concurrently over one
 * data root, until it is shut down (by an admin's CLOSE_SERVER, a signal, or the API).
 *
 * @module
 */

import { FerryError } from "../protocol/errors.ts";
import type { Account } from "./auth.ts";
import { handleConnection } from "./connection.ts";
import { addressKey, DEFAULT_LIMITS, type Limits } from "./limits.ts";
import { type Logger, stderrLogger } from "./log.ts";
import type { ServerContext, Session } from "./session.ts";
import { createQuota } from "./quota.ts";
import { cleanTemporaryFiles } from "./cleanup.ts";

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
export const SERVER_AGENT = "ferry-server/0.1.0";

/** Options for {@linkcode serve}. */
export interface ServeOptions {
  /** Address to listen on (default `0.0.0.0`). */
  hostname?: string;
  /** Port to listen on (default 4433; 0 picks a free one). */
  port?: number;
  /** Directory served; must exist. */
  root: string;
  /** Server certificate chain, PEM. */
  cert: string;
  /** Server private key, PEM (PKCS#8). */
  key: string;
  /** Accounts whose tokens are accepted. */
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
  const root = await Deno.realPath(options.root);
  if (!(await Deno.stat(root)).isDirectory) {
    throw new FerryError("USAGE", `data root ${options.root} is not a directory`);
  }
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
  /** Connections admitted (not being refused), in all and per client address. */
  let admitted = 0;
  const perAddress = new Map<string, number>();
  let refusing = 0;

  const quota = await createQuota(root, limits.quotaBytes);
  const ctx: ServerContext = {
    root,
    quota,
    accounts: options.accounts,
    limits,
    log,
    agent: SERVER_AGENT,
    isShuttingDown: () => shuttingDown !== null,
    requestShutdown: (by) => void shutdown(`requested by ${by}`),
  };

  /** Why `address` may not open another connection now, or `undefined` when it may. */
  function overLimit(address: string): FerryError | undefined {
    if (admitted >= limits.maxConnections) {
      return new FerryError(
        "BUSY",
        `the server is at its limit of ${limits.maxConnections} connections`,
      );
    }
    if ((perAddress.get(address) ?? 0) >= limits.maxConnectionsPerIp) {
      return new FerryError(
        "BUSY",
        `your address is at its limit of ${limits.maxConnectionsPerIp} connections`,
      );
    }
    return undefined;
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
      const n = ++connCount;
      const remote = conn.remoteAddr as Deno.NetAddr;
      const address = addressKey(remote.hostname);
      const refuse = overLimit(address);
      if (refuse !== undefined && refusing >= MAX_REFUSING) {
        log({ conn: n, peer: address, event: "refused", result: "BUSY", handshake: false });
        try {
          conn.close();
        } catch {
          // already closed
        }
        continue;
      }
      if (refuse === undefined) {
        admitted++;
        perAddress.set(address, (perAddress.get(address) ?? 0) + 1);
      } else {
        refusing++;
      }
      const done = handleConnection(conn, ctx, {
        conn: n,
        refuse,
        onSession: (s) => sessions.add(s),
      });
      connections.add(done);
      sockets.add(conn);
      done.finally(() => {
        connections.delete(done);
        sockets.delete(conn);
        for (const s of sessions) if (s.conn === n) sessions.delete(s);
        if (refuse === undefined) {
          admitted--;
          const left = (perAddress.get(address) ?? 1) - 1;
          if (left > 0) perAddress.set(address, left);
          else perAddress.delete(address);
        } else {
          refusing--;
        }
      });
    }
  }

  const accepting = acceptLoop();

  // Stale temporary files: once now, in the background, then every cleanupIntervalMs.
  const cleanupAbort = new AbortController();
  let cleaning: Promise<void> = Promise.resolve();
  const cleanup = () => {
    cleaning = cleaning.then(async () => {
      try {
        const { removed } = await cleanTemporaryFiles(root, {
          partialTtlMs: limits.partialTtlMs,
          signal: cleanupAbort.signal,
        });
        if (removed.length > 0) log({ event: "cleanup", removed: removed.length });
      } catch (err) {
        if (!cleanupAbort.signal.aborted) {
          log({ event: "cleanup", result: "error", error: String(err) });
        }
      }
    });
  };
  cleanup();
  const cleanupTimer = setInterval(cleanup, limits.cleanupIntervalMs);

  async function drain(reason: string): Promise<void> {
    log({ event: "shutdown", reason, connections: connections.size });
    clearInterval(cleanupTimer);
    cleanupAbort.abort();
    try {
      listener.close();
    } catch {
      // already closed
    }
    await accepting;
    const deadline = Date.now() + limits.shutdownGraceMs;
    while (connections.size > 0 && Date.now() < deadline) {
      for (const s of sessions) if (s.tasks.size === 0) s.close();
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
    await cleaning;
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

  log({ event: "listening", address: `${addr.hostname}:${addr.port}`, root });
  return { addr, finished, shutdown };
}
