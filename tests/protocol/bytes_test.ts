/**
 * Tests of `protocol/bytes.ts`: the payload cursor and builder helpers, and `equalBytes`.
 */

import assert from "node:assert/strict";
import fc from "fast-check";

import {
  builder,
  cursor,
  equalBytes,
  putBlob,
  putU64,
  readBlob,
  readString,
  readU16,
  readU32,
  readU64,
  readU8,
  UNKNOWN_SIZE,
} from "../../protocol/bytes.ts";
import { HEADER_SIZE } from "../../protocol/frame.ts";
import { decodeFileInfo, encodeFileInfo } from "../../protocol/messages/mod.ts";
import { assertFerry, BOUNDED, hex, INVALID_UTF8 } from "./_helpers.ts";

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

Deno.test("bytes: putU64 writes what a big-endian BigInt write does, and readU64 reads it back", () => {
  for (
    const v of [0, 1, 0xffff_ffff, 0x1_0000_0000, 0x0001_0203_0405_0607, Number.MAX_SAFE_INTEGER]
  ) {
    const b = builder(8);
    putU64(b, v);
    assert.deepEqual(b.bytes, u64Bytes(BigInt(v)), `${v}`);
    assert.equal(b.offset, 8);
    assert.equal(readU64(cursor(b.bytes), "x"), v);
  }
  const unknown = builder(8);
  putU64(unknown, UNKNOWN_SIZE);
  assert.deepEqual(unknown.bytes, u64Bytes(2n ** 64n - 1n), "unknown is all ones");
  for (const v of [2 ** 53, -2, 1.5, Number.NaN]) {
    assert.throws(() => putU64(builder(8), v), RangeError, `${v}`);
  }
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

Deno.test("bytes: equalBytes compares length and every byte", () => {
  assert.ok(equalBytes(new Uint8Array(), new Uint8Array()));
  assert.ok(equalBytes(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 3])));
  assert.ok(!equalBytes(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2])));
  assert.ok(!equalBytes(new Uint8Array([1, 2]), new Uint8Array([1, 2, 3])));
  assert.ok(!equalBytes(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 4])));
  assert.ok(!equalBytes(new Uint8Array([0, 2, 3]), new Uint8Array([1, 2, 3])));
  // Views compare their own bytes, not their backing buffers.
  const backing = new Uint8Array([9, 1, 2, 9]);
  assert.ok(equalBytes(backing.subarray(1, 3), new Uint8Array([1, 2])));
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 64, size: "max" }),
      fc.nat(),
      fc.integer({ min: 1, max: 255 }),
      (a, at, delta) => {
        assert.ok(equalBytes(a, a.slice()));
        if (a.length === 0) return;
        const b = a.slice();
        b[at % b.length] = (b[at % b.length] + delta) & 0xff;
        assert.ok(!equalBytes(a, b));
      },
    ),
    { numRuns: 500, ...BOUNDED },
  );
});
