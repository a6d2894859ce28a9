/**
 * Unit and property tests of the wire codec: frame header, whole frames, the incremental frame
 * decoder, the frame reader (over a fake byte source), every message payload, the byte-cursor
 * helpers, error codes and the service table. Pure over bytes: no permissions needed.
 */

import assert from "node:assert/strict";
import fc from "fast-check";

import { decodeHeader, encodeHeader, HEADER_SIZE, MAX_PAYLOAD } from "../protocol/header.ts";
import { encodeFrame, type Frame } from "../protocol/frame.ts";
import { createFrameDecoder } from "../protocol/decoder.ts";
import { type ByteSource, READ_SIZE, readFrames } from "../protocol/reader.ts";
import {
  builder,
  cursor,
  putBlob,
  readBlob,
  readString,
  readU16,
  readU32,
  readU64,
  readU8,
  UNKNOWN_SIZE,
} from "../protocol/bytes.ts";
import {
  type Auth,
  type AuthOk,
  type Data,
  DATA_CHUNK,
  DATA_FRAME_SIZE,
  dataFramesSize,
  decodeAuth,
  decodeAuthOk,
  decodeData,
  decodeDigest,
  decodeDownload,
  decodeEof,
  decodeError,
  decodeFileInfo,
  decodeHashRequest,
  decodeHello,
  decodeIdOnly,
  decodeListEntries,
  decodeMkdir,
  decodePathRequest,
  decodeRename,
  decodeStatResult,
  decodeUpload,
  decodeUploadResume,
  decodeUploadStatus,
  decodeWelcome,
  type Digest,
  type Download,
  encodeAuth,
  encodeAuthOk,
  encodeDataFrames,
  encodeDigest,
  encodeDownload,
  encodeEof,
  encodeError,
  encodeFileInfo,
  encodeHashRequest,
  encodeHello,
  encodeIdOnly,
  encodeListEntries,
  encodeMkdir,
  encodePathRequest,
  encodeRename,
  encodeStatResult,
  encodeUpload,
  encodeUploadResume,
  encodeUploadStatus,
  encodeWelcome,
  type Entry,
  type Eof,
  type ErrorMessage,
  type FileInfo,
  type HashRequest,
  type Hello,
  ID_SIZE,
  type ListEntries,
  type Mkdir,
  type PathRequest,
  peekRequestId,
  putDataFrameHeader,
  type Rename,
  SHA256_SIZE,
  type StatResult,
  type Upload,
  type UploadResume,
  type Welcome,
} from "../protocol/messages.ts";
import {
  MAX_VERSION,
  MIN_VERSION,
  PROTOCOL_VERSION,
  serviceKey,
  type ServiceName,
  serviceName,
  SERVICES,
} from "../protocol/services.ts";
import {
  ERROR_CODES,
  type ErrorCode,
  errorCodeName,
  FerryError,
  isFerryError,
} from "../protocol/errors.ts";
import { concat } from "./bytes.ts";

// ---------------------------------------------------------------------------------------------
// Helpers

/** Runs `fn` and asserts it throws a FerryError with `code` (and nothing else). */
function assertFerry(fn: () => unknown, code: ErrorCode, what = ""): FerryError {
  try {
    fn();
  } catch (err) {
    assert.ok(
      err instanceof FerryError,
      `${what}: expected FerryError ${code}, got ${(err as Error)?.name}: ${err}`,
    );
    assert.equal(err.code, code, `${what}: ${err.message}`);
    return err;
  }
  assert.fail(`${what}: expected FerryError ${code}, nothing was thrown`);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
}

/** Deterministic, non-periodic filler bytes (xorshift32), so offset errors show. */
function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = (seed * 2654435761 + 1) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

function assertFramesEqual(actual: Frame[], expected: Frame[]): void {
  assert.equal(actual.length, expected.length, "frame count");
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    assert.equal(a.type, e.type, `frame ${i} type`);
    assert.equal(a.num, e.num, `frame ${i} num`);
    assert.equal(a.version, e.version, `frame ${i} version`);
    assert.equal(a.payload.length, e.payload.length, `frame ${i} payload length`);
    assert.ok(bytesEqual(a.payload, e.payload), `frame ${i} payload bytes`);
  }
}

/** Frame end offsets within the concatenation of `frames`, starting with 0. */
function boundaries(frames: Frame[]): number[] {
  const out = [0];
  for (const f of frames) out.push(out[out.length - 1] + HEADER_SIZE + f.payload.length);
  return out;
}

/**
 * Every property gets at most 20 s, shrinking included (shrinking 64 KiB arrays can otherwise
 * take minutes); hitting the limit fails the test and still prints the counterexample found.
 */
const BOUNDED = { plugins: [fc.interruptAfterTimeLimit(20_000, { failOnInterrupt: true })] };

/** fc.record makes null-prototype objects by default; deepStrictEqual compares prototypes. */
const PLAIN = { noNullPrototype: true };

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.oneof(
  fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff),
  fc.integer({ min: 0, max: 0xffffffff }),
);
/** A u64 size, offset or time that a JS number holds exactly. */
const u64 = fc.oneof(
  fc.constantFrom(0, 1, 0xffffffff, 2 ** 32, Number.MAX_SAFE_INTEGER),
  fc.maxSafeNat(),
);
/** Any valid Unicode text (no lone surrogates), ASCII, non-ASCII and astral code points. */
const text = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.constantFrom("", "docs", "é/ü/ß", "日本語/ファイル", "😀/𝄞", "\uFEFFbom", "a\u0000b"),
);

// ---------------------------------------------------------------------------------------------
// Header

Deno.test("header: encodes four big-endian u16 fields", () => {
  const bytes = encodeHeader({ type: 0x0102, num: 0x0304, version: 0x0506, length: 0x0708 });
  assert.equal(hex(bytes), "01 02 03 04 05 06 07 08");
  assert.equal(
    hex(encodeHeader({ type: 0xffff, num: 0, version: 1, length: 0xff00 })),
    "ff ff 00 00 00 01 ff 00",
  );
  assert.deepEqual(decodeHeader(bytes), {
    type: 0x0102,
    num: 0x0304,
    version: 0x0506,
    length: 0x0708,
  });
});

Deno.test("header: writes and reads at an offset, inside a view with a byteOffset", () => {
  const backing = new Uint8Array(32).fill(0xee);
  const view = backing.subarray(5, 25);
  const h = { type: 1, num: 2, version: 3, length: 4 };
  assert.equal(encodeHeader(h, view, 6), view);
  assert.equal(hex(backing.subarray(11, 19)), "00 01 00 02 00 03 00 04");
  assert.ok(backing.subarray(0, 11).every((b) => b === 0xee));
  assert.ok(backing.subarray(19).every((b) => b === 0xee));
  assert.deepEqual(decodeHeader(view, 6), h);
  assert.deepEqual(decodeHeader(backing, 11), h);
});

