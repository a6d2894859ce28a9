/**
 * Tests of `protocol/errors.ts`: the code table, `FerryError`, the error classes and their
 * predicates, and `messageOf`.
 */

import assert from "node:assert/strict";

import {
  endsConnection,
  ERROR_CLASSES,
  ERROR_CODES,
  type ErrorClass,
  type ErrorCode,
  errorCodeName,
  FerryError,
  inClass,
  isFerryError,
  isInterruption,
  isRefusal,
  isSessionFailure,
  messageOf,
} from "../../protocol/errors.ts";

const ALL_CODES = Object.keys(ERROR_CODES) as ErrorCode[];

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

// The lists each class replaces, as written at its call site before issue 9. A change here is a
// change of behaviour at that call site.
const EXPECTED: Record<ErrorClass, ErrorCode[]> = {
  // client/mux.ts:52 FATAL_CONNECTION_ERRORS; PROTOCOL.md §2.2.
  endsConnection: ["BUSY", "TIMEOUT", "BAD_FRAME", "SHUTTING_DOWN"],
  // client/client.ts:697 isInterruption.
  interruption: ["CONNECTION_CLOSED", "UNREACHABLE", "TIMEOUT", "SHUTTING_DOWN"],
  // client/transfer.ts:493, the errors that end a multi-file transfer.
  sessionFailure: [
    "CONNECTION_CLOSED",
    "UNREACHABLE",
    "TIMEOUT",
    "SHUTTING_DOWN",
    "TLS",
    "UNAUTHENTICATED",
  ],
  // server/connection.ts:32 PROTOCOL_REFUSALS.
  refusal: [
    "BAD_FRAME",
    "UNSUPPORTED",
    "UNSUPPORTED_VERSION",
    "BAD_ARGUMENT",
    "BAD_NAME",
    "OUTSIDE_ROOT",
    "NAME_TOO_LONG",
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "UNKNOWN_REQUEST",
    "DUPLICATE_REQUEST",
  ],
};

Deno.test("errors: each class holds exactly the codes of the list it replaces", () => {
  assert.deepEqual(Object.keys(ERROR_CLASSES).sort(), Object.keys(EXPECTED).sort());
  for (const cls of Object.keys(EXPECTED) as ErrorClass[]) {
    assert.deepEqual([...ERROR_CLASSES[cls]].sort(), [...EXPECTED[cls]].sort(), cls);
    for (const code of ALL_CODES) {
      assert.equal(inClass(cls, code), EXPECTED[cls].includes(code), `${cls} ${code}`);
    }
  }
});

Deno.test("errors: endsConnection needs request id 0 and a code of its class", () => {
  for (const code of ALL_CODES) {
    const listed = EXPECTED.endsConnection.includes(code);
    assert.equal(endsConnection({ id: 0, code }), listed, `id 0 ${code}`);
    for (const id of [1, 7, 0xffffffff]) {
      assert.equal(endsConnection({ id, code }), false, `id ${id} ${code}`);
    }
  }
});

Deno.test("errors: isInterruption and isSessionFailure take FerryErrors of their class", () => {
  for (const code of ALL_CODES) {
    const err = new FerryError(code, "m");
    assert.equal(isInterruption(err), EXPECTED.interruption.includes(code), `interruption ${code}`);
    assert.equal(
      isSessionFailure(err),
      EXPECTED.sessionFailure.includes(code),
      `sessionFailure ${code}`,
    );
  }
  // Anything that is not a FerryError is neither, even with a matching `code`.
  for (const other of [new Error("x"), { code: "TIMEOUT" }, "TIMEOUT", null, undefined]) {
    assert.equal(isInterruption(other), false);
    assert.equal(isSessionFailure(other), false);
  }
  // Every interruption is a session failure.
  for (const code of EXPECTED.interruption) assert.ok(EXPECTED.sessionFailure.includes(code));
});

Deno.test("errors: isRefusal is true exactly for the flood-budget refusals", () => {
  for (const code of ALL_CODES) {
    assert.equal(isRefusal(code), EXPECTED.refusal.includes(code), code);
  }
});

Deno.test("errors: messageOf gives an Error's message, or the value as a string", () => {
  assert.equal(messageOf(new Error("boom")), "boom");
  assert.equal(messageOf(new FerryError("NOT_FOUND", "gone")), "gone");
  assert.equal(messageOf(new TypeError("")), "");
  assert.equal(messageOf("plain"), "plain");
  assert.equal(messageOf(42), "42");
  assert.equal(messageOf(undefined), "undefined");
  assert.equal(messageOf(null), "null");
  assert.equal(messageOf({ message: "not an Error" }), "[object Object]");
});
