/**
 * The state of one client connection, shared by the service handlers, and what every
 * connection of one server shares. All of it lives on these two objects: two servers in one
 * process share nothing.
 *
 * @module
 */

import type { Account } from "./auth.ts";
import type { Limits } from "./limits.ts";
import type { Logins } from "./logins.ts";
import type { ConnectionCaps } from "./connection_caps.ts";
import type { Quota } from "./quota.ts";
import type { LogFields, Logger } from "./log.ts";
import type { ConnectionLogger, PreLoginLogGate } from "./log_gate.ts";
import type { SocketReaper } from "./socket_reaper.ts";
import type { Storage } from "./storage/storage.ts";
import type { HashAlgorithm } from "../common/hash_file.ts";
import { createUploads, type Uploads } from "./uploads.ts";
import type { FrameWriter } from "../protocol/frame_writer.ts";
import { encodeError } from "../protocol/messages/mod.ts";
import { FerryError, messageOf } from "../protocol/errors.ts";
import { createInflight } from "./inflight.ts";

/**
 * What every connection of one server shares. The quota, the logins and the connection caps
 * are small objects: a server running several isolates backs them with shared memory and its
 * coordinator (`server/workers/`), and the handlers do not know which they run on.
 */
export interface ServerContext {
  /** The files served. */
  readonly storage: Storage;
  /** Limits and deadlines. */
  readonly limits: Limits;
  /** Where log lines go. */
  readonly log: Logger;
  /** Server name and version, sent in WELCOME. */
  readonly agent: string;
  /** The data root's quota and usage. */
  readonly quota: Quota;
  /** Checks tokens, under the back-off after failed logins per client address. */
  readonly logins: Logins;
  /** Connections in all and per client address, logged in or not yet. */
  readonly connections: Pick<ConnectionCaps, "admit">;
  /** The shared log budget of connections not logged in yet. */
  readonly preLoginLog: PreLoginLogGate;
  /** Frees the sockets of TLS connections closed before their handshake or mid-write. */
  readonly reaper: SocketReaper;
  /** True once shutdown has begun. */
  isShuttingDown(): boolean;
  /** Begins a graceful shutdown. */
  requestShutdown(by: string): void;
}

/** A request running in the background (a listing, a download, a hash), cancellable by id. */
export interface Task {
  /** Service name, for logs. */
  readonly op: string;
  /** Aborted by CANCEL or by the connection closing (at once, not when its reading ends). */
  readonly abort: AbortController;
}

/** A request checked and ready to run in the background with {@linkcode Session.run}. */
export interface BackgroundWork {
  /** Its request id (it is in flight until the work ends). */
  id: number;
  /** The work; what it throws is answered with an ERROR for `id`. */
  run(signal: AbortSignal): Promise<void>;
}

/** One authenticated (or not yet) client connection. */
export interface Session {
  /** Connection number, for logs. */
  readonly conn: number;
  /** Peer address as `ip:port`. */
  readonly peer: string;
  /** Server-wide state. */
  readonly ctx: ServerContext;
  /** Outgoing frames. */
  readonly writer: FrameWriter;
  /**
   * This connection's log: its lines are rate-limited until it logs in (see
   * `server/log_gate.ts`).
   */
  readonly log: ConnectionLogger;
  /** Aborted once the connection is closed, by either side. */
  readonly closed: AbortSignal;
  /** The authenticated account, or `null` before AUTH succeeded. */
  account: Account | null;
  /** Failed AUTH attempts so far. */
  authFailures: number;
  /**
   * The checksum algorithm of the transfers this connection starts from now on: SHA-256 until
   * a HELLO chooses another (PROTOCOL.md §3.2).
   */
  checksum: HashAlgorithm;
  /** HELLO frames received so far (only the first is logged). */
  hellos: number;
  /** Background requests in flight, by id. */
  readonly tasks: Map<number, Task>;
  /** Uploads in flight, and rejected ones whose data frames are still being dropped. */
  readonly uploads: Uploads;
  /** Requests in flight: background tasks and uploads. */
  readonly inFlight: number;
  /** Closes the connection. */
  close(): void;
  /** Tells the client `error` with request id 0, then closes the connection. */
  closeWith(error: FerryError, reason: string): Promise<void>;
  /**
   * Counts the connection among the logged-in ones, before its AUTH_OK is sent; returns the
   * error to close it with when the server or its address is at the limit of those.
   */
  admitLogin(): FerryError | undefined;
  /**
   * Runs `body` in the background as request `id` (listings, downloads), so the connection keeps
   * reading; a throw is answered with an ERROR frame. The reader stops reading while
   * `maxInflightPerConnection` operations run.
   *
   * @throws {FerryError} `DUPLICATE_REQUEST` when `id` is already in flight,
   * `CONNECTION_CLOSED` when the connection is closed (the work never starts).
   */
  run(id: number, op: string, body: (signal: AbortSignal) => Promise<void>): void;
  /**
   * Counts `work` (an upload's commit, which must not reject) among the connection's
   * operations in flight: the reader pauses at the limit of commits (`server/inflight.ts`),
   * and the connection's end waits for it.
   */
  track(work: Promise<void>): void;
  /**
   * Resolves once fewer than `maxInflightPerConnection` background requests, and fewer than
   * four times as many commits, run (`server/inflight.ts`).
   */
  whenRoom(): Promise<void>;
  /**
   * Ends the session when its connection is done: aborts the background requests (closing the
   * connection does that by itself), closes the connection, waits for every operation in
   * flight, then interrupts the uploads still receiving (which keeps the resumable ones).
   */
  end(): Promise<void>;
}