Deno.test("header: round trip of any four u16 fields", () => {
  fc.assert(
    fc.property(u16, u16, u16, u16, (type, num, version, length) => {
      const h = { type, num, version, length };
      const b = encodeHeader(h);
      assert.equal(b.length, HEADER_SIZE);
      assert.equal((b[0] << 8) | b[1], type);
      assert.equal((b[6] << 8) | b[7], length);
      assert.deepEqual(decodeHeader(b), h);
    }),
    { numRuns: 2000, ...BOUNDED },
  );
});

Deno.test("header: out-of-range fields throw RangeError", () => {
  const good = { type: 0, num: 0, version: 1, length: 0 };
  for (const field of ["type", "num", "version", "length"] as const) {
    for (const bad of [-1, 0x10000, 1.5, NaN, Infinity, -0.5]) {
      assert.throws(() => encodeHeader({ ...good, [field]: bad }), RangeError, `${field}=${bad}`);
    }
  }
  // Boundaries are accepted.
  encodeHeader({ type: 0xffff, num: 0xffff, version: 0xffff, length: 0xffff });
});

Deno.test("header: decodeHeader needs 8 bytes", () => {
  for (let n = 0; n < HEADER_SIZE; n++) {
    assert.throws(() => decodeHeader(new Uint8Array(n)), RangeError, `${n} bytes`);
  }
  assert.throws(() => decodeHeader(new Uint8Array(12), 5), RangeError);
  decodeHeader(new Uint8Array(12), 4);
});

// ---------------------------------------------------------------------------------------------
// Whole frames

Deno.test("frame: encodeFrame round trip incl. Data_Len 0 and 65535", () => {
  for (const length of [0, 1, 7, 8, 9, 4096, MAX_PAYLOAD - 1, MAX_PAYLOAD]) {
    const payload = pattern(length, length);
    const frame = { type: 3, num: 0xfffe, version: 7, payload };
    const bytes = encodeFrame(frame);
    assert.equal(bytes.length, HEADER_SIZE + length);
    assert.deepEqual(decodeHeader(bytes), { type: 3, num: 0xfffe, version: 7, length });
    assert.ok(bytesEqual(bytes.subarray(HEADER_SIZE), payload));
  }
  assert.equal(
    hex(encodeFrame({ type: 0, num: 0, version: 1, payload: new Uint8Array() })),
    "00 00 00 00 00 01 00 00",
  );
});

Deno.test("frame: payload of 65536 bytes throws RangeError", () => {
  const payload = new Uint8Array(MAX_PAYLOAD + 1);
  assert.throws(() => encodeFrame({ type: 0, num: 0, version: 1, payload }), RangeError);
  assert.throws(
    () => encodeFrame({ type: 0x10000, num: 0, version: 1, payload: payload.subarray(1) }),
    RangeError,
  );
});

Deno.test("frame: encodeFrame round trip, size:max payloads", () => {
  fc.assert(
    fc.property(u16, u16, u16, fc.uint8Array({ maxLength: MAX_PAYLOAD, size: "max" }), (
      type,
      num,
      version,
      payload,
    ) => {
      const bytes = encodeFrame({ type, num, version, payload });
      assert.deepEqual(decodeHeader(bytes), { type, num, version, length: payload.length });
      assert.ok(bytesEqual(bytes.subarray(HEADER_SIZE), payload));
    }),
    { numRuns: 100, ...BOUNDED },
  );
});

// ---------------------------------------------------------------------------------------------
// Incremental decoder: random splits

const payloadLength = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(0, 1, 7, 8, 9, MAX_PAYLOAD - 1, MAX_PAYLOAD) },
  { weight: 12, arbitrary: fc.nat({ max: 48 }) },
  { weight: 1, arbitrary: fc.nat({ max: MAX_PAYLOAD }) },
);

const frameArb: fc.Arbitrary<Frame> = fc.record({
  type: u16,
  num: u16,
  version: u16,
  length: payloadLength,
  seed: fc.nat(),
}, PLAIN).map(({ length, seed, ...h }) => ({ ...h, payload: pattern(length, seed) }));

/** How to cut a stream into chunks. */
interface Cuts {
  /** single: one chunk; points: random cut points; small: 1..9-byte chunks (see chunkPoints). */
  mode: "single" | "points" | "small";
  points: number[];
  smallSizes: number[];
  /** Per frame: 0 = no cut, 1..7 = cut inside its header at that offset. */
  headerCuts: number[];
}

const cutsArb: fc.Arbitrary<Cuts> = fc.record({
  mode: fc.constantFrom("single", "points", "small"),
  points: fc.array(fc.nat(), { maxLength: 24 }),
  smallSizes: fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 6 }),
  headerCuts: fc.array(fc.integer({ min: 0, max: 7 }), { maxLength: 16 }),
}, PLAIN);

/**
 * Sorted chunk end positions (the last is `total`; duplicates give empty chunks). In "small"
 * mode the whole stream is cut into 1..9-byte chunks when it is at most 4 KiB; a longer one is
 * cut that way in a window around every frame start (covering its header), to stay fast.
 */
