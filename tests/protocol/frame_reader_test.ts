/**
 * Tests of `protocol/frame_reader.ts`, the only framing implementation, over scripted byte
 * sources: any cut of the stream reads identically, each read's whole frames come out as one
 * batch and none is held back while the reader waits for more, and a stream that ends inside a
 * frame is `BAD_FRAME`.
 */

import assert from "node:assert/strict";
import fc from "fast-check";

import { encodeHeader, type Frame, HEADER_SIZE, MAX_PAYLOAD } from "../../protocol/frame.ts";
import {
  BULK_READ_SIZE,
  READ_SIZE,
  readFrameBatches,
  readFrames,
  RECORD_SIZE,
} from "../../protocol/frame_reader.ts";
import { isFerryError } from "../../protocol/errors.ts";
import { equalBytes } from "../../protocol/bytes.ts";
import { concat } from "../_helpers/mod.ts";
import { BOUNDED, bounded, largest, pattern, PLAIN, u16 } from "./_helpers.ts";
import {
  assertFramesEqual,
  boundaries,
  collect,
  encodeFrame,
  frameArb,
  scriptedSource,
  sizedSource,
} from "./_frames.ts";

/** How to cut a stream into chunks. */
interface Cuts {
  /** single: one chunk; points: random cut points; small: 1..9-byte chunks (see chunkEnds). */
  mode: "single" | "points" | "small";
  points: number[];
  smallSizes: number[];
  /** Per frame: 0 = no cut, 1..7 = cut inside its header at that offset. */
  headerCuts: number[];
}

const MAX_FRAMES = 16;
const MAX_POINTS = 24;

// size: "max" lets the arrays reach their declared lengths (fast-check stops at 10 otherwise).
const cutsArb: fc.Arbitrary<Cuts> = fc.record({
  mode: fc.constantFrom("single", "points", "small"),
  points: fc.array(fc.nat(), { maxLength: MAX_POINTS, size: "max" }),
  smallSizes: fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 6 }),
  headerCuts: fc.array(fc.integer({ min: 0, max: 7 }), { maxLength: MAX_FRAMES, size: "max" }),
}, PLAIN);

const framesArb = fc.array(frameArb, { maxLength: MAX_FRAMES, size: "max" });

/**
 * Sorted chunk end positions (the last is `total`; duplicates give reads of 0 bytes). In "small"
 * mode the whole stream is cut into 1..9-byte chunks when it is at most 4 KiB; a longer one is
 * cut that way in a window around every frame start (covering its header), to stay fast.
 */
function chunkEnds(bounds: number[], cuts: Cuts): number[] {
  const total = bounds[bounds.length - 1];
  const pts: number[] = [];
  if (cuts.mode === "points") { for (const p of cuts.points) pts.push(p % (total + 1)); }
  if (cuts.mode === "small") {
    const windows: [number, number][] = total <= 4096
      ? [[0, total]]
      : bounds.map((b) => [Math.max(0, b - 12), Math.min(total, b + 24)]);
    let k = 0;
    for (const [from, to] of windows) {
      for (let p = from; p < to; p += cuts.smallSizes[k++ % cuts.smallSizes.length]) pts.push(p);
    }
  }
  cuts.headerCuts.forEach((c, i) => {
    if (c > 0 && i < bounds.length - 1) pts.push(bounds[i] + c);
  });
  pts.push(total);
  return pts.sort((a, b) => a - b);
}

/** Number of frames that end at or before `delivered`. */
function completed(bounds: number[], delivered: number): number {
  let c = 0;
  while (c + 1 < bounds.length && bounds[c + 1] <= delivered) c++;
  return c;
}

/**
 * Reads `stream` cut at `ends` with `readFrameBatches`, checking after every read that the batch
 * holds exactly the frames that read completed, and before every read that no complete frame is
 * still held back.
 */
async function readCut(
  stream: Uint8Array,
  bounds: number[],
  ends: number[],
  readSize?: number,
): Promise<Frame[]> {
  let seen = 0;
  const source = scriptedSource(stream, ends, (delivered) => {
    assert.equal(seen, completed(bounds, delivered), `frames out before reading past ${delivered}`);
  });
  const out: Frame[] = [];
  for await (const batch of readFrameBatches(source, readSize)) {
    assert.ok(batch.length > 0, "an empty batch");
    assert.equal(
      seen + batch.length,
      completed(bounds, source.delivered),
      `the batch after ${source.delivered} bytes holds every frame they complete`,
    );
    seen += batch.length;
    out.push(...batch);
  }
  assert.equal(source.delivered, stream.length, "read to the end");
  return out;
}

