/**
 * Reads frames from a byte source such as a `Deno.TlsConn`: the only framing implementation, used
 * by both ends. It reuses one buffer for headers and small frames, and reads a large payload
 * straight into an array of its own once its header is in.
 *
 * Two ways to hand payloads out:
 * - **owned** (the default): every payload is an array of its own, which the consumer may keep.
 * - **transient** (`{ transient: true }`): payloads are views of the reader's own buffers, valid
 *   until the consumer asks for the next batch (or, with {@linkcode readFrames}, the next frame).
 *   Nothing is allocated per frame: a large payload is read into one reused array. This is the
 *   receiving side of a transfer (a GiB of data frames would otherwise be a GiB of fresh,
 *   zeroed arrays to allocate and collect); both ends' read loops use it, and their handlers
 *   copy what they keep (a staged upload, a download's file buffer) before they return.
 *
 * @module
 */

import { decodeHeader, type Frame, HEADER_SIZE, MAX_PAYLOAD } from "./frame.ts";
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
 * Payloads at least this long are read straight into their own array (owned) or the reused
 * large-payload array (transient) once their header is in: a TLS read returns at most one
 * 16 KiB record, so most of a large frame never passes through the reader's buffer.
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
  const buffer = new Uint8Array(Math.max(readSize, 2 * DIRECT_PAYLOAD));
  /** The reused array of large payloads (transient), allocated when first needed. */
  let large: Uint8Array | null = null;
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

    if (end - start >= HEADER_SIZE && decodeHeader(buffer, start).length >= DIRECT_PAYLOAD) {
      // A large frame has begun: read the rest straight into the array it is handed out in.
      const h = decodeHeader(buffer, start);
      let payload: Uint8Array;
      if (transient) {
        large ??= new Uint8Array(MAX_PAYLOAD);
        payload = large.subarray(0, h.length);
      } else {
        payload = new Uint8Array(h.length);
      }
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
    }

    // Keep the unfinished start of a frame at the front, then read more behind it.
    if (start > 0) {
      buffer.copyWithin(0, start, end);
      end -= start;
      start = 0;
    }
    const n = await source.read(buffer.subarray(end));
    if (n === null) {
      if (end > 0) throw truncated(end);
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