function chunkPoints(bounds: number[], cuts: Cuts): number[] {
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

/** Pushes `stream` cut at `points`, checking `buffered` and the frame count after every chunk. */
function decodeCut(stream: Uint8Array, bounds: number[], points: number[]): Frame[] {
  const decoder = createFrameDecoder();
  const out: Frame[] = [];
  let prev = 0;
  for (const p of points) {
    for (const f of decoder.push(stream.subarray(prev, p))) out.push(f);
    prev = p;
    // The frames completed so far are exactly those ending at or before p.
    let complete = 0;
    while (complete + 1 < bounds.length && bounds[complete + 1] <= p) complete++;
    assert.equal(out.length, complete, `frames completed after ${p} bytes`);
    assert.equal(decoder.buffered, p - bounds[complete], `buffered after ${p} bytes`);
  }
  return out;
}

Deno.test("decoder: any frames cut anywhere decode identically, nothing left over (10^4 runs)", () => {
  fc.assert(
    fc.property(fc.array(frameArb, { maxLength: 16 }), cutsArb, (frames, cuts) => {
      const stream = concat(frames.map(encodeFrame));
      const bounds = boundaries(frames);
      const out = decodeCut(stream, bounds, chunkPoints(bounds, cuts));
      assertFramesEqual(out, frames);
    }),
    { numRuns: 10_000, ...BOUNDED },
  );
});

Deno.test("decoder: size:max payloads, random cut points", () => {
  const bigFrame = fc.record({
    type: u16,
    num: u16,
    version: u16,
    payload: fc.uint8Array({ maxLength: MAX_PAYLOAD, size: "max" }),
  }, PLAIN);
  fc.assert(
    fc.property(fc.array(bigFrame, { minLength: 1, maxLength: 3 }), cutsArb, (frames, cuts) => {
      const stream = concat(frames.map(encodeFrame));
      const bounds = boundaries(frames);
      assertFramesEqual(decodeCut(stream, bounds, chunkPoints(bounds, cuts)), frames);
    }),
    { numRuns: 60, ...BOUNDED },
  );
});

Deno.test("decoder: 1-byte chunks through frames of Data_Len 0, 65535 and in between", () => {
  const frames: Frame[] = [0, MAX_PAYLOAD, 0, 0, 1, 7, 8, MAX_PAYLOAD - 1, 0, 300].map((n, i) => ({
    type: i,
    num: 0xffff - i,
    version: 1 + i,
    payload: pattern(n, i),
  }));
  const stream = concat(frames.map(encodeFrame));
  const bounds = boundaries(frames);
  const ones = Array.from({ length: stream.length }, (_, i) => i + 1);
  assertFramesEqual(decodeCut(stream, bounds, ones), frames);
  // The whole stream in one chunk: many frames per chunk.
  assertFramesEqual(decodeCut(stream, bounds, [stream.length]), frames);
  // Cut at every header offset of every frame.
  for (let c = 1; c < HEADER_SIZE; c++) {
    const pts = bounds.slice(0, -1).map((b) => b + c).concat(stream.length);
    assertFramesEqual(decodeCut(stream, bounds, pts), frames);
  }
});

Deno.test("decoder: a truncated stream leaves buffered > 0", () => {
  fc.assert(
    fc.property(
      fc.array(frameArb, { maxLength: 6 }),
      frameArb,
      fc.nat(),
      cutsArb,
      (whole, last, cutSeed, cuts) => {
        const lastBytes = encodeFrame(last);
        const keep = 1 + (cutSeed % (lastBytes.length - 1)); // 1 .. length-1 bytes of `last`
        const frames = [...whole, last];
        const bounds = boundaries(frames);
        const end = bounds[bounds.length - 2] + keep;
        const stream = concat(frames.map(encodeFrame)).subarray(0, end);
        const points = chunkPoints(bounds, cuts).map((p) => Math.min(p, end));
        const decoder = createFrameDecoder();
        const out: Frame[] = [];
        let prev = 0;
        for (const p of points) {
          out.push(...decoder.push(stream.subarray(prev, p)));
          prev = p;
        }
        assertFramesEqual(out, whole);
        assert.equal(decoder.buffered, keep);
        assert.ok(decoder.buffered > 0);
      },
    ),
    { numRuns: 2000, ...BOUNDED },
  );
});

Deno.test("decoder: empty chunks change nothing", () => {
  const d = createFrameDecoder();
  assert.deepEqual(d.push(new Uint8Array()), []);
  assert.equal(d.buffered, 0);
  const f = encodeFrame({ type: 1, num: 2, version: 1, payload: pattern(20, 1) });
  assert.deepEqual(d.push(f.subarray(0, 3)), []);
  assert.deepEqual(d.push(new Uint8Array()), []);
  assert.equal(d.buffered, 3);
  assert.deepEqual(d.push(f.subarray(3, 12)), []);
  assert.deepEqual(d.push(new Uint8Array()), []);
  assert.equal(d.buffered, 12);
  const out = d.push(f.subarray(12));
  assert.equal(out.length, 1);
  assert.equal(d.buffered, 0);
});

// ---------------------------------------------------------------------------------------------
// readFrames over a fake byte source

/** A ByteSource that returns `bytes` in reads of the given sizes (cycled), then null. */
function fakeSource(bytes: Uint8Array, sizes: number[]): ByteSource & { reads: number } {
  let pos = 0;
  let i = 0;
  const src = {
    reads: 0,
    read(p: Uint8Array): Promise<number | null> {
      src.reads++;
      if (pos >= bytes.length) return Promise.resolve(null);
      const n = Math.min(p.length, sizes[i++ % sizes.length], bytes.length - pos);
      p.set(bytes.subarray(pos, pos + n));
      pos += n;
      return Promise.resolve(n);
    },
  };
  return src;
}

async function collect(source: ByteSource, readSize?: number): Promise<Frame[]> {
  const out: Frame[] = [];
  for await (const f of readFrames(source, readSize)) out.push(f);
  return out;
}

const readSizeArb = fc.constantFrom(1, 3, 8, 9, 64, 4096, MAX_PAYLOAD + HEADER_SIZE, READ_SIZE);
const readSizesArb = fc.array(
  fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 200_000 })),
  { minLength: 1, maxLength: 8 },
);

Deno.test("reader: yields every frame from random-size reads", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(frameArb, { maxLength: 8 }),
      readSizeArb,
      readSizesArb,
      async (frames, readSize, sizes) => {
        const stream = concat(frames.map(encodeFrame));
        // Keep 1-byte buffers for short streams (each read allocates readSize bytes).
        const rs = readSize < 64 && stream.length > 8192 ? 4096 : readSize;
        assertFramesEqual(await collect(fakeSource(stream, sizes), rs), frames);
      },
    ),
    { numRuns: 600, ...BOUNDED },
  );
});

