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

Deno.test("messages: ERROR messages over 1 KiB are cut to 256 UTF-16 units and …", () => {
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

Deno.test("messages: ERROR reads an unknown code number as INTERNAL", () => {
  const e = encodeError({ id: 1, code: "NOT_FOUND", message: "m" }).subarray(HEADER_SIZE).slice();
  e[4] = 0x12;
  e[5] = 0x34;
  assert.equal(decodeError(e).code, "INTERNAL");
});
