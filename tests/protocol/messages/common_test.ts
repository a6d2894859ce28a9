/**
 * Tests of `protocol/messages/common.ts`: the frame builder, the request id, and the digest
 * payload of HASH_RESULT and UPLOAD_PARTIAL.
 */

import assert from "node:assert/strict";

import { HEADER_SIZE, MAX_PAYLOAD } from "../../../protocol/frame.ts";
import { SERVICES } from "../../../protocol/services.ts";
import { putU8 } from "../../../protocol/bytes.ts";
import { frameWith, peekRequestId } from "../../../protocol/messages/common.ts";
import { assertFerry, hex } from "../_helpers.ts";
import { codecTests } from "./_suite.ts";

codecTests("common");

Deno.test("messages: peekRequestId", () => {
  assert.equal(peekRequestId(new Uint8Array([0, 0, 1])), undefined);
  assert.equal(peekRequestId(new Uint8Array([0xde, 0xad, 0xbe, 0xef, 1])), 0xdeadbeef);
  const backing = new Uint8Array([9, 9, 0, 0, 0, 5]);
  assert.equal(peekRequestId(backing.subarray(2)), 5);
});

Deno.test("messages: frameWith writes the header with version 1 and Data_Len, then the payload", () => {
  const frame = frameWith(SERVICES.MKDIR, 2, (b) => {
    putU8(b, 0xab);
    putU8(b, 0xcd);
  });
  assert.equal(hex(frame), "00 00 00 07 00 01 00 02 ab cd");
  assert.equal(frameWith(SERVICES.OK, MAX_PAYLOAD, () => {}).length, HEADER_SIZE + MAX_PAYLOAD);
  assertFerry(() => frameWith(SERVICES.OK, MAX_PAYLOAD + 1, () => {}), "BAD_ARGUMENT");
});