Deno.test("reader: empty stream yields nothing; default read size works", async () => {
  assert.deepEqual(await collect(fakeSource(new Uint8Array(), [1])), []);
  const frames: Frame[] = [
    { type: 1, num: 1, version: 1, payload: pattern(MAX_PAYLOAD, 9) },
    { type: 3, num: 1, version: 1, payload: pattern(4, 1) },
  ];
  const stream = concat(frames.map(encodeFrame));
  assertFramesEqual(await collect(fakeSource(stream, [100_000, 7, 1, 40_000])), frames);
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
    for (const sizes of [[1], [3, 5], [stream.length]]) {
      const seen: Frame[] = [];
      await assert.rejects(
        async () => {
          for await (const f of readFrames(fakeSource(stream, sizes), 16)) seen.push(f);
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
      fc.array(frameArb, { maxLength: 5 }),
      frameArb,
      fc.nat(),
      readSizesArb,
      async (whole, last, cutSeed, sizes) => {
        const lastBytes = encodeFrame(last);
        const keep = 1 + (cutSeed % (lastBytes.length - 1));
        const stream = concat([...whole.map(encodeFrame), lastBytes.subarray(0, keep)]);
        const seen: Frame[] = [];
        await assert.rejects(async () => {
          for await (const f of readFrames(fakeSource(stream, sizes), 4096)) seen.push(f);
        }, (err: unknown) => isFerryError(err, "BAD_FRAME"));
        assertFramesEqual(seen, whole);
      },
    ),
    { numRuns: 500, ...BOUNDED },
  );
});

// ---------------------------------------------------------------------------------------------
// Messages

interface Codec<T> {
  /** The service whose frames this codec writes. */
  service: ServiceName;
  arb: fc.Arbitrary<T>;
  encode(m: T): Uint8Array;
  decode(payload: Uint8Array): T;
  /** A value whose last payload field is a string of `s`, to patch in invalid UTF-8. */
  withString?(s: string): T;
  /** Shortest valid payload prefix (default: the whole payload). */
  minValid?(payload: Uint8Array): number;
  /** False when trailing bytes are part of the value (data frames). */
  trailingIgnored?: boolean;
}

function codec<T>(c: Codec<T>): Codec<unknown> {
  return c as unknown as Codec<unknown>;
}

const entryArb: fc.Arbitrary<Entry> = fc.record({
  name: text,
  kind: fc.constantFrom("file", "dir", "symlink", "other"),
  size: u64,
  mtime: fc.option(u64, { nil: null }),
}, PLAIN);

const dataCodec = (service: "DOWNLOAD_DATA" | "UPLOAD_DATA") =>
  codec<Data>({
    service,
    arb: fc.record({
      id: u32,
      data: fc.oneof(
        fc.uint8Array({ maxLength: 64 }),
        fc.uint8Array({ maxLength: DATA_CHUNK, size: "max" }),
        fc.constantFrom(new Uint8Array(), pattern(DATA_CHUNK, 3)),
      ),
    }, PLAIN),
    encode: (m) => encodeDataFrames(SERVICES[service], m.id, m.data),
    decode: decodeData,
    minValid: () => ID_SIZE,
    trailingIgnored: false,
  });

const CODECS: Codec<unknown>[] = [
  codec<Hello>({
    service: "HELLO",
    arb: fc.record({ id: u32, minVersion: u16, maxVersion: u16, agent: text }, PLAIN),
    encode: encodeHello,
    decode: decodeHello,
    withString: (agent) => ({ id: 1, minVersion: 1, maxVersion: 1, agent }),
  }),
  codec<Welcome>({
    service: "WELCOME",
    arb: fc.record({ id: u32, version: u16, agent: text }, PLAIN),
    encode: encodeWelcome,
    decode: decodeWelcome,
    withString: (agent) => ({ id: 1, version: 1, agent }),
  }),
  codec<Auth>({
    service: "AUTH",
    arb: fc.record({ id: u32, token: text }, PLAIN),
    encode: encodeAuth,
    decode: decodeAuth,
    withString: (token) => ({ id: 2, token }),
  }),
  codec<AuthOk>({
    service: "AUTH_OK",
    arb: fc.record({ id: u32, role: fc.constantFrom("read", "write", "admin"), user: text }, PLAIN),
    encode: encodeAuthOk,
    decode: decodeAuthOk,
    withString: (user) => ({ id: 2, role: "admin", user }),
  }),
  ...(["LIST", "DELETE"] as const).map((service) =>
    codec<PathRequest>({
      service,
      arb: fc.record({ id: u32, path: text }, PLAIN),
      encode: (m) => encodePathRequest(SERVICES[service], m),
      decode: decodePathRequest,
      withString: (path) => ({ id: 3, path }),
    })
  ),
  codec<ListEntries>({
    service: "LIST_ENTRIES",
    arb: fc.record(
      { id: u32, last: fc.boolean(), entries: fc.array(entryArb, { maxLength: 20 }) },
      PLAIN,
    ),
    encode: encodeListEntries,
    decode: decodeListEntries,
    withString: (name) => ({
      id: 3,
      last: true,
      entries: [{ name, kind: "file", size: 1, mtime: null }],
    }),
  }),
  codec<Download>({
    service: "DOWNLOAD",
    arb: fc.record({ id: u32, offset: u64, path: text }, PLAIN),
    encode: encodeDownload,
    decode: decodeDownload,
    withString: (path) => ({ id: 4, offset: 0, path }),
  }),
  codec<FileInfo>({
    service: "FILE_INFO",
    arb: fc.record({ id: u32, size: u64, mtime: fc.option(u64, { nil: null }) }, PLAIN),
    encode: encodeFileInfo,
    decode: decodeFileInfo,
  }),
  codec<Upload>({
    service: "UPLOAD",
    arb: fc.record({
      id: u32,
      size: fc.oneof(u64, fc.constant(UNKNOWN_SIZE)),
      mtime: fc.option(u64, { nil: null }),
      path: text,
    }, PLAIN),
    encode: encodeUpload,
    decode: decodeUpload,
    withString: (path) => ({ id: 5, size: UNKNOWN_SIZE, mtime: null, path }),
  }),
  dataCodec("DOWNLOAD_DATA"),
  dataCodec("UPLOAD_DATA"),
  codec<Eof>({
    service: "EOF",
    arb: fc.record({
      id: u32,
      size: u64,
      sha256: fc.uint8Array({ minLength: SHA256_SIZE, maxLength: SHA256_SIZE }),
    }, PLAIN),
    encode: encodeEof,
    decode: decodeEof,
  }),
  codec<ErrorMessage>({
    service: "ERROR",
    arb: fc.record({
      id: u32,
      code: fc.constantFrom(...(Object.keys(ERROR_CODES) as ErrorCode[])),
      // At most 200 code points = 800 bytes: under the 1 KiB cut, so it round-trips.
      message: fc.oneof(text, fc.string({ unit: "binary", maxLength: 200 })),
    }, PLAIN),
    encode: encodeError,
    decode: decodeError,
    withString: (message) => ({ id: 0, code: "BAD_FRAME", message }),
  }),
  codec<PathRequest>({
    service: "STAT",
    arb: fc.record({ id: u32, path: text }, PLAIN),
    encode: (m) => encodePathRequest(SERVICES.STAT, m),
    decode: decodePathRequest,
    withString: (path) => ({ id: 3, path }),
  }),
  codec<StatResult>({
    service: "STAT_RESULT",
    arb: fc.record({ id: u32, entry: entryArb }, PLAIN),
    encode: encodeStatResult,
    decode: decodeStatResult,
    withString: (name) => ({ id: 3, entry: { name, kind: "dir", size: 0, mtime: 5 } }),
  }),
  codec<HashRequest>({
    service: "HASH",
    arb: fc.record(
      { id: u32, length: fc.oneof(u64, fc.constant(UNKNOWN_SIZE)), path: text },
      PLAIN,
    ),
    encode: encodeHashRequest,
    decode: decodeHashRequest,
    withString: (path) => ({ id: 6, length: UNKNOWN_SIZE, path }),
  }),
  ...(["HASH_RESULT", "UPLOAD_PARTIAL"] as const).map((service) =>
    codec<Digest>({
      service,
      arb: fc.record({
        id: u32,
        length: u64,
        sha256: fc.uint8Array({ minLength: SHA256_SIZE, maxLength: SHA256_SIZE }),
      }, PLAIN),
      encode: (m) => encodeDigest(SERVICES[service], m),
      decode: decodeDigest,
    })
  ),
  codec<Mkdir>({
    service: "MKDIR",
    arb: fc.record({ id: u32, parents: fc.boolean(), path: text }, PLAIN),
    encode: encodeMkdir,
    decode: decodeMkdir,
    withString: (path) => ({ id: 7, parents: true, path }),
  }),
  codec<Rename>({
    service: "RENAME",
    arb: fc.record({ id: u32, replace: fc.boolean(), from: text, to: text }, PLAIN),
    encode: encodeRename,
    decode: decodeRename,
    withString: (to) => ({ id: 8, replace: false, from: "a", to }),
  }),
  codec<UploadResume>({
    service: "UPLOAD_RESUME",
    arb: fc.record({
      id: u32,
      offset: u64,
      size: u64,
      mtime: fc.option(u64, { nil: null }),
      path: text,
    }, PLAIN),
    encode: encodeUploadResume,
    decode: decodeUploadResume,
    withString: (path) => ({ id: 9, offset: 1, size: 2, mtime: null, path }),
  }),
  codec<Upload>({
    service: "UPLOAD_STATUS",
    arb: fc.record({
      id: u32,
      size: u64,
      mtime: fc.option(u64, { nil: null }),
      path: text,
    }, PLAIN),
    encode: encodeUploadStatus,
    decode: decodeUploadStatus,
    withString: (path) => ({ id: 10, size: 3, mtime: null, path }),
  }),
  ...(["OK", "CANCEL", "CLOSE_SERVER"] as const).map((service) =>
    codec<number>({
      service,
      arb: u32,
      encode: (id) => encodeIdOnly(SERVICES[service], id),
      decode: decodeIdOnly,
    })
  ),
];

Deno.test("messages: every service has a codec under test", () => {
  assert.deepEqual(CODECS.map((c) => c.service).sort(), Object.keys(SERVICES).sort());
});

function splitFrame(c: Codec<unknown>, frame: Uint8Array): Uint8Array {
  const h = decodeHeader(frame);
  assert.equal(h.type, SERVICES[c.service].type, `${c.service} type`);
  assert.equal(h.num, SERVICES[c.service].num, `${c.service} num`);
  assert.equal(h.version, PROTOCOL_VERSION, `${c.service} version`);
  assert.equal(h.length, frame.length - HEADER_SIZE, `${c.service} Data_Len`);
  return frame.subarray(HEADER_SIZE);
}

for (const c of CODECS) {
  Deno.test(`messages: ${c.service} encode → decode round trip`, () => {
    fc.assert(
      fc.property(c.arb, (m) => {
        const payload = splitFrame(c, c.encode(m));
        assert.deepEqual(c.decode(payload), m);
        // Every payload starts with the request id.
        const id = typeof m === "number" ? m : (m as { id: number }).id;
        assert.equal(peekRequestId(payload), id);
      }),
      { numRuns: 300, ...BOUNDED },
    );
  });
}

Deno.test("messages: decoders ignore trailing bytes (fields appended by a later version)", () => {
  for (const c of CODECS.filter((c) => c.trailingIgnored !== false)) {
    fc.assert(
      fc.property(c.arb, fc.uint8Array({ minLength: 1, maxLength: 64 }), (m, extra) => {
        const payload = concat([splitFrame(c, c.encode(m)), extra]);
        assert.deepEqual(c.decode(payload), m, c.service);
      }),
      { numRuns: 100, ...BOUNDED },
    );
  }
});

Deno.test("messages: every strict prefix of a payload throws BAD_ARGUMENT", () => {
  for (const c of CODECS) {
    for (const m of fc.sample(c.arb, { numRuns: 20, seed: 42 })) {
      const payload = splitFrame(c, c.encode(m));
      const min = c.minValid?.(payload) ?? payload.length;
      for (let n = 0; n < min; n++) {
        assertFerry(() => c.decode(payload.subarray(0, n)), "BAD_ARGUMENT", `${c.service}[0,${n})`);
      }
      // A copy without spare bytes after it behaves the same.
      if (min > 0) {
        assertFerry(() => c.decode(payload.slice(0, min - 1)), "BAD_ARGUMENT", c.service);
      }
    }
  }
});

const INVALID_UTF8: number[][] = [
  [0xff],
  [0xc0, 0xaf], // overlong "/"
  [0xed, 0xa0, 0x80], // lone surrogate U+D800
  [0x80], // lone continuation byte
  [0xe2, 0x82], // truncated sequence
  [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
  [0x61, 0x00, 0xfe],
];

Deno.test("messages: invalid UTF-8 in any string field → BAD_NAME", () => {
  for (const c of CODECS.filter((c) => c.withString)) {
    for (const bad of INVALID_UTF8) {
      const payload = splitFrame(c, c.encode(c.withString!("x".repeat(bad.length)))).slice();
      payload.set(bad, payload.length - bad.length);
      assertFerry(() => c.decode(payload), "BAD_NAME", `${c.service} ${hex(new Uint8Array(bad))}`);
    }
  }
});

Deno.test("messages: a leading BOM and NUL are kept, not stripped", () => {
  const m = { id: 1, path: "\uFEFF\u0000name" };
  assert.deepEqual(decodePathRequest(encodePathRequest(SERVICES.LIST, m).subarray(HEADER_SIZE)), m);
});

Deno.test("messages: unknown values from a peer", () => {
  // LIST_ENTRIES: an unknown kind reads as "other"; flag bits other than bit 0 are ignored.
  const le = encodeListEntries({
    id: 7,
    last: false,
    entries: [{ name: "a", kind: "file", size: 0, mtime: null }],
  }).subarray(HEADER_SIZE).slice();
  le[4] = 0xfe; // flags: bit 0 clear, others set
  le[7] = 200; // kind
  assert.deepEqual(decodeListEntries(le), {
    id: 7,
    last: false,
    entries: [{ name: "a", kind: "other", size: 0, mtime: null }],
  });
  le[4] = 0xff;
  assert.equal(decodeListEntries(le).last, true);
  // AUTH_OK: a role this version does not know reads as the least one, "read".
  for (const role of [0, 4, 255]) {
    const p = encodeAuthOk({ id: 1, role: "admin", user: "u" }).subarray(HEADER_SIZE).slice();
    p[4] = role;
    assert.equal(decodeAuthOk(p).role, "read", `role ${role}`);
  }
  // Sizes that must be known refuse all-ones.
  const info = encodeFileInfo({ id: 1, size: 5, mtime: null }).subarray(HEADER_SIZE).slice();
  info.fill(0xff, 4, 12);
  assertFerry(() => decodeFileInfo(info), "BAD_ARGUMENT", "FILE_INFO size all-ones");
  const eof = encodeEof({ id: 1, size: 5, sha256: new Uint8Array(32) }).subarray(HEADER_SIZE)
    .slice();
  eof.fill(0xff, 4, 12);
  assertFerry(() => decodeEof(eof), "BAD_ARGUMENT", "EOF size all-ones");
  // ERROR: an unknown code reads as INTERNAL.
  const e = encodeError({ id: 1, code: "NOT_FOUND", message: "m" }).subarray(HEADER_SIZE).slice();
  e[4] = 0x12;
  e[5] = 0x34;
  assert.equal(decodeError(e).code, "INTERNAL");
  // DOWNLOAD: the offset may not be "unknown".
  const d = encodeDownload({ id: 1, offset: 0, path: "f" }).subarray(HEADER_SIZE).slice();
  d.fill(0xff, 4, 12);
  assertFerry(() => decodeDownload(d), "BAD_ARGUMENT", "DOWNLOAD offset all-ones");
});

Deno.test("messages: payload size limits", () => {
  // DOWNLOAD: 4 + 8 + 2 + path; the largest path that fits is 65521 bytes.
  const fits = "a".repeat(MAX_PAYLOAD - 14);
  const frame = encodeDownload({ id: 1, offset: 0, path: fits });
  assert.equal(frame.length, HEADER_SIZE + MAX_PAYLOAD);
  assert.equal(decodeDownload(frame.subarray(HEADER_SIZE)).path, fits);
  assertFerry(() => encodeDownload({ id: 1, offset: 0, path: fits + "a" }), "BAD_ARGUMENT");
  assertFerry(
    () => encodePathRequest(SERVICES.LIST, { id: 1, path: "é".repeat(40000) }),
    "BAD_ARGUMENT",
  );
  // ERROR messages are cut to at most 1 KiB of UTF-8.
  for (const message of ["x".repeat(1025), "é".repeat(600), "😀".repeat(300), "日".repeat(5000)]) {
    const got = decodeError(
      encodeError({ id: 9, code: "INTERNAL", message }).subarray(HEADER_SIZE),
    );
    assert.ok(new TextEncoder().encode(got.message).length <= 1024);
    assert.ok(got.message.endsWith("…"));
  }
  const exact = "y".repeat(1024);
  assert.equal(
    decodeError(encodeError({ id: 9, code: "INTERNAL", message: exact }).subarray(HEADER_SIZE))
      .message,
    exact,
  );
  // EOF needs a 32-byte digest.
  assert.throws(() => encodeEof({ id: 1, size: 0, sha256: new Uint8Array(31) }), RangeError);
});

Deno.test("messages: peekRequestId", () => {
  assert.equal(peekRequestId(new Uint8Array([0, 0, 1])), undefined);
  assert.equal(peekRequestId(new Uint8Array([0xde, 0xad, 0xbe, 0xef, 1])), 0xdeadbeef);
  const backing = new Uint8Array([9, 9, 0, 0, 0, 5]);
  assert.equal(peekRequestId(backing.subarray(2)), 5);
});

// Regression (was a bug): payload encoders used DataView setters, which wrap out-of-range values
// silently (id 2^32 became 0, the id reserved for connection-level errors), and putU64 wrote
// sizes the decoders refuse. They now throw RangeError, like the header encoder.
Deno.test("messages: encoders refuse out-of-range integers instead of wrapping", () => {
  const cases: [string, () => Uint8Array][] = [
    ["OK id 2^32", () => encodeIdOnly(SERVICES.OK, 2 ** 32)],
    ["OK id -1", () => encodeIdOnly(SERVICES.OK, -1)],
    ["OK id 1.5", () => encodeIdOnly(SERVICES.OK, 1.5)],
    ["LIST id 2^32+7", () => encodePathRequest(SERVICES.LIST, { id: 2 ** 32 + 7, path: "a" })],
    [
      "HELLO maxVersion 65537",
      () => encodeHello({ id: 1, minVersion: 1, maxVersion: 65537, agent: "" }),
    ],
    ["WELCOME version -1", () => encodeWelcome({ id: 1, version: -1, agent: "" })],
    ["DOWNLOAD offset 2^53", () => encodeDownload({ id: 1, offset: 2 ** 53, path: "a" })],
    ["UPLOAD size -2", () => encodeUpload({ id: 1, size: -2, mtime: null, path: "a" })],
    ["UPLOAD mtime NaN", () => encodeUpload({ id: 1, size: 0, mtime: NaN, path: "a" })],
    ["FILE_INFO size 0.5", () => encodeFileInfo({ id: 1, size: 0.5, mtime: null })],
    ["EOF size 2^64", () => encodeEof({ id: 1, size: 2 ** 64, sha256: new Uint8Array(32) })],
    ["DATA id 2^32", () => encodeDataFrames(SERVICES.UPLOAD_DATA, 2 ** 32, new Uint8Array(1))],
    ["DATA id -1", () => encodeDataFrames(SERVICES.DOWNLOAD_DATA, -1, new Uint8Array())],
  ];
  const wrapped: string[] = [];
  for (const [name, encode] of cases) {
    let frame: Uint8Array;
    try {
      frame = encode();
    } catch (err) {
      assert.ok(err instanceof RangeError, `${name}: ${err}`);
      continue; // refused: good
    }
    wrapped.push(`${name} → payload ${hex(frame.subarray(HEADER_SIZE, HEADER_SIZE + 12))}`);
  }
  assert.deepEqual(wrapped, [], "encoded without complaint:\n" + wrapped.join("\n"));
  // The boundaries themselves are accepted.
  encodeIdOnly(SERVICES.OK, 0xffffffff);
  encodeUpload({ id: 0, size: Number.MAX_SAFE_INTEGER, mtime: 0, path: "a" });
  encodeUpload({ id: 0, size: UNKNOWN_SIZE, mtime: null, path: "a" });
});

// ---------------------------------------------------------------------------------------------
// Data frames

function decodeAllData(bytes: Uint8Array, service: ServiceName, id: number): Uint8Array {
  const d = createFrameDecoder();
  const frames = d.push(bytes);
  assert.equal(d.buffered, 0);
  const parts: Uint8Array[] = [];
  frames.forEach((f, i) => {
    assert.equal(f.type, SERVICES[service].type);
    assert.equal(f.num, SERVICES[service].num);
    assert.equal(f.version, PROTOCOL_VERSION);
    assert.ok(f.payload.length <= MAX_PAYLOAD);
    const m = decodeData(f.payload);
    assert.equal(m.id, id);
    if (i < frames.length - 1) assert.equal(m.data.length, DATA_CHUNK, "only the last is short");
    parts.push(m.data);
  });
  assert.equal(
    frames.length,
    Math.max(1, Math.ceil(parts.reduce((n, p) => n + p.length, 0) / DATA_CHUNK)),
  );
  return concat(parts);
}

Deno.test("data frames: split at DATA_CHUNK boundaries", () => {
  assert.equal(DATA_CHUNK, 65531);
  const cases: [number, number][] = [
    [0, 1],
    [1, 1],
    [DATA_CHUNK - 1, 1],
    [DATA_CHUNK, 1],
    [DATA_CHUNK + 1, 2],
    [2 * DATA_CHUNK, 2],
    [3 * DATA_CHUNK + 5, 4],
  ];
  for (const [n, frames] of cases) {
    for (const service of ["DOWNLOAD_DATA", "UPLOAD_DATA"] as const) {
      const data = pattern(n, n);
      const id = 0xfedcba98;
      const out = encodeDataFrames(SERVICES[service], id, data);
      assert.equal(out.length, dataFramesSize(n), `dataFramesSize(${n})`);
      assert.equal(out.length, n + frames * (HEADER_SIZE + ID_SIZE));
      assert.ok(bytesEqual(decodeAllData(out, service, id), data), `${n} bytes`);
    }
  }
  // 0 bytes: one frame with a 4-byte payload (just the id).
  assert.equal(
    hex(encodeDataFrames(SERVICES.UPLOAD_DATA, 258, new Uint8Array())),
    "00 01 00 03 00 01 00 04 00 00 01 02",
  );
});

Deno.test("data frames: any data reassembles (size:max)", () => {
  fc.assert(
    fc.property(
      u32,
      fc.oneof(
        fc.uint8Array({ maxLength: 3 * DATA_CHUNK, size: "max" }),
        fc.nat({ max: 4 * DATA_CHUNK }).map((n) => pattern(n, n)),
      ),
      (id, data) => {
        const out = encodeDataFrames(SERVICES.DOWNLOAD_DATA, id, data);
        assert.equal(out.length, dataFramesSize(data.length));
        assert.ok(bytesEqual(decodeAllData(out, "DOWNLOAD_DATA", id), data));
      },
    ),
    { numRuns: 40, ...BOUNDED },
  );
});

Deno.test("data frames: reuse of a target buffer", () => {
  const backing = new Uint8Array(dataFramesSize(2 * DATA_CHUNK + 3) + 40).fill(0xaa);
  const target = backing.subarray(16, backing.length - 8); // a view with a byteOffset
  for (const n of [2 * DATA_CHUNK + 3, 10, 0, DATA_CHUNK]) {
    const data = pattern(n, n + 1);
    const out = encodeDataFrames(SERVICES.UPLOAD_DATA, n, data, target);
    assert.equal(out.buffer, backing.buffer, "written into the target");
    assert.equal(out.byteOffset, target.byteOffset);
    assert.equal(out.length, dataFramesSize(n));
    assert.ok(bytesEqual(out, encodeDataFrames(SERVICES.UPLOAD_DATA, n, data)));
    assert.ok(bytesEqual(decodeAllData(out, "UPLOAD_DATA", n), data));
    assert.ok(backing.subarray(0, 16).every((b) => b === 0xaa), "nothing before the target");
    assert.ok(backing.subarray(backing.length - 8).every((b) => b === 0xaa), "nothing after");
  }
  assert.throws(
    () => encodeDataFrames(SERVICES.UPLOAD_DATA, 1, new Uint8Array(100), new Uint8Array(111)),
    RangeError,
  );
  encodeDataFrames(SERVICES.UPLOAD_DATA, 1, new Uint8Array(100), new Uint8Array(112));
});

// ---------------------------------------------------------------------------------------------
// bytes.ts

function u64Bytes(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, false);
  return b;
}

Deno.test("bytes: readU64 limits", () => {
  assert.equal(readU64(cursor(u64Bytes(0n)), "x"), 0);
  assert.equal(readU64(cursor(u64Bytes(2n ** 53n - 1n)), "x"), Number.MAX_SAFE_INTEGER);
  assert.equal(readU64(cursor(u64Bytes(0x0001020304050607n)), "x"), 0x0001020304050607);
  for (const v of [2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 2n]) {
    assertFerry(() => readU64(cursor(u64Bytes(v)), "x"), "BAD_ARGUMENT", `${v}`);
  }
  assert.equal(readU64(cursor(u64Bytes(2n ** 64n - 1n)), "x"), UNKNOWN_SIZE);
  assert.equal(UNKNOWN_SIZE, -1);
  // Through a decoder: FILE_INFO size above 2^53-1 is refused.
  const p = encodeFileInfo({ id: 1, size: 0, mtime: 0 }).subarray(HEADER_SIZE).slice();
  p.set(u64Bytes(2n ** 53n), 4);
  assertFerry(() => decodeFileInfo(p), "BAD_ARGUMENT", "FILE_INFO size 2^53");
  p.set(u64Bytes(2n ** 53n - 1n), 4);
  p.set(u64Bytes(2n ** 60n), 12);
  assertFerry(() => decodeFileInfo(p), "BAD_ARGUMENT", "FILE_INFO mtime 2^60");
});

Deno.test("bytes: integer readers are big-endian and check length", () => {
  const c = cursor(new Uint8Array([0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07]));
  assert.equal(readU8(c, "a"), 0x01);
  assert.equal(readU16(c, "b"), 0x0203);
  assert.equal(readU32(c, "c"), 0x04050607);
  assert.equal(c.offset, 7);
  assertFerry(() => readU8(c, "d"), "BAD_ARGUMENT");
  assertFerry(() => readU16(cursor(new Uint8Array(1)), "e"), "BAD_ARGUMENT");
  assertFerry(() => readU32(cursor(new Uint8Array(3)), "f"), "BAD_ARGUMENT");
  assertFerry(() => readU64(cursor(new Uint8Array(7)), "g"), "BAD_ARGUMENT");
  // A cursor over a view with a byteOffset reads the view, not its backing buffer.
  const view = new Uint8Array([0xaa, 0xbb, 0x00, 0x2a]).subarray(2);
  assert.equal(readU16(cursor(view), "h"), 42);
  assertFerry(() => readU32(cursor(view), "i"), "BAD_ARGUMENT");
});

Deno.test("bytes: strings and blobs", () => {
  // An inner length beyond the payload.
  assertFerry(() => readBlob(cursor(new Uint8Array([0, 5, 1, 2, 3, 4])), "b"), "BAD_ARGUMENT");
  assertFerry(() => readString(cursor(new Uint8Array([0xff, 0xff])), "s"), "BAD_ARGUMENT");
  assert.equal(readString(cursor(new Uint8Array([0, 0])), "s"), "");
  assert.equal(readString(cursor(new Uint8Array([0, 2, 0xc3, 0xa9, 9])), "s"), "é");
  for (const bad of INVALID_UTF8) {
    const b = new Uint8Array([0, bad.length, ...bad]);
    const err = assertFerry(() => readString(cursor(b), "path"), "BAD_NAME", hex(b));
    assert.match(err.message, /path is not valid UTF-8/);
  }
  const w = builder(2 + 3);
  putBlob(w, new Uint8Array([1, 2, 3]));
  assert.equal(hex(w.bytes), "00 03 01 02 03");
  assert.throws(() => putBlob(builder(70000), new Uint8Array(0x10000)), RangeError);
});

// ---------------------------------------------------------------------------------------------
// Fuzz: decoders only ever throw FerryError

const DECODERS: [string, (p: Uint8Array) => unknown][] = [
  ["decodeHello", decodeHello],
  ["decodeWelcome", decodeWelcome],
  ["decodeAuth", decodeAuth],
  ["decodeAuthOk", decodeAuthOk],
  ["decodePathRequest", decodePathRequest],
  ["decodeListEntries", decodeListEntries],
  ["decodeDownload", decodeDownload],
  ["decodeFileInfo", decodeFileInfo],
  ["decodeUpload", decodeUpload],
  ["decodeData", decodeData],
  ["decodeEof", decodeEof],
  ["decodeError", decodeError],
  ["decodeIdOnly", decodeIdOnly],
];

function onlyFerryErrors(payload: Uint8Array): void {
  for (const [name, decode] of DECODERS) {
    try {
      decode(payload);
    } catch (err) {
      if (!(err instanceof FerryError)) {
        assert.fail(`${name}(${hex(payload.subarray(0, 64))}) threw ${err}`);
      }
      assert.ok(["BAD_ARGUMENT", "BAD_NAME"].includes(err.code), `${name}: ${err.code}`);
    }
  }
}

Deno.test("fuzz: random bytes make decoders throw only FerryError", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        { weight: 10, arbitrary: fc.uint8Array({ maxLength: 80 }) },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: MAX_PAYLOAD, size: "max" }) },
        // Random bytes with plausible small counts and lengths.
        {
          weight: 10,
          arbitrary: fc.array(fc.constantFrom(0, 1, 2, 0x7f, 0x80, 0xc0, 0xed, 0xff), {
            maxLength: 120,
          }).map((a) => new Uint8Array(a)),
        },
      ),
      (payload) => {
        onlyFerryErrors(payload);
        // And the same bytes as a view into a larger buffer.
        const backing = new Uint8Array(payload.length + 3);
        backing.set(payload, 3);
        onlyFerryErrors(backing.subarray(3));
      },
    ),
    { numRuns: 3000, ...BOUNDED },
  );
});

