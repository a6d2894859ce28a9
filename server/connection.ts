/**
 * One client connection: the TLS handshake under a deadline, then a loop that reads frames and
 * hands each to the handler of its service (`server/handlers/mod.ts` says which run inline and
 * which in the background), while a watchdog (`server/watchdog.ts`) keeps the deadlines. A
 * connection can have several operations in flight; past a limit the loop stops reading, which
 * pushes back on the client through TCP.
 *
 * Closing a connection, for whatever reason, aborts its background requests at once (none
 * that is still queued starts), and hands its socket to the reaper (`server/socket_reaper.ts`):
 * at once when the handshake never finished or writes are stuck, a moment later otherwise, so
 * the descriptor is freed even when the peer neither speaks nor reads.
 *
 * @module
 */

import { readFrameBatches } from "../protocol/frame_reader.ts";
import { createFrameWriter, type FrameWriter } from "../protocol/frame_writer.ts";
import { encodeError, ID_SIZE, peekRequestId } from "../protocol/messages/mod.ts";
import { MAX_VERSION, MIN_VERSION, serviceName, SERVICES } from "../protocol/services.ts";
import { type ErrorCode, FerryError, isRefusal, messageOf } from "../protocol/errors.ts";
import type { Frame } from "../protocol/frame.ts";
import { FloodBudget } from "./limits.ts";
import type { Admission } from "./connection_caps.ts";
import { type ConnectionLogger, connectionLogger } from "./log_gate.ts";
import type { SocketReaper } from "./socket_reaper.ts";
import {
  asFerryError,
  assertNewRequest,
  createSession,
  logOp,
  sendError,
  type ServerContext,
  type Session,
} from "./session.ts";
import { type Activity, startWatchdog, watchedSink } from "./watchdog.ts";
import { HANDLERS } from "./handlers/mod.ts";
import {
  dropRefusedUploadFrame,
  failUploadOfFrame,
  refusedUploadOpening,
} from "./handlers/upload.ts";

/**
 * What one frame costs from the connection's flood budget: 1 for a frame refused with a
 * protocol error, a CANCEL (cf. HTTP/2 Rapid Reset), a HELLO after the first, a data frame
 * without data or any empty frame (cf. HTTP/2 empty-frame floods); 0 for everything else.
 */
export function floodCost(frame: Frame, refusal: ErrorCode | undefined, hellos: number): number {
  if (refusal !== undefined && isRefusal(refusal)) return 1;
  if (frame.payload.length === 0) return 1;
  const name = serviceName(frame.type, frame.num);
  if (name === "CANCEL") return 1;
  if (name === "HELLO" && hellos > 1) return 1;
  if (name === "UPLOAD_DATA" && frame.payload.length <= ID_SIZE) return 1;
  return 0;
}

/**
 * Services whose frames belong to a request already in flight (data, EOF, CANCEL): every
 * other frame opens a request, and is refused `DUPLICATE_REQUEST` under an id in flight.
 */
const PART_OF_A_REQUEST = new Set(["UPLOAD_DATA", "EOF", "CANCEL"]);

/**
 * Handles one frame: checks version, service, authentication and that a new request's id is
 * not in flight, then runs its handler. Returns the code of the error it answered, if any.
 */