/** The connection a session belongs to. */
export interface SessionConnection {
  /** Connection number, for logs. */
  readonly id: number;
  /** Peer address as `ip:port`. */
  readonly peer: string;
  /** The connection's log. */
  readonly log: ConnectionLogger;
  /** Aborted once the connection is closed. */
  readonly closed: AbortSignal;
  /** Closes the connection. */
  close(): void;
  /** Tells the client `error` (id 0), then closes. */
  closeWith(error: FerryError, reason: string): Promise<void>;
  /** Moves the connection to the logged-in pool; the error when that is full. */
  admitLogin(): FerryError | undefined;
}

/** Creates the session of a connection whose handshake is done. */
export function createSession(
  conn: SessionConnection,
  ctx: ServerContext,
  writer: FrameWriter,
): Session {
  const inflight = createInflight(() => ctx.limits.maxInflightPerConnection);
  const tasks = new Map<number, Task>();
  const closedError = () => new FerryError("CONNECTION_CLOSED", "connection closed");
  const abortAll = () => {
    for (const task of tasks.values()) task.abort.abort(closedError());
  };
  // The moment the connection closes, whoever closes it, every background request stops:
  // none waits for the read loop to notice.
  conn.closed.addEventListener("abort", abortAll, { once: true });

  const session: Session = {
    conn: conn.id,
    peer: conn.peer,
    ctx,
    writer,
    log: conn.log,
    closed: conn.closed,
    account: null,
    authFailures: 0,
    checksum: "sha256",
    hellos: 0,
    tasks,
    uploads: createUploads({
      quota: ctx.quota,
      log: (fields) => logOp(session, fields),
      sendError: (id, err) => sendError(session, id, err),
    }),
    get inFlight() {
      return tasks.size + session.uploads.size;
    },
    close: () => conn.close(),
    closeWith: (error, reason) => conn.closeWith(error, reason),
    admitLogin: () => conn.admitLogin(),
    run(id, op, body) {
      assertNewRequest(session, id);
      // Work for a connection already closed never starts.
      if (conn.closed.aborted) throw closedError();
      const abort = new AbortController();
      tasks.set(id, { op, abort });
      inflight.track(
        (async () => {
          try {
            await body(abort.signal);
          } catch (err) {
            const e = abort.signal.aborted && !(err instanceof FerryError)
              ? asFerryError(abort.signal.reason)
              : asFerryError(err);
            logOp(session, { op, id, result: e.code, error: e.message });
            await sendError(session, id, e);
          } finally {
            tasks.delete(id);
          }
        })(),
        "request",
      );
    },
    track: (work) => inflight.track(work, "commit"),
    whenRoom: () => inflight.whenRoom(() => conn.closed.aborted),
    async end() {
      abortAll();
      conn.close();
      await inflight.settled();
      await session.uploads.interruptAll();
    },
  };
  return session;
}

/** Throws `DUPLICATE_REQUEST` when request `id` is already in flight on `session`. */
export function assertNewRequest(session: Session, id: number): void {
  if (session.tasks.has(id) || session.uploads.has(id)) {
    throw new FerryError("DUPLICATE_REQUEST", `request id ${id} is already in flight`);
  }
}

/** Logs one line for an operation of `session` (rate-limited before login). */
export function logOp(session: Session, fields: LogFields): void {
  session.log({ conn: session.conn, user: session.account?.user, ...fields });
}

/** Converts anything thrown to a {@linkcode FerryError}. */
export function asFerryError(err: unknown): FerryError {
  if (err instanceof FerryError) return err;
  return new FerryError("INTERNAL", messageOf(err), {
    cause: err,
  });
}

/** Sends an ERROR frame for request `id`; ignores a connection that is already gone. */
export async function sendError(session: Session, id: number, err: unknown): Promise<void> {
  const e = asFerryError(err);
  try {
    await session.writer.send(encodeError({ id, code: e.code, message: e.message }));
  } catch {
    // The connection is closed; there is nobody to tell.
  }
}