Deno.test("fuzz: mutated valid payloads make decoders throw only FerryError", () => {
  const mutation = fc.record({
    index: fc.integer({ min: 0, max: CODECS.length - 1 }),
    seed: fc.nat(),
    flips: fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 6 }),
    cut: fc.option(fc.nat(), { nil: undefined }),
    extra: fc.uint8Array({ maxLength: 16 }),
  }, PLAIN);
  fc.assert(
    fc.property(mutation, ({ index, seed, flips, cut, extra }) => {
      const c = CODECS[index];
      const [m] = fc.sample(c.arb, { numRuns: 1, seed });
      let p = splitFrame(c, c.encode(m)).slice();
      for (const [at, v] of flips) if (p.length > 0) p[at % p.length] = v;
      if (cut !== undefined) p = p.subarray(0, cut % (p.length + 1));
      onlyFerryErrors(concat([p, extra]));
    }),
    { numRuns: 2000, ...BOUNDED },
  );
});

// ---------------------------------------------------------------------------------------------
// errors.ts

Deno.test("errors: code numbers are unique u16s; names round trip", () => {
  const entries = Object.entries(ERROR_CODES) as [ErrorCode, number][];
  const numbers = entries.map(([, n]) => n);
  assert.equal(new Set(numbers).size, numbers.length, "unique numbers");
  for (const [name, n] of entries) {
    assert.ok(Number.isInteger(n) && n > 0 && n <= 0xffff, name);
    assert.equal(errorCodeName(n), name);
  }
  // Wire codes are 1..25; 100+ are local-only.
  assert.deepEqual(
    numbers.filter((n) => n < 100).sort((a, b) => a - b),
    Array.from({ length: 25 }, (_, i) => i + 1),
  );
  const unknown = [0, 26, 99, Math.max(...numbers) + 1, 999, 0xffff, -1, 1.5];
  for (const n of unknown.filter((n) => !numbers.includes(n))) {
    assert.equal(errorCodeName(n), "INTERNAL", `${n}`);
  }
});

