/**
 * Reads frames from a byte source such as a `Deno.TlsConn`.
 *
 * @module
 */

import { createFrameDecoder } from "./decoder.ts";
import type { Frame } from "./frame.ts";
import { FerryError } from "./errors.ts";

/** Anything with a `read` like `Deno.Conn`: fills `p`, returns the count, or `null` at EOF. */
export interface ByteSource {
  /** Reads up to `p.length` bytes into `p`. */
  read(p: Uint8Array): Promise<number | null>;
}

/** Default size of each read; large reads cut per-call overhead (see BENCHMARKS.md). */
export const READ_SIZE = 256 * 1024;

/**
 * Yields the frames of each read from `source` as one batch, until a clean end of stream. A
 * receiver that answers a whole batch before writing can merge its answers into one write.
 *
 * @throws {FerryError} `BAD_FRAME` when the stream ends inside a frame.
 */
export async function* readFrameBatches(
  source: ByteSource,
  readSize: number = READ_SIZE,
): AsyncGenerator<Frame[], void, undefined> {
  const decoder = createFrameDecoder();
  while (true) {
    // A fresh buffer per read: decoded payloads are views into it and stay valid.
    const buf = new Uint8Array(readSize);
    const n = await source.read(buf);
    if (n === null) {
      if (decoder.buffered > 0) {
        throw new FerryError(
          "BAD_FRAME",
          `truncated frame: stream ended with ${decoder.buffered} bytes of an unfinished frame`,
        );
      }
      return;
    }
    const frames = decoder.push(buf.subarray(0, n));
    if (frames.length > 0) yield frames;
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
