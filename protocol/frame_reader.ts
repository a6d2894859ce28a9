/**
 * Reads frames from a byte source such as a `Deno.TlsConn`: the only framing implementation, used
 * by both ends. It reuses one buffer for headers and small frames, and reads a large payload
 * straight into its own array once its header is in.
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

/**
 * Payloads at least this long are read straight into their own array once their header is in:
 * a TLS read returns at most one 16 KiB record, so most of a large frame never passes through
 * the reader's buffer, and nothing is allocated per read.
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
 * write. Payloads are arrays of their own (never views of a buffer that is reused).
 *
 * @throws {FerryError} `BAD_FRAME` when the stream ends inside a frame.
 */
export async function* readFrameBatches(
  source: ByteSource,
  readSize: number = READ_SIZE,
): AsyncGenerator<Frame[], void, undefined> {
  const buffer = new Uint8Array(Math.max(readSize, 2 * DIRECT_PAYLOAD));
  let start = 0;
  let end = 0;
  while (true) {
    const batch: Frame[] = [];
    while (end - start >= HEADER_SIZE) {
      const h = decodeHeader(buffer, start);
      const frameEnd = start + HEADER_SIZE + h.length;
      if (frameEnd > end) break;
      const payload = buffer.slice(start + HEADER_SIZE, frameEnd);
      batch.push({ type: h.type, num: h.num, version: h.version, payload });
      start = frameEnd;
    }
    if (batch.length > 0) yield batch;

    if (end - start >= HEADER_SIZE && decodeHeader(buffer, start).length >= DIRECT_PAYLOAD) {
      // A large frame has begun: give it its own array and read the rest straight into it.
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
 * Yields every frame from `source` until a clean end of stream.
 *
 * @throws {FerryError} `BAD_FRAME` when the stream ends inside a frame.
 */
export async function* readFrames(
  source: ByteSource,
  readSize: number = READ_SIZE,
): AsyncGenerator<Frame, void, undefined> {
  for await (const batch of readFrameBatches(source, readSize)) yield* batch;
}
