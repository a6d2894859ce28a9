/**
 * Unit and property tests of `protocol/frame.ts` (the 8-byte header and `Frame`), and of the
 * test-only frame encoder the other protocol tests build streams with.
 */

import assert from "node:assert/strict";
import fc from "fast-check";

import { decodeHeader, encodeHeader, HEADER_SIZE, MAX_PAYLOAD } from "../../protocol/frame.ts";
import { equalBytes } from "../../protocol/bytes.ts";
import { BOUNDED, hex, pattern, u16 } from "./_helpers.ts";
import { encodeFrame } from "./_frames.ts";

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
      assert.equal((b[2] << 8) | b[3], num);
      assert.equal((b[4] << 8) | b[5], version);
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

// The test-only encoder below builds every stream the reader tests feed; it is tested here so a
// bug in it cannot hide one in the reader.

Deno.test("frame: encodeFrame (test helper) round trip incl. Data_Len 0 and 65535", () => {
  for (const length of [0, 1, 7, 8, 9, 4096, MAX_PAYLOAD - 1, MAX_PAYLOAD]) {
    const payload = pattern(length, length);
    const frame = { type: 3, num: 0xfffe, version: 7, payload };
    const bytes = encodeFrame(frame);
    assert.equal(bytes.length, HEADER_SIZE + length);
    assert.deepEqual(decodeHeader(bytes), { type: 3, num: 0xfffe, version: 7, length });
    assert.ok(equalBytes(bytes.subarray(HEADER_SIZE), payload));
  }
  assert.equal(
    hex(encodeFrame({ type: 0, num: 0, version: 1, payload: new Uint8Array() })),
    "00 00 00 00 00 01 00 00",
  );
});

Deno.test("frame: encodeFrame (test helper) refuses a payload of 65536 bytes", () => {
  const payload = new Uint8Array(MAX_PAYLOAD + 1);
  assert.throws(() => encodeFrame({ type: 0, num: 0, version: 1, payload }), RangeError);
  assert.throws(
    () => encodeFrame({ type: 0x10000, num: 0, version: 1, payload: payload.subarray(1) }),
    RangeError,
  );
});

Deno.test("frame: encodeFrame (test helper) round trip, size:max payloads", () => {
  fc.assert(
    fc.property(u16, u16, u16, fc.uint8Array({ maxLength: MAX_PAYLOAD, size: "max" }), (
      type,
      num,
      version,
      payload,
    ) => {
      const bytes = encodeFrame({ type, num, version, payload });
      assert.deepEqual(decodeHeader(bytes), { type, num, version, length: payload.length });
      assert.ok(equalBytes(bytes.subarray(HEADER_SIZE), payload));
    }),
    { numRuns: 100, ...BOUNDED },
  );
});