export async function dispatch(session: Session, frame: Frame): Promise<ErrorCode | undefined> {
  const id = peekRequestId(frame.payload) ?? 0;
  const name = serviceName(frame.type, frame.num);
  if (dropRefusedUploadFrame(session, name, frame.payload)) return undefined;
  try {
    if (frame.version < MIN_VERSION || frame.version > MAX_VERSION) {
      throw new FerryError(
        "UNSUPPORTED_VERSION",
        `protocol version ${frame.version} is not supported; this server speaks ${MIN_VERSION}..${MAX_VERSION}`,
      );
    }
    const service = name === undefined ? undefined : HANDLERS[name];
    if (name === undefined || service === undefined) {
      throw new FerryError(
        "UNSUPPORTED",
        `service (${frame.type},${frame.num})${
          name ? ` ${name}` : ""
        } is not one a client may send`,
      );
    }
    if (session.account === null && !service.beforeAuth) {
      throw new FerryError("UNAUTHENTICATED", `authenticate before ${name}`);
    }
    if (!PART_OF_A_REQUEST.has(name)) assertNewRequest(session, id);
    await service.handle(session, frame.payload);
    return undefined;
  } catch (err) {
    const e = asFerryError(err);
    logOp(session, {
      op: name ?? `${frame.type},${frame.num}`,
      id,
      result: e.code,
      error: e.message,
    });
    await refusedUploadOpening(session, name, frame.payload);
    if (await failUploadOfFrame(session, name, peekRequestId(frame.payload), e)) return e.code;
    await sendError(session, id, e);
    return e.code;
  }
}

function peerOf(conn: Deno.Conn): string {
  const addr = conn.remoteAddr as Deno.NetAddr;
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}

/** Options for {@linkcode serveConnection}. */
export interface ConnectionOptions {
  /** Connection number, for logs. */
  conn: number;
  /**
   * Its place among the server's connections: says whether it is refused (told this error and
   * disconnected right after the handshake), and is told when the handshake is done and when
   * the client logs in.
   */
  admission: Admission;
}

/** A connection being served, as the server sees it. */
export interface ConnectionHandle {
  /** Connection number. */
  readonly id: number;
  /** Resolves once the connection is closed and its work has ended; never rejects. */
  readonly finished: Promise<void>;
  /** The session, once the handshake is done. */
  readonly session: Session | undefined;
  /** Closes at once, without a word (the socket is reaped at once). */
  close(reason: string): void;
  /**
   * Tells the client `error` (id 0), waiting at most {@linkcode PARTING_WRITE_MS}, then
   * closes; before the handshake is done, closes at once.
   */
  closeWith(error: FerryError, reason: string): Promise<void>;
}

/** Longest wait for a parting ERROR frame (TIMEOUT, BUSY) to be written before closing. */
const PARTING_WRITE_MS = 1_000;

/**
 * After a graceful close, how long the socket gets to flush before it is reaped, in ms: a
 * peer that stopped reading would otherwise hold it open.
 */
export const CLOSE_LINGER_MS = 2_000;

/** How a close treats the socket: reaped at once, after {@linkcode CLOSE_LINGER_MS}, or not. */
type Reap = "now" | "later" | "no";

/** Closes a connection once, remembering the first reason given for the disconnect log. */
interface Closer {
  /** True once closed. */
  readonly closed: boolean;
  /** Aborted when closed. */
  readonly signal: AbortSignal;
  /** Why the server closed the connection, if it did and said why. */
  readonly reason: string | undefined;
  /** Marks the TLS handshake done: only then may a close let the socket linger. */
  handshaken(): void;
  /** Closes now. */
  close(reason?: string, reap?: Reap): void;
  /** Sends a parting ERROR (id 0), waiting at most {@linkcode PARTING_WRITE_MS}, then closes. */
  closeWith(writer: FrameWriter, error: FerryError, reason: string): Promise<void>;
}

function createCloser(conn: Deno.Conn, reaper: SocketReaper): Closer {
  let closed = false;
  let handshaken = false;
  let reason: string | undefined;
  const aborter = new AbortController();
  const close = (why?: string, reap: Reap = "later") => {
    if (closed) return;
    reason ??= why;
    closed = true;
    try {
      conn.close();
    } catch {
      // already closed
    }
    if (reap === "now" || (reap === "later" && !handshaken)) reaper.reap(conn);
    else if (reap === "later") reaper.reap(conn, CLOSE_LINGER_MS);
    aborter.abort(new FerryError("CONNECTION_CLOSED", why ?? "connection closed"));
  };
  return {
    get closed() {
      return closed;
    },
    signal: aborter.signal,
    get reason() {
      return reason;
    },
    handshaken() {
      handshaken = true;
    },
    close,
    closeWith(writer, error, why) {
      if (closed) return Promise.resolve();
      reason ??= why;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const gone = new Promise<void>((r) => timer = setTimeout(r, PARTING_WRITE_MS));
      const sent = writer.send(encodeError({ id: 0, code: error.code, message: error.message }))
        .catch(() => {});
      return Promise.race([sent, gone]).finally(() => {
        clearTimeout(timer);
        close();
      });
    },
  };
}

