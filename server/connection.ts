/**
 * One client connection: the TLS handshake under a deadline, then a loop that reads frames and
 * hands each to the handler of its service (`server/handlers/mod.ts` says which run inline and
 * which in the background), while a watchdog (`server/watchdog.ts`) keeps the deadlines. A
 * connection can have several operations in flight; past a limit the loop stops reading, which
 * pushes back on the client through TCP.
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
import {
  asFerryError,
  createSession,
  logOp,
  sendError,
  type ServerContext,
  type Session,
} from "./session.ts";
import { type Activity, startWatchdog, watchedSink } from "./watchdog.ts";
import { HANDLERS } from "./handlers/mod.ts";
import { dropRefusedUploadFrame, refusedUploadOpening } from "./handlers/upload.ts";

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
 * Handles one frame: checks version, service and authentication, then runs its handler.
 * Returns the code of the error it answered, if any.
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
    refusedUploadOpening(session, name, frame.payload);
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

/** Options for {@linkcode handleConnection}. */
export interface ConnectionOptions {
  /** Connection number, for logs. */
  conn: number;
  /** When set, the client is told this error and disconnected right after the handshake. */
  refuse?: FerryError;
  /** Called with the session once it exists, so the server can close it on shutdown. */
  onSession?: (session: Session) => void;
}

/** Longest wait for a parting ERROR frame (TIMEOUT, BUSY) to be written before closing. */
const PARTING_WRITE_MS = 1_000;

/** Closes a connection once, remembering the first reason given for the disconnect log. */
interface Closer {
  /** True once closed. */
  readonly closed: boolean;
  /** Why the server closed the connection, if it did and said why. */
  readonly reason: string | undefined;
  /** Closes now. */
  close(reason?: string): void;
  /** Sends a parting ERROR (id 0), waiting at most {@linkcode PARTING_WRITE_MS}, then closes. */
  closeWith(writer: FrameWriter, error: FerryError, reason: string): Promise<void>;
}

function createCloser(conn: Deno.Conn): Closer {
  let closed = false;
  let reason: string | undefined;
  const close = (why?: string) => {
    if (closed) return;
    reason ??= why;
    closed = true;
    try {
      conn.close();
    } catch {
      // already closed
    }
  };
  return {
    get closed() {
      return closed;
    },
    get reason() {
      return reason;
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
): Promise<boolean> {
  const timer = setTimeout(() => {
    ctx.log({ conn: id, peer, event: "handshake", result: "TIMEOUT" });
    closer.close();
  }, ctx.limits.handshakeTimeoutMs);
  try {
    await conn.handshake();
  } catch (err) {
    if (!closer.closed) {
      ctx.log({ conn: id, peer, event: "handshake", result: "TLS", error: String(err) });
    }
    closer.close();
    return false;
  } finally {
    clearTimeout(timer);
  }
  return !closer.closed;
}

/** Serves one accepted TLS connection until it closes; never throws. */
export async function handleConnection(
  conn: Deno.TlsConn,
  ctx: ServerContext,
  options: ConnectionOptions,
): Promise<void> {
  const peer = peerOf(conn);
  const started = performance.now();
  const closer = createCloser(conn);
  if (!(await handshake(conn, ctx, options.conn, peer, closer))) return;

  // Every write goes through this sink, which notes when writes last made progress: a peer
  // that stops reading stalls them, and the watchdog's stall timeout then closes it.
  const { sink, activity } = watchedSink(conn);
  const writer = createFrameWriter(sink);
  const session = createSession({ id: options.conn, peer, close: closer.close }, ctx, writer);
  options.onSession?.(session);
  ctx.log({ conn: options.conn, peer, event: "connect" });
  if (options.refuse !== undefined) {
    const { code, message } = options.refuse;
    ctx.log({ conn: options.conn, peer, event: "refused", result: code, error: message });
    await closer.closeWith(writer, options.refuse, "refused");
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
      close: closer.close,
      closeWith: (error, reason) => closer.closeWith(writer, error, reason),
    },
    ctx.limits,
    ctx.log,
  );
  const ended = await readLoop(conn, session, activity, closer);
  stopWatchdog();
  await session.end();
  ctx.log({
    conn: options.conn,
    peer,
    user: session.account?.user,
    event: "disconnect",
    reason: closer.reason ?? ended,
    ms: Math.round(performance.now() - started),
  });
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
  const { limits, log } = session.ctx;
  const flood = new FloodBudget(limits.floodBudget, limits.floodRefillPerSecond);
  let frames = 0;
  let hellos = 0;
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
        if (frame.type === SERVICES.HELLO.type && frame.num === SERVICES.HELLO.num) hellos++;
        activity.dispatching = true;
        let refusal: ErrorCode | undefined;
        try {
          refusal = await dispatch(session, frame);
        } finally {
          activity.dispatching = false;
        }
        if (!flood.spend(floodCost(frame, refusal, hellos))) {
          log({ conn: session.conn, peer: session.peer, event: "flood", result: "BUSY", frames });
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
    return "closed by client";
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
