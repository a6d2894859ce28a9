/**
 * Frame-level test helpers: the test-only frame encoder, a scripted byte source for the live
 * reader, and frame arbitraries.
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { encodeHeader, type Frame, HEADER_SIZE, MAX_PAYLOAD } from "../../protocol/frame.ts";
import { type ByteSource, readFrames } from "../../protocol/frame_reader.ts";
import { equalBytes } from "../../protocol/bytes.ts";
import { createDataFrameBuffer, type DataService } from "../../protocol/messages/transfer.ts";
import { pattern, PLAIN, u16 } from "./_helpers.ts";

/**
 * Encodes a frame into a new array of `8 + payload.length` bytes. Only tests build arbitrary
 * frames; the product builds them with `messages/`.
 *
 * @throws {RangeError} when the payload is longer than {@linkcode MAX_PAYLOAD}.
 */
export function encodeFrame(frame: Frame): Uint8Array {
  if (frame.payload.length > MAX_PAYLOAD) {
    throw new RangeError(`frame payload of ${frame.payload.length} bytes exceeds ${MAX_PAYLOAD}`);
  }
  const out = new Uint8Array(HEADER_SIZE + frame.payload.length);
  encodeHeader({ ...frame, length: frame.payload.length }, out, 0);
  out.set(frame.payload, HEADER_SIZE);
  return out;
}

/**
 * Data frames of request `id` carrying all of `data`, in a new array: what a sender produces for
 * one batch, for tests that write raw frames.
 */
export function encodeDataFrames(service: DataService, id: number, data: Uint8Array): Uint8Array {
  return createDataFrameBuffer(service, Math.max(1, data.length)).frameCopy(id, data).slice();
}

/** A {@linkcode ByteSource} that serves a fixed stream and counts what it delivered. */
export interface ScriptedSource extends ByteSource {
  /** Bytes delivered so far. */
  readonly delivered: number;
  /** Calls of `read`, the one that returned `null` included. */
  readonly reads: number;
  /** Length of the smallest array `read` was given. */
  readonly smallestTarget: number;
}

/**
 * Serves `bytes` cut at `ends` (sorted end positions of the chunks; a repeated position gives a
 * read of 0 bytes), then `null`. A read never crosses a chunk end and never delivers more than
 * the array it is given (the rest of the chunk comes with the next read); bytes after the last
 * end come as one more chunk. `onRead` runs at the start of every read, before anything is
 * delivered.
 */
export function scriptedSource(
  bytes: Uint8Array,
  ends: number[],
  onRead: (delivered: number) => void = () => {},
): ScriptedSource {
  const sizes = ends.map((e, k) =>
    Math.min(e, bytes.length) - Math.min(k > 0 ? ends[k - 1] : 0, bytes.length)
  );
  let next = 0;
  let left = 0;
  let delivered = 0;
  let reads = 0;
  let smallestTarget = Infinity;
  return {
    get delivered() {
      return delivered;
    },
    get reads() {
      return reads;
    },
    get smallestTarget() {
      return smallestTarget;
    },
    read(p: Uint8Array): Promise<number | null> {
      reads++;
      smallestTarget = Math.min(smallestTarget, p.length);
      onRead(delivered);
      if (delivered >= bytes.length) return Promise.resolve(null);
      if (left === 0) {
        if (next < sizes.length) {
          left = sizes[next++];
          if (left === 0) return Promise.resolve(0);
        } else {
          left = bytes.length - delivered;
        }
      }
      const n = Math.min(p.length, left);
      p.set(bytes.subarray(delivered, delivered + n));
      delivered += n;
      left -= n;
      return Promise.resolve(n);
    },
  };
}

/** Serves `bytes` in reads of the given sizes (cycled), then `null`. */
export function sizedSource(bytes: Uint8Array, sizes: number[]): ScriptedSource {
  const ends: number[] = [];
  for (let p = 0, i = 0; p < bytes.length; i++) {
    p = Math.min(bytes.length, p + sizes[i % sizes.length]);
    ends.push(p);
  }
  return scriptedSource(bytes, ends);
}

/** Every frame `readFrames` yields from `source`. */
export async function collect(source: ByteSource, readSize?: number): Promise<Frame[]> {
  const out: Frame[] = [];
  for await (const f of readFrames(source, readSize)) out.push(f);
  return out;
}

/** Asserts two frame lists are equal field by field and byte by byte. */
export function assertFramesEqual(actual: Frame[], expected: Frame[]): void {
  assert.equal(actual.length, expected.length, "frame count");
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    assert.equal(a.type, e.type, `frame ${i} type`);
    assert.equal(a.num, e.num, `frame ${i} num`);
    assert.equal(a.version, e.version, `frame ${i} version`);
    assert.equal(a.payload.length, e.payload.length, `frame ${i} payload length`);
    assert.ok(equalBytes(a.payload, e.payload), `frame ${i} payload bytes`);
  }
}

/** Frame end offsets within the concatenation of `frames`, starting with 0. */
export function boundaries(frames: Frame[]): number[] {
  const out = [0];
  for (const f of frames) out.push(out[out.length - 1] + HEADER_SIZE + f.payload.length);
  return out;
}

/** Payload lengths: mostly small, with Data_Len 0 and 65535 and every size in between. */
export const payloadLength: fc.Arbitrary<number> = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(0, 1, 7, 8, 9, MAX_PAYLOAD - 1, MAX_PAYLOAD) },
  { weight: 12, arbitrary: fc.nat({ max: 48 }) },
  { weight: 1, arbitrary: fc.nat({ max: MAX_PAYLOAD }) },
);

/** Any frame, its payload a pattern of {@linkcode payloadLength} bytes. */
export const frameArb: fc.Arbitrary<Frame> = fc.record({
  type: u16,
  num: u16,
  version: u16,
  length: payloadLength,
  seed: fc.nat(),
}, PLAIN).map(({ length, seed, ...h }) => ({ ...h, payload: pattern(length, seed) }));