Deno.test("reader: the generators reach their declared sizes", () => {
  assert.equal(largest(framesArb, (f) => f.length), MAX_FRAMES);
  assert.equal(largest(cutsArb, (c) => c.points.length), MAX_POINTS);
  assert.equal(largest(cutsArb, (c) => c.headerCuts.length), MAX_FRAMES);
  assert.equal(largest(frameArb, (f) => f.payload.length), MAX_PAYLOAD);
});

Deno.test("reader: any frames cut anywhere read identically, none held back (10^4 runs)", async () => {
  await fc.assert(
    fc.asyncProperty(framesArb, cutsArb, async (frames, cuts) => {
      const stream = concat(frames.map(encodeFrame));
      const bounds = boundaries(frames);
      assertFramesEqual(await readCut(stream, bounds, chunkEnds(bounds, cuts)), frames);
    }),
    { numRuns: 10_000, ...bounded(120_000) },
  );
});

Deno.test("reader: size:max payloads, random cut points", async () => {
  const bigFrame = fc.record({
    type: u16,
    num: u16,
    version: u16,
    payload: fc.uint8Array({ maxLength: MAX_PAYLOAD, size: "max" }),
  }, PLAIN);
  await fc.assert(
    fc.asyncProperty(
      fc.array(bigFrame, { minLength: 1, maxLength: 3 }),
      cutsArb,
      async (frames, cuts) => {
        const stream = concat(frames.map(encodeFrame));
        const bounds = boundaries(frames);
        assertFramesEqual(await readCut(stream, bounds, chunkEnds(bounds, cuts)), frames);
      },
    ),
    { numRuns: 60, ...BOUNDED },
  );
});

Deno.test("reader: 1-byte reads, one read for many frames, and cuts at every header offset", async () => {
  const frames: Frame[] = [0, MAX_PAYLOAD, 0, 0, 1, 7, 8, MAX_PAYLOAD - 1, 0, 300].map((n, i) => ({
    type: i,
    num: 0xffff - i,
    version: 1 + i,
    payload: pattern(n, i),
  }));
  const stream = concat(frames.map(encodeFrame));
  const bounds = boundaries(frames);
  const ones = Array.from({ length: stream.length }, (_, i) => i + 1);
  assertFramesEqual(await readCut(stream, bounds, ones), frames);
  // The whole stream offered at once: many frames per read.
  assertFramesEqual(await readCut(stream, bounds, [stream.length]), frames);
  // Cut at every header offset of every frame.
  for (let c = 1; c < HEADER_SIZE; c++) {
    const ends = bounds.slice(0, -1).map((b) => b + c).concat(stream.length);
    assertFramesEqual(await readCut(stream, bounds, ends), frames);
  }
});

Deno.test("reader: each read's whole frames come out as one batch", async () => {
  const small = [3, 0, 10, 5, 1].map((n, i) => ({
    type: 0,
    num: i,
    version: 1,
    payload: pattern(n, i),
  }));
  const stream = concat(small.map(encodeFrame));
  const bounds = boundaries(small);
  // Read 1: frames 0-1 and half of 2's header; read 2: the rest of 2, and 3-4.
  const source = scriptedSource(stream, [bounds[2] + 4, stream.length]);
  const batches: Frame[][] = [];
  for await (const batch of readFrameBatches(source)) batches.push(batch);
  assert.deepEqual(batches.map((b) => b.map((f) => f.num)), [[0, 1], [2, 3, 4]]);
  // Payloads are arrays of their own, never views of the reused read buffer.
  for (const f of batches.flat()) assert.equal(f.payload.buffer.byteLength, f.payload.length);
  assertFramesEqual(batches.flat(), small);
});

Deno.test("reader: a truncated stream throws BAD_FRAME naming the bytes of the unfinished frame", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(frameArb, { maxLength: 6, size: "max" }),
      frameArb,
      fc.nat(),
      cutsArb,
      async (whole, last, cutSeed, cuts) => {
        const lastBytes = encodeFrame(last);
        const keep = 1 + (cutSeed % (lastBytes.length - 1)); // 1 .. length-1 bytes of `last`
        const frames = [...whole, last];
        const bounds = boundaries(frames);
        const end = bounds[bounds.length - 2] + keep;
        const stream = concat(frames.map(encodeFrame)).subarray(0, end);
        const ends = chunkEnds(bounds, cuts).map((p) => Math.min(p, end));
        const seen: Frame[] = [];
        await assert.rejects(
          async () => {
            for await (const f of readFrames(scriptedSource(stream, ends))) seen.push(f);
          },
          (err: unknown) =>
            isFerryError(err, "BAD_FRAME") &&
            err.message.includes(`stream ended with ${keep} bytes of an unfinished frame`),
        );
        assertFramesEqual(seen, whole);
      },
    ),
    { numRuns: 2000, ...BOUNDED },
  );
});