Deno.test("errors: FerryError carries its code", () => {
  const e = new FerryError("NOT_FOUND", "no such file", { cause: 1 });
  assert.ok(e instanceof Error);
  assert.equal(e.name, "FerryError");
  assert.equal(e.code, "NOT_FOUND");
  assert.equal(e.cause, 1);
  assert.ok(isFerryError(e));
  assert.ok(isFerryError(e, "NOT_FOUND"));
  assert.ok(!isFerryError(e, "BAD_NAME"));
  assert.ok(!isFerryError(new Error("x")));
});

// ---------------------------------------------------------------------------------------------
// services.ts

Deno.test("services: the original numbers are kept", () => {
  const original: [ServiceName, number, number][] = [
    ["LIST", 0, 0],
    ["DELETE", 0, 1],
    ["DOWNLOAD", 1, 0],
    ["DOWNLOAD_DATA", 1, 1],
    ["UPLOAD", 1, 2],
    ["UPLOAD_DATA", 1, 3],
    ["CLOSE_SERVER", 2, 3],
  ];
  for (const [name, type, num] of original) {
    assert.deepEqual(SERVICES[name], { type, num }, name);
  }
});

Deno.test("services: every (type, num) pair is unique and u16", () => {
  const keys = new Set<number>();
  for (
    const [name, s] of Object.entries(SERVICES) as [ServiceName, { type: number; num: number }][]
  ) {
    assert.ok(s.type >= 0 && s.type <= 0xffff && s.num >= 0 && s.num <= 0xffff, name);
    const k = serviceKey(s.type, s.num);
    assert.ok(!keys.has(k), `${name} (${s.type},${s.num}) is taken`);
    keys.add(k);
    assert.equal(serviceName(s.type, s.num), name);
  }
  assert.equal(serviceName(0, 99), undefined);
  assert.equal(serviceName(9, 9), undefined);
  assert.equal(serviceName(0xffff, 0xffff), undefined);
  assert.notEqual(serviceKey(0, 0x10000 - 1), serviceKey(1, 0));
});

