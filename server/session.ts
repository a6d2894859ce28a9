/**
 * The state of one client connection, shared by the service handlers.
 *
 * @module
 */

import type { Account } from "./auth.ts";
import type { Limits } from "./limits.ts";
import type { Quota } from "./quota.ts";
import type { LogFields, Logger } from "./log.ts";
import type { FrameWriter } from "../protocol/writer.ts";
import { encodeError } from "../protocol/messages.ts";
import { FerryError } from "../protocol/errors.ts";

/** What every connection of one server shares. */
export interface ServerContext {
  /** Real, absolute path of the data root. */
  readonly root: string;
  /** Accounts whose tokens are accepted. */
  readonly accounts: readonly Account[];
  /** Limits and deadlines. */
  readonly limits: Limits;
  /** Where log lines go. */
  readonly log: Logger;
  /** Server name and version, sent in WELCOME. */
  readonly agent: string;
  /** The data root's quota and usage. */
  readonly quota: Quota;
  /** True once shutdown has begun. */
  isShuttingDown(): boolean;
  /** Begins a graceful shutdown. */
  requestShutdown(by: string): void;
}

/** A request running in the background (a listing or a download), cancellable by id. */
export interface Task {
  /** Service name, for logs. */
  readonly op: string;
  /** Aborted by CANCEL or by the connection closing. */
  readonly abort: AbortController;
  /** Releases what the request holds (an upload's temporary file) when the connection ends. */
  cleanup?: () => Promise<void>;
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
  /** The authenticated account, or `null` before AUTH succeeded. */
  account: Account | null;
  /** Failed AUTH attempts so far. */
  authFailures: number;
  /** Requests in flight, by id: background tasks and uploads. */
  readonly tasks: Map<number, Task>;
  /** Ids of rejected uploads whose remaining data frames are dropped silently. */
  readonly discarding: Set<number>;
  /** Closes the connection. */
  close(): void;
  /**
   * Runs `body` in the background as request `id` (listings, downloads), so the connection keeps
   * reading; a throw is answered with an ERROR frame. The reader stops reading while
   * `maxInflightPerConnection` tasks run.
   *
   * @throws {FerryError} `DUPLICATE_REQUEST` when `id` is already in flight.
   */
  run(id: number, op: string, body: (signal: AbortSignal) => Promise<void>): void;
  /**
   * Counts `work` (which must not reject) among the connection's operations in flight: the
   * reader pauses at the limit, and the connection's end waits for it.
   */
  track(work: Promise<void>): void;
}

/** Throws `DUPLICATE_REQUEST` when request `id` is already in flight on `session`. */
export function assertNewRequest(session: Session, id: number): void {
  if (session.tasks.has(id) || session.discarding.has(id)) {
    throw new FerryError("DUPLICATE_REQUEST", `request id ${id} is already in flight`);
  }
}

/** Logs one line for an operation of `session`. */
export function logOp(session: Session, fields: LogFields): void {
  session.ctx.log({ conn: session.conn, user: session.account?.user, ...fields });
}

/** Converts anything thrown to a {@linkcode FerryError}. */
export function asFerryError(err: unknown): FerryError {
  if (err instanceof FerryError) return err;
  return new FerryError("INTERNAL", err instanceof Error ? err.message : String(err), {
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