/** Runs the TLS handshake under its deadline; false when the connection is gone. */
async function handshake(
  conn: Deno.TlsConn,
  ctx: ServerContext,
  id: number,
  peer: string,
  closer: Closer,
  log: ConnectionLogger,
): Promise<boolean> {
  const timer = setTimeout(() => {
    log({ conn: id, peer, event: "handshake", result: "TIMEOUT" });
    closer.close("handshake deadline passed", "now");
  }, ctx.limits.handshakeTimeoutMs);
  try {
    await conn.handshake();
  } catch (err) {
    if (!closer.closed) {
      log({ conn: id, peer, event: "handshake", result: "TLS", error: String(err) });
    }
    closer.close("TLS handshake failed", "now");
    return false;
  } finally {
    clearTimeout(timer);
  }
  return !closer.closed;
}

/** Starts serving one accepted TLS connection until it closes. */
export function serveConnection(
  conn: Deno.TlsConn,
  ctx: ServerContext,
  options: ConnectionOptions,
): ConnectionHandle {
  const closer = createCloser(conn, ctx.reaper);
  let session: Session | undefined;
  let writer: FrameWriter | undefined;
  const log = connectionLogger(ctx.log, ctx.preLoginLog, () => session?.account != null);
  const finished = run(conn, ctx, options, closer, log, (s, w) => {
    session = s;
    writer = w;
  }).catch((err) => {
    // Never expected; logged so that it is seen, and the connection is closed.
    ctx.log({ conn: options.conn, event: "internal", error: messageOf(err) });
    closer.close("internal error", "now");
  });
  return {
    id: options.conn,
    finished,
    get session() {
      return session;
    },
    close: (reason) => closer.close(reason, "now"),
    closeWith(error, reason) {
      if (writer === undefined) {
        closer.close(reason, "now");
        return Promise.resolve();
      }
      return closer.closeWith(writer, error, reason);
    },
  };
}

/** The life of one connection, after its admission. */
async function run(
  conn: Deno.TlsConn,
  ctx: ServerContext,
  options: ConnectionOptions,
  closer: Closer,
  log: ConnectionLogger,
  started: (session: Session, writer: FrameWriter) => void,
): Promise<void> {
  const peer = peerOf(conn);
  const since = performance.now();
  if (!(await handshake(conn, ctx, options.conn, peer, closer, log))) return;
  closer.handshaken();
  options.admission.handshaken();

  // Every write goes through this sink, which notes when writes last made progress: a peer
  // that stops reading stalls them, and the watchdog's stall timeout then closes it. A write
  // that fails means the connection is gone: it is closed at once, which stops its work.
  const { sink, activity } = watchedSink(conn, (err) => closer.close(writeFailure(err), "no"));
  const writer = createFrameWriter(sink);
  const session = createSession(
    {
      id: options.conn,
      peer,
      log,
      closed: closer.signal,
      close: () => closer.close(),
      closeWith: (error, reason) => closer.closeWith(writer, error, reason),
      admitLogin: () => options.admission.login(),
    },
    ctx,
    writer,
  );
  started(session, writer);
  log({ conn: options.conn, peer, event: "connect" });
  const refuse = options.admission.refuse;
  if (refuse !== undefined) {
    log({ conn: options.conn, peer, event: "refused", result: refuse.code, error: refuse.message });
    await closer.closeWith(writer, refuse, "refused");
    return;
  }

  const stopWatchdog = startWatchdog(
    {
      conn: options.conn,
      peer,
      activity,
      isClosed: () => closer.closed,
      isAuthenticated: () => session.account !== null,
      hasBackgroundWork: () => session.tasks.size > 0,
      close: (reason) => closer.close(reason, "now"),
      closeWith: (error, reason) => closer.closeWith(writer, error, reason),
    },
    ctx.limits,
    log,
  );
  const ended = await readLoop(conn, session, activity, closer);
  stopWatchdog();
  await session.end();
  log({
    conn: options.conn,
    peer,
    user: session.account?.user,
    event: "disconnect",
    reason: closer.reason ?? ended,
    hellos: session.hellos > 1 ? session.hellos : undefined,
    suppressed: log.suppressed > 0 ? log.suppressed : undefined,
    ms: Math.round(performance.now() - since),
  });
}

