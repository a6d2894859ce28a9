/**
 * Reads frames from a byte source such as a `Deno.TlsConn`: the only framing implementation, used
 * by both ends.
 *
 * Two ways to hand payloads out:
 * - **owned** (the default): every payload is an array of its own, which the consumer may keep.
 *   One buffer is reused for headers and small frames; a large payload is read straight into
 *   its own array once its header is in.
 * - **transient** (`{ transient: true }`): payloads are views of the reader's one buffer, valid
 *   until the consumer asks for the next batch (or, with {@linkcode readFrames}, the next frame).
 *   Nothing is allocated per frame. This is the receiving side of a transfer (a GiB of data
 *   frames would otherwise be a GiB of fresh, zeroed arrays to allocate and collect); both ends'
 *   read loops use it, and their handlers copy what they keep (a staged upload, a download's
 *   file buffer) before they return. Once a large frame arrives the buffer grows to
 *   {@linkcode BULK_READ_SIZE}, and every read is offered room for a whole TLS record
 *   ({@linkcode RECORD_SIZE}): a `Deno.TlsConn` read returns at most one record, and one cut
 *   short at a frame's end leaves the rest of the record to a read of its own, so data frames
 *   cost one read per record, as a plain byte stream does, instead of one more per frame.
 *
 * @module
 */

import { decodeHeader, type Frame, HEADER_SIZE } from "./frame.ts";
import { FerryError } from "./errors.ts";

/** Anything with a `read` like `Deno.Conn`: fills `p`, returns the count, or `null` at EOF. */
export interface ByteSource {
  /** Reads up to `p.length` bytes into `p`. */
  read(p: Uint8Array): Promise<number | null>;
}

/** Size of the reader's reusable buffer for headers and small frames. */
export const READ_SIZE = 64 * 1024;

/** How a reader hands out payloads. */
export interface ReadOptions {
  /** Size of the buffer for headers and small frames (default {@linkcode READ_SIZE}). */
  readSize?: number;
  /**
   * Payloads are views of the reader's buffers, valid until the next batch (or frame) is asked
   * for, instead of arrays of their own (default false).
   */
  transient?: boolean;
}

/**
 * Size of the transient reader's buffer once a large frame has arrived: several data frames
 * (64 KiB each at most) and a record behind them, so that the unfinished frame moved to the
 * front now and then is small beside what was read.
 */
export const BULK_READ_SIZE = 256 * 1024;

/**
 * The plaintext of one full TLS record (RFC 8446 §5.1): the transient reader moves the
 * unfinished frame to the front of its buffer rather than offer a read less room than this.
 */
export const RECORD_SIZE = 16 * 1024;

/**
 * Payloads at least this long are read straight into their own array once their header is in
 * (owned), or make the transient reader's buffer grow to {@linkcode BULK_READ_SIZE}.
 */
const DIRECT_PAYLOAD = 16 * 1024;

function truncated(bytes: number): FerryError {
  return new FerryError(
    "BAD_FRAME",
    `truncated frame: stream ended with ${bytes} bytes of an unfinished frame`,
  );
}

/**
 * Yields the frames that each read from `source` completes, as one batch, until a clean end of
 * stream. A receiver that answers a whole batch before writing can merge its answers into one
 * write. `options` may be a number: the read size, as in earlier versions.
 *
 * @throws {FerryError} `BAD_FRAME` when the stream ends inside a frame.
 */
export async function* readFrameBatches(
  source: ByteSource,
  options: number | ReadOptions = {},
): AsyncGenerator<Frame[], void, undefined> {
  const { readSize = READ_SIZE, transient = false } = typeof options === "number"
    ? { readSize: options }
    : options;
  let buffer = new Uint8Array(Math.max(readSize, 2 * DIRECT_PAYLOAD));
  let start = 0;
  let end = 0;
  while (true) {
    const batch: Frame[] = [];
    while (end - start >= HEADER_SIZE) {
      const h = decodeHeader(buffer, start);
      const frameEnd = start + HEADER_SIZE + h.length;
      if (frameEnd > end) break;
      const payload = transient
        ? buffer.subarray(start + HEADER_SIZE, frameEnd)
        : buffer.slice(start + HEADER_SIZE, frameEnd);
      batch.push({ type: h.type, num: h.num, version: h.version, payload });
      start = frameEnd;
    }
    if (batch.length > 0) yield batch;
    if (start === end) start = end = 0;

    // The bytes the frame begun needs in all (its header, when that is not in yet).
    const needed = end - start >= HEADER_SIZE
      ? HEADER_SIZE + decodeHeader(buffer, start).length
      : HEADER_SIZE;
    if (transient) {
      if (needed - HEADER_SIZE >= DIRECT_PAYLOAD && buffer.length < BULK_READ_SIZE) {
        // Large frames flow: one bigger buffer from now on.
        const bigger = new Uint8Array(BULK_READ_SIZE);
        bigger.set(buffer.subarray(start, end));
        buffer = bigger;
        end -= start;
        start = 0;
      }
      // Move the unfinished frame to the front when it would not fit behind `start`, or when
      // the room left would cut a record short.
      if (start > 0 && (start + needed > buffer.length || buffer.length - end < RECORD_SIZE)) {
        buffer.copyWithin(0, start, end);
        end -= start;
        start = 0;
      }
    } else if (needed - HEADER_SIZE >= DIRECT_PAYLOAD) {
      // A large frame has begun: read the rest straight into the array it is handed out in.
      const h = decodeHeader(buffer, start);
      const payload = new Uint8Array(h.length);
      let filled = end - start - HEADER_SIZE;
      payload.set(buffer.subarray(start + HEADER_SIZE, end));
      start = end = 0;
      while (filled < payload.length) {
        const n = await source.read(payload.subarray(filled));
        if (n === null) throw truncated(HEADER_SIZE + filled);
        filled += n;
      }
      yield [{ type: h.type, num: h.num, version: h.version, payload }];
      continue;
    } else if (start > 0) {
      // Keep the unfinished start of a frame at the front, then read more behind it.
      buffer.copyWithin(0, start, end);
      end -= start;
      start = 0;
    }
    const n = await source.read(buffer.subarray(end));
    if (n === null) {
      if (end > start) throw truncated(end - start);
      return;
    }
    end += n;
  }
}

/**
 * Yields every frame from `source` until a clean end of stream (`options` as for
 * {@linkcode readFrameBatches}; a transient payload is valid until the next frame is asked for).
 *
 * @throws {FerryError} `BAD_FRAME` when the stream ends inside a frame.
 */
export async function* readFrames(
  source: ByteSource,
  options: number | ReadOptions = {},
): AsyncGenerator<Frame, void, undefined> {
  for await (const batch of readFrameBatches(source, options)) yield* batch;
}
