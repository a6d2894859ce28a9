/**
 * The client side of a connection: one reader loop routes every incoming frame to the request
 * it belongs to (by request id), so many operations can share the connection.
 *
 * @module
 */

import { readFrames } from "../protocol/frame_reader.ts";
import { createFrameWriter, type FrameWriter } from "../protocol/frame_writer.ts";
import { decodeError, encodeIdOnly, peekRequestId } from "../protocol/messages/mod.ts";
import { SERVICES } from "../protocol/services.ts";
import { endsConnection, FerryError, messageOf } from "../protocol/errors.ts";
import type { Frame } from "../protocol/frame.ts";

/** Receives the frames of one request. A throw fails the request and cancels it on the server. */
export interface RequestHandler {
  /**
   * Called for each frame with this request's id; awaited, so slow sinks push back. The frame's
   * payload is valid only until the returned promise settles: copy what must outlive it.
   */
  onFrame(frame: Frame): void | Promise<void>;
  /** Called once when the request fails: an error from its handler or the connection. */
  onError(err: FerryError): void;
}

/** Routes frames by request id over one connection. */
export interface Mux {
  /** Outgoing frames. */
  readonly writer: FrameWriter;
  /** A fresh request id. */
  nextId(): number;
  /** Routes frames with `id` to `handler` until {@linkcode Mux.finish} is called. */
  open(id: number, handler: RequestHandler): void;
  /** Stops routing frames for `id`. */
  finish(id: number): void;
  /** Fails request `id` with `err` and asks the server to cancel it. */
  abort(id: number, err: FerryError): void;
  /**
   * How long, in ms, the reader has been waiting for bytes from the server right now (0 while it
   * is handing a frame to a request, which a slow sink or a rate limit may make take a while).
   */
  readWaitMs(): number;
  /** Resolves when the connection has closed. */
  readonly closed: Promise<void>;
  /** Closes the connection; requests in flight fail with `CONNECTION_CLOSED`. */
  close(): void;
}

/** What the multiplexer needs from a connection: a `Deno.Conn`, or a node TLS socket adapter. */
export interface Connection {
  /** Reads up to `p.length` bytes into `p`; `null` at the end of the stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes some of `p`, returning how many bytes were written. */
  write(p: Uint8Array): Promise<number>;
  /** Closes the connection; pending reads end. */
  close(): void;
}

/** Starts routing frames read from `conn`. */
export function createMux(conn: Connection): Mux {
  const writer = createFrameWriter(conn);
  const pending = new Map<number, RequestHandler>();
  let lastId = 0;
  let isClosed = false;
  let connectionError: FerryError | null = null;

  function close(): void {
    if (isClosed) return;
    isClosed = true;
    try {
      conn.close();
    } catch {
      // already closed
    }
  }

  function failAll(err: FerryError): void {
    const handlers = [...pending.values()];
    pending.clear();
    for (const h of handlers) h.onError(err);
  }

  function abort(id: number, err: FerryError): void {
    const handler = pending.get(id);
    if (handler === undefined) return;
    pending.delete(id);
    handler.onError(err);
    if (!isClosed) writer.send(encodeIdOnly(SERVICES.CANCEL, id)).catch(() => {});
  }

  // Whether the stream ended: a frame cut short by the end is a lost connection, not a bad frame.
  let streamEnded = false;
  // When the reader started waiting for the server's bytes (null while it is not waiting).
  let waitingSince: number | null = null;
  const source: Connection = {
    read: async (p) => {
      waitingSince = Date.now();
      try {
        const n = await conn.read(p);
        if (n === null) streamEnded = true;
        return n;
      } finally {
        waitingSince = null;
      }
    },
    write: (p) => conn.write(p),
    close: () => conn.close(),
  };

  async function readLoop(): Promise<void> {
    try {
      // Transient payloads (valid until the next frame): handlers are awaited, and copy what
      // they keep (a download's file buffer, a stream sink's chunk), so nothing is allocated per
      // data frame.
      for await (const frame of readFrames(source, { transient: true })) {
        const id = peekRequestId(frame.payload);
        if (id === 0 && frame.type === SERVICES.ERROR.type && frame.num === SERVICES.ERROR.num) {
          // A connection-level error. After those that end the connection (busy, a deadline, a
          // garbled stream) the server closes it: everything in flight fails with that error at
          // once. Others (a frame too short to carry an id) change nothing.
          const e = decodeError(frame.payload);
          connectionError = new FerryError(e.code, `server: ${e.message}`);
          if (endsConnection(e)) failAll(connectionError);
          continue;
        }
        const handler = id === undefined ? undefined : pending.get(id);
        if (handler === undefined || id === undefined) continue; // late frame of a finished request
        try {
          await handler.onFrame(frame);
        } catch (err) {
          abort(
            id,
            err instanceof FerryError ? err : new FerryError("INTERNAL", messageOf(err)),
          );
        }
      }
    } catch (err) {
      if (!isClosed) {
        // An error the server announced (id 0) explains the loss better than the loss itself.
        connectionError ??= err instanceof FerryError && !streamEnded ? err : new FerryError(
          "CONNECTION_CLOSED",
          streamEnded
            ? "connection lost: the server closed it in the middle of a frame"
            : `connection lost: ${messageOf(err)}`,
        );
      }
    } finally {
      close();
      failAll(
        connectionError ?? new FerryError("CONNECTION_CLOSED", "the connection was closed"),
      );
    }
  }

  const closed = readLoop();

  return {
    writer,
    nextId: () => {
      lastId = lastId >= 0xffff_ffff ? 1 : lastId + 1;
      return lastId;
    },
    open(id, handler) {
      if (isClosed) {
        handler.onError(
          connectionError ?? new FerryError("CONNECTION_CLOSED", "the connection is closed"),
        );
        return;
      }
      pending.set(id, handler);
    },
    finish: (id) => void pending.delete(id),
    abort,
    readWaitMs: () => waitingSince === null ? 0 : Date.now() - waitingSince,
    closed,
    close,
  };
}
