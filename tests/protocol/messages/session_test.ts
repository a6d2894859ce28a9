/**
 * Tests of `protocol/messages/session.ts`: HELLO, WELCOME, AUTH, AUTH_OK.
 */

import assert from "node:assert/strict";

import { HEADER_SIZE } from "../../../protocol/frame.ts";
import { decodeAuthOk, encodeAuthOk } from "../../../protocol/messages/mod.ts";
import { codecTests } from "./_suite.ts";

codecTests("session");

Deno.test("messages: AUTH_OK reads a role this version does not know as read", () => {
  for (const role of [0, 4, 255]) {
    const p = encodeAuthOk({ id: 1, role: "admin", user: "u" }).subarray(HEADER_SIZE).slice();
    p[4] = role;
    assert.equal(decodeAuthOk(p).role, "read", `role ${role}`);
  }
});