Deno.test("reader: reads of 0 bytes change nothing", async () => {
  const f = encodeFrame({ type: 1, num: 2, version: 1, payload: pattern(20, 1) });
  const stream = concat([f, f]);
  const bounds = [0, f.length, 2 * f.length];
  // Empty reads at the start, inside the header, inside the payload, between frames.
  const ends = [0, 0, 3, 3, 12, 12, 12, f.length, f.length, f.length + 1, stream.length];
  const frames = await readCut(stream, bounds, ends);
  assert.equal(frames.length, 2);
  assertFramesEqual(frames, [
    { type: 1, num: 2, version: 1, payload: pattern(20, 1) },
    { type: 1, num: 2, version: 1, payload: pattern(20, 1) },
  ]);
  assert.deepEqual(await collect(scriptedSource(new Uint8Array(), [0, 0])), []);
});

// The reader's buffer is max(readSize, 32 KiB): sizes up to 32 KiB behave alike; larger ones
// (the default READ_SIZE, a whole frame, more) change where reads are cut.
const readSizeArb = fc.constantFrom(1, 4096, READ_SIZE, MAX_PAYLOAD + HEADER_SIZE, 200_000);
const readSizesArb = fc.array(
  fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 200_000 })),
  { minLength: 1, maxLength: 8, size: "max" },
);

Deno.test("reader: yields every frame from random-size reads and read sizes", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(frameArb, { maxLength: 8, size: "max" }),
      readSizeArb,
      readSizesArb,
      async (frames, readSize, sizes) => {
        const stream = concat(frames.map(encodeFrame));
        assertFramesEqual(await collect(sizedSource(stream, sizes), readSize), frames);
      },
    ),
    { numRuns: 600, ...BOUNDED },
  );
});

Deno.test("reader: empty stream yields nothing; default read size works", async () => {
  assert.deepEqual(await collect(sizedSource(new Uint8Array(), [1])), []);
  const frames: Frame[] = [
    { type: 1, num: 1, version: 1, payload: pattern(MAX_PAYLOAD, 9) },
    { type: 3, num: 1, version: 1, payload: pattern(4, 1) },
  ];
  const stream = concat(frames.map(encodeFrame));
  assertFramesEqual(await collect(sizedSource(stream, [100_000, 7, 1, 40_000])), frames);
});

Deno.test("reader: a stream ending mid-frame throws BAD_FRAME after the whole frames", async () => {
  const good: Frame[] = [
    { type: 0, num: 0, version: 1, payload: pattern(10, 1) },
    { type: 3, num: 1, version: 1, payload: new Uint8Array() },
  ];
  const goodBytes = concat(good.map(encodeFrame));
  const next = encodeFrame({ type: 1, num: 1, version: 1, payload: pattern(100, 2) });
  const cuts = [1, 2, 3, 4, 5, 6, 7, HEADER_SIZE + 1, HEADER_SIZE + 50, next.length - 1];
  // Also: header says 65535, 10 bytes arrive, then EOF.
  const lying = encodeHeader({ type: 1, num: 1, version: 1, length: MAX_PAYLOAD });
  const streams = cuts.map((n) => concat([goodBytes, next.subarray(0, n)]));
  streams.push(concat([goodBytes, lying, new Uint8Array(10)]));
  streams.push(next.subarray(0, 5)); // truncated first frame
  for (const stream of streams) {
    for (
      const [sizes, options] of [[1], [3, 5], [stream.length]].flatMap((sizes) =>
        [16, { readSize: 16, transient: true }].map((o) => [sizes, o] as const)
      )
    ) {
      const seen: Frame[] = [];
      await assert.rejects(
        async () => {
          for await (const f of readFrames(sizedSource(stream, sizes), options)) {
            seen.push({ ...f, payload: f.payload.slice() });
          }
        },
        (err: unknown) => isFerryError(err, "BAD_FRAME") && /truncated frame/.test(err.message),
        `${stream.length} bytes in reads of ${sizes}`,
      );
      assertFramesEqual(seen, stream === streams[streams.length - 1] ? [] : good);
    }
  }
});

