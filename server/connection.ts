/**
 * One client connection: the TLS handshake under a deadline, then a loop that reads frames and
 * hands each to the handler of its service. Listings and downloads run in the background, so
 * a connection can have several operations in flight; past a limit the loop stops reading,
 * which pushes back on the client through TCP.
 *
 * @module
 */

import { readFrames } from "../protocol/reader.ts";
import { createFrameWriter } from "../protocol/writer.ts";
import { encodeError, peekRequestId } from "../protocol/messages.ts";
import { MAX_VERSION, MIN_VERSION, serviceName } from "../protocol/services.ts";
import { FerryError } from "../protocol/errors.ts";
import type { Frame } from "../protocol/frame.ts";
import {
  asFerryError,
  assertNewRequest,
  logOp,
  sendError,
  type ServerContext,
  type Session,
} from "./session.ts";
import { BEFORE_AUTH, HANDLERS } from "./handlers/mod.ts";

/** Handles one frame: checks version, service and authentication, then runs its handler. */
export async function dispatch(session: Session, frame: Frame): Promise<void> {
  const id = peekRequestId(frame.payload) ?? 0;
  const name = serviceName(frame.type, frame.num);
  try {
    if (frame.version < MIN_VERSION || frame.version > MAX_VERSION) {
      throw new FerryError(
        "UNSUPPORTED_VERSION",
        `protocol version ${frame.version} is not supported; this server speaks ${MIN_VERSION}..${MAX_VERSION}`,
      );
    }
    const handler = name === undefined ? undefined : HANDLERS[name];
    if (name === undefined || handler === undefined) {
      throw new FerryError(
        "UNSUPPORTED",
        `service (${frame.type},${frame.num})${
          name ? ` ${name}` : ""
        } is not one a client may send`,
      );
    }
    if (session.account === null && !BEFORE_AUTH.has(name)) {
      throw new FerryError("UNAUTHENTICATED", `authenticate before ${name}`);
    }
    await handler(session, frame.payload);
  } catch (err) {
    const e = asFerryError(err);
    logOp(session, {
      op: name ?? `${frame.type},${frame.num}`,
      id,
      result: e.code,
      error: e.message,
    });
    await sendError(session, id, e);
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

/** Serves one accepted TLS connection until it closes; never throws. */
export async function handleConnection(
  conn: Deno.TlsConn,
  ctx: ServerContext,
  options: ConnectionOptions,
): Promise<void> {
  const peer = peerOf(conn);
  const started = performance.now();
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    try {
      conn.close();
    } catch {
      // already closed
    }
  };
  const { limits, log } = ctx;

  const handshakeTimer = setTimeout(() => {
    log({ conn: options.conn, peer, event: "handshake", result: "TIMEOUT" });
    close();
  }, limits.handshakeTimeoutMs);
  try {
    await conn.handshake();
  } catch (err) {
    if (!closed) {
      log({ conn: options.conn, peer, event: "handshake", result: "TLS", error: String(err) });
    }
    close();
    return;
  } finally {
    clearTimeout(handshakeTimer);
  }
  if (closed) return;

  const writer = createFrameWriter(conn);
  const running = new Set<Promise<void>>();
  const session: Session = {
    conn: options.conn,
    peer,
    ctx,
    writer,
    account: null,
    authFailures: 0,
    tasks: new Map(),
    discarding: new Set(),
    close,
    run(id, op, body) {
      assertNewRequest(session, id);
      const abort = new AbortController();
      session.tasks.set(id, { op, abort });
      const promise = (async () => {
        try {
          await body(abort.signal);
        } catch (err) {
          const e = abort.signal.aborted && !(err instanceof FerryError)
            ? asFerryError(abort.signal.reason)
            : asFerryError(err);
          logOp(session, { op, id, result: e.code, error: e.message });
          await sendError(session, id, e);
        } finally {
          session.tasks.delete(id);
        }
      })();
      running.add(promise);
      promise.finally(() => running.delete(promise));
    },
  };
  options.onSession?.(session);
  log({ conn: options.conn, peer, event: "connect" });

  if (options.refuse !== undefined) {
    await sendError(session, 0, options.refuse);
    log({ conn: options.conn, peer, event: "refused", result: options.refuse.code });
    close();
    return;
  }

  const authTimer = setTimeout(() => {
    if (session.account !== null) return;
    log({ conn: options.conn, peer, event: "auth", result: "TIMEOUT" });
    writer.send(
      encodeError({ id: 0, code: "TIMEOUT", message: "authentication deadline passed" }),
    ).catch(() => {}).finally(close);
  }, limits.authTimeoutMs);
  let lastActivity = Date.now();
  const idleTimer = setInterval(() => {
    if (session.tasks.size > 0 || Date.now() - lastActivity < limits.idleTimeoutMs) return;
    log({ conn: options.conn, peer, event: "idle", result: "TIMEOUT" });
    writer.send(encodeError({ id: 0, code: "TIMEOUT", message: "idle timeout" }))
      .catch(() => {}).finally(close);
  }, Math.min(1000, limits.idleTimeoutMs));

  let reason = "closed by client";
  try {
    for await (const frame of readFrames(conn)) {
      lastActivity = Date.now();
      await dispatch(session, frame);
      while (running.size >= limits.maxInflightPerConnection) await Promise.race(running);
      if (closed) break;
    }
  } catch (err) {
    if (err instanceof FerryError) {
      reason = err.message;
      await sendError(session, 0, err);
    } else if (closed) {
      reason = "closed by server";
    } else if (/close_notify|UnexpectedEof|Connection reset/i.test(String(err))) {
      reason = "closed by client";
    } else {
      reason = err instanceof Error ? err.message : String(err);
    }
  } finally {
    clearTimeout(authTimer);
    clearInterval(idleTimer);
    const leftover = [...session.tasks.values()];
    for (const task of leftover) {
      task.abort.abort(new FerryError("CONNECTION_CLOSED", "connection closed"));
    }
    close();
    await Promise.allSettled(running);
    await Promise.allSettled(leftover.map((t) => t.cleanup?.()));
    log({
      conn: options.conn,
      peer,
      user: session.account?.user,
      event: "disconnect",
      reason,
      ms: Math.round(performance.now() - started),
    });
  }
}