/**
 * The disconnect reason of a write that failed: the client's leaving (a reset or broken pipe,
 * as when it closed without reading what was sent) is `closed by client`, as on the reading
 * side; anything else is a lost connection.
 */
function writeFailure(err: unknown): string {
  return /close_notify|UnexpectedEof|Connection reset|Broken pipe|os error (32|104)/i.test(
      String(err),
    )
    ? `closed by client (a write failed: ${messageOf(err)})`
    : `connection lost: ${messageOf(err)}`;
}

/**
 * Reads frames and dispatches each until the connection ends; spends the flood budget and
 * pauses while too many operations run. Returns why the connection ended; never throws.
 */
async function readLoop(
  conn: Deno.TlsConn,
  session: Session,
  activity: Activity,
  closer: Closer,
): Promise<string> {
  const { limits } = session.ctx;
  const flood = new FloodBudget(limits.floodBudget, limits.floodRefillPerSecond);
  let frames = 0;
  try {
    // Transient payloads (valid until the next batch): each frame's handler is awaited before
    // the next is read, and what outlives it is decoded or copied (a staged upload copies its
    // data), so nothing is allocated per data frame.
    for await (const batch of readFrameBatches(conn, { transient: true })) {
      for (const frame of batch) {
        if (closer.closed) break;
        if (
          (frame.version < MIN_VERSION || frame.version > MAX_VERSION) &&
          serviceName(frame.type, frame.num) === undefined
        ) {
          // Neither the version nor the service is known: this is not a frame but garbage, e.g.
          // the bytes after a Data_Len that lied. The stream cannot be trusted any more.
          throw new FerryError(
            "BAD_FRAME",
            `unparseable frame (type ${frame.type}, num ${frame.num}, version ${frame.version}); closing`,
          );
        }
        activity.lastActivity = Date.now();
        frames++;
        if (frame.type === SERVICES.HELLO.type && frame.num === SERVICES.HELLO.num) {
          session.hellos++;
        }
        activity.dispatching = true;
        let refusal: ErrorCode | undefined;
        try {
          refusal = await dispatch(session, frame);
        } finally {
          activity.dispatching = false;
        }
        if (!flood.spend(floodCost(frame, refusal, session.hellos))) {
          session.log({
            conn: session.conn,
            peer: session.peer,
            event: "flood",
            result: "BUSY",
            frames,
          });
          await closer.closeWith(
            session.writer,
            new FerryError(
              "BUSY",
              `too many refused, empty or cancelled frames (more than ${limits.floodBudget} at once); closing`,
            ),
            "flood of useless frames",
          );
          break;
        }
        await session.whenRoom();
        if (closer.closed) break;
      }
      // Answers deferred while this batch was handled go out together.
      session.writer.flush();
      if (closer.closed) break;
    }
    return closer.closed ? "closed by server" : "closed by client";
  } catch (err) {
    if (err instanceof FerryError) {
      await closer.closeWith(session.writer, err, err.message);
      return err.message;
    }
    if (closer.closed) return "closed by server";
    if (/close_notify|UnexpectedEof|Connection reset/i.test(String(err))) return "closed by client";
    return messageOf(err);
  }
}