Deno.test("services: version range", () => {
  assert.equal(PROTOCOL_VERSION, 1);
  assert.ok(MIN_VERSION <= PROTOCOL_VERSION && PROTOCOL_VERSION <= MAX_VERSION);
});

Deno.test("putDataFrameHeader frames data read in place exactly like encodeDataFrames", () => {
  const data = new Uint8Array(DATA_CHUNK + 100).map((_, i) => i % 251);
  const out = new Uint8Array(2 * DATA_FRAME_SIZE);
  let end = 0;
  for (let o = 0; o < data.length; o += DATA_CHUNK) {
    const piece = data.subarray(o, o + DATA_CHUNK);
    out.set(piece, end + HEADER_SIZE + ID_SIZE);
    putDataFrameHeader(SERVICES.DOWNLOAD_DATA, 77, piece.length, out, end);
    end += HEADER_SIZE + ID_SIZE + piece.length;
  }
  assert.deepEqual(out.subarray(0, end), encodeDataFrames(SERVICES.DOWNLOAD_DATA, 77, data));
  assert.throws(() => putDataFrameHeader(SERVICES.DOWNLOAD_DATA, 2 ** 32, 1, out, 0), RangeError);
  assert.throws(
    () => putDataFrameHeader(SERVICES.DOWNLOAD_DATA, 1, DATA_CHUNK + 1, out, 0),
    RangeError,
  );
});
