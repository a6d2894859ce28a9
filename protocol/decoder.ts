/**
 * An incremental frame decoder: push the bytes of a stream in chunks of any size and get back
 * every frame they complete. Pure over bytes; knows nothing of sockets.
 *
 * @module
 */

import { decodeHeader, HEADER_SIZE } from "./header.ts";
import type { Frame } from "./frame.ts";

/** Turns a byte stream, cut anywhere, into frames. */
export interface FrameDecoder {
  /**
   * Adds the next bytes of the stream and returns the frames they complete, in order.
   * Payloads of frames wholly inside `chunk` are views into it: do not reuse `chunk` afterwards.
   */
  push(chunk: Uint8Array): Frame[];
  /** Bytes held that do not yet make a whole frame (0 at a frame boundary). */
  readonly buffered: number;
}

/** Creates a {@linkcode FrameDecoder} with an empty buffer. */
export function createFrameDecoder(): FrameDecoder {
  // A frame cut by a chunk boundary is assembled here: first its header, then its payload.
  const header = new Uint8Array(HEADER_SIZE);
  let headerFill = 0;
  let partial: Frame | null = null;
  let partialFill = 0;

  function push(chunk: Uint8Array): Frame[] {
    const frames: Frame[] = [];
    let offset = 0;

    // 1. Finish a frame begun by earlier chunks.
    if (headerFill > 0 && partial === null) {
      const take = Math.min(HEADER_SIZE - headerFill, chunk.length);
      header.set(chunk.subarray(0, take), headerFill);
      headerFill += take;
      offset = take;
      if (headerFill < HEADER_SIZE) return frames;
      const h = decodeHeader(header);
      partial = { type: h.type, num: h.num, version: h.version, payload: new Uint8Array(h.length) };
      partialFill = 0;
    }
    if (partial !== null) {
      const need = partial.payload.length - partialFill;
      const take = Math.min(need, chunk.length - offset);
      partial.payload.set(chunk.subarray(offset, offset + take), partialFill);
      partialFill += take;
      offset += take;
      if (partialFill < partial.payload.length) return frames;
      frames.push(partial);
      partial = null;
      headerFill = 0;
    }

    // 2. Whole frames inside this chunk are returned as views into it.
    while (chunk.length - offset >= HEADER_SIZE) {
      const h = decodeHeader(chunk, offset);
      const start = offset + HEADER_SIZE;
      const end = start + h.length;
      if (end > chunk.length) {
        const payload = new Uint8Array(h.length);
        payload.set(chunk.subarray(start));
        partial = { type: h.type, num: h.num, version: h.version, payload };
        partialFill = chunk.length - start;
        headerFill = HEADER_SIZE;
        return frames;
      }
      frames.push({
        type: h.type,
        num: h.num,
        version: h.version,
        payload: chunk.subarray(start, end),
      });
      offset = end;
    }

    // 3. Keep a cut header for the next chunk.
    if (offset < chunk.length) {
      header.set(chunk.subarray(offset), 0);
      headerFill = chunk.length - offset;
    }
    return frames;
  }

  return {
    push,
    get buffered() {
      if (partial !== null) return HEADER_SIZE + partialFill;
      return headerFill;
    },
  };
}
