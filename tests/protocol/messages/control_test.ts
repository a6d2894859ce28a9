/**
 * Tests of `protocol/messages/control.ts`: ERROR and the id-only frames OK, CANCEL and
 * CLOSE_SERVER.
 */

import assert from "node:assert/strict";
import fc from "fast-check";

import { HEADER_SIZE } from "../../../protocol/frame.ts";
import { decodeError, encodeError, MAX_MESSAGE_BYTES } from "../../../protocol/messages/mod.ts";
import { BOUNDED, largest } from "../_helpers.ts";
import { cutMessage, errorMessageArb, longMessageArb, MAX_ERROR_CODE_POINTS } from "./_codecs.ts";
import { codecTests } from "./_suite.ts";

codecTests("control");

const utf8 = new TextEncoder();

Deno.test("messages: the ERROR message generator reaches past the 1 KiB cut", () => {
  const byteLength = (s: string) => utf8.encode(s).length;
  assert.ok(largest(errorMessageArb, byteLength) > 2 * MAX_MESSAGE_BYTES);
  assert.equal(largest(longMessageArb, (s) => [...s].length), MAX_ERROR_CODE_POINTS);
  const samples = fc.sample(errorMessageArb, { numRuns: 2000, seed: 11 }).map(byteLength);
  assert.ok(samples.some((n) => n === MAX_MESSAGE_BYTES), "exactly at the cut");
  assert.ok(samples.some((n) => n === MAX_MESSAGE_BYTES + 1), "one byte past it");
});

Deno.test("messages: ERROR messages over 1,024 UTF-8 bytes are cut on a code point boundary to at most 1,021 bytes and …", () => {
  fc.assert(
    fc.property(errorMessageArb, (message) => {
      const got =
        decodeError(encodeError({ id: 9, code: "INTERNAL", message }).subarray(HEADER_SIZE))
          .message;
      assert.ok(utf8.encode(got).length <= MAX_MESSAGE_BYTES);
      if (utf8.encode(message).length <= MAX_MESSAGE_BYTES) {
        assert.equal(got, message);
      } else {
        assert.ok(got.endsWith("…"));
        assert.equal(got, cutMessage(message));
      }
    }),
    { numRuns: 1000, ...BOUNDED },
  );
});

Deno.test("messages: the ERROR cut in bytes: 1,021 ASCII bytes, 510 two-byte or 255 four-byte code points, then … (3 bytes)", () => {
  const wire = (message: string) =>
    encodeError({ id: 1, code: "INTERNAL", message }).subarray(HEADER_SIZE + 8);
  assert.deepEqual(wire("x".repeat(1024)), utf8.encode("x".repeat(1024)), "1,024 bytes: kept");
  const cases: [string, string, number][] = [
    ["x".repeat(1025), "x".repeat(1021), 1024],
    ["é".repeat(600), "é".repeat(510), 1023],
    ["😀".repeat(300), "😀".repeat(255), 1023],
    // A 3-byte character straddling byte 1,021 is left out whole.
    ["x".repeat(1019) + "€".repeat(10), "x".repeat(1019), 1022],
  ];
  for (const [message, kept, length] of cases) {
    const bytes = wire(message);
    assert.equal(bytes.length, length);
    assert.deepEqual(bytes, utf8.encode(kept + "…"));
    assert.equal(new TextDecoder("utf-8", { fatal: true }).decode(bytes), kept + "…");
  }
});

Deno.test("messages: ERROR reads an unknown code number as INTERNAL", () => {
  const e = encodeError({ id: 1, code: "NOT_FOUND", message: "m" }).subarray(HEADER_SIZE).slice();
  e[4] = 0x12;
  e[5] = 0x34;
  assert.equal(decodeError(e).code, "INTERNAL");
});