Deno.test("reader: truncated stream property → BAD_FRAME", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(frameArb, { maxLength: 5, size: "max" }),
      frameArb,
      fc.nat(),
      readSizesArb,
      async (whole, last, cutSeed, sizes) => {
        const lastBytes = encodeFrame(last);
        const keep = 1 + (cutSeed % (lastBytes.length - 1));
        const stream = concat([...whole.map(encodeFrame), lastBytes.subarray(0, keep)]);
        const seen: Frame[] = [];
        await assert.rejects(async () => {
          for await (const f of readFrames(sizedSource(stream, sizes), 4096)) seen.push(f);
        }, (err: unknown) => isFerryError(err, "BAD_FRAME"));
        assertFramesEqual(seen, whole);
      },
    ),
    { numRuns: 500, ...BOUNDED },
  );
});

/** Reads `stream` cut at `ends` in transient mode, copying each payload before the next batch. */
async function readTransient(
  stream: Uint8Array,
  ends: number[],
): Promise<{ frames: Frame[]; buffers: Set<ArrayBufferLike> }> {
  const frames: Frame[] = [];
  const buffers = new Set<ArrayBufferLike>();
  const source = scriptedSource(stream, ends);
  for await (const batch of readFrameBatches(source, { transient: true })) {
    for (const f of batch) {
      buffers.add(f.payload.buffer);
      frames.push({ ...f, payload: f.payload.slice() });
    }
  }
  return { frames, buffers };
}

Deno.test("reader, transient: any frames cut anywhere read identically, from two reused buffers", async () => {
  await fc.assert(
    fc.asyncProperty(framesArb, cutsArb, async (frames, cuts) => {
      const stream = concat(frames.map(encodeFrame));
      const bounds = boundaries(frames);
      const got = await readTransient(stream, chunkEnds(bounds, cuts));
      assertFramesEqual(got.frames, frames);
      // The read buffer, and the large-payload array: nothing allocated per frame.
      assert.ok(got.buffers.size <= 2, `${got.buffers.size} buffers`);
    }),
    { numRuns: 2_000, ...bounded(60_000) },
  );
});

Deno.test("reader, transient: a payload is a view valid until the next batch, then reused", async () => {
  const frames: Frame[] = [10, MAX_PAYLOAD, MAX_PAYLOAD, MAX_PAYLOAD, MAX_PAYLOAD, 20].map((
    n,
    i,
  ) => ({ type: 1, num: i, version: 1, payload: pattern(n, i + 1) }));
  const stream = concat(frames.map(encodeFrame));
  // In 16 KiB reads, as TLS delivers records.
  const ends = Array.from(
    { length: Math.ceil(stream.length / RECORD_SIZE) },
    (_, i) => Math.min(stream.length, (i + 1) * RECORD_SIZE),
  );
  const kept: Frame[] = [];
  for await (const f of readFrames(scriptedSource(stream, ends), { transient: true })) {
    kept.push(f);
  }
  // The large frames and the small one after them are views of one reused buffer.
  const bulk = kept[1].payload.buffer;
  assert.equal(bulk.byteLength, BULK_READ_SIZE);
  for (const f of kept.slice(2)) assert.equal(f.payload.buffer, bulk);
  // Kept past their batch, views show what was read into the buffer since: the first large
  // payload's bytes were overwritten when the unfinished fourth frame moved to the front.
  assert.ok(!equalBytes(kept[1].payload, frames[1].payload));
  // Owned (the default) payloads stay as they were.
  const owned = await collect(scriptedSource(stream, ends));
  assertFramesEqual(owned, frames);
});

Deno.test("reader, transient: one read per 16 KiB record, none cut short by a frame's end", async () => {
  const frames: Frame[] = Array.from({ length: 40 }, (_, i) => ({
    type: 1,
    num: 3,
    version: 1,
    payload: pattern(i === 0 ? 30 : MAX_PAYLOAD - (i % 3), i),
  }));
  const stream = concat(frames.map(encodeFrame));
  const ends = Array.from(
    { length: Math.ceil(stream.length / RECORD_SIZE) },
    (_, i) => Math.min(stream.length, (i + 1) * RECORD_SIZE),
  );
  const source = scriptedSource(stream, ends);
  const got: Frame[] = [];
  for await (const f of readFrames(source, { transient: true })) {
    got.push({ ...f, payload: f.payload.slice() });
  }
  assertFramesEqual(got, frames);
  // Every record in one read, plus the read that finds the end of the stream; the first read
  // (before any large frame) is offered the initial buffer, and every later one a whole record.
  assert.equal(source.reads, ends.length + 1);
  assert.ok(source.smallestTarget >= RECORD_SIZE, `a read offered ${source.smallestTarget} bytes`);
  // Owned payloads read the large ones straight into their own arrays: more, shorter reads.
  const owned = scriptedSource(stream, ends);
  assertFramesEqual(await collect(owned), frames);
  assert.ok(owned.reads > source.reads);
});
