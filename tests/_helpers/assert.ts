/**
 * Assertions the tests share: a typed refusal, and equal bytes.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type ErrorCode, FerryError } from "../../protocol/errors.ts";
import { sha256Hex } from "./bytes.ts";

/**
 * Asserts that `p` rejects with a FerryError of `code` whose message holds none of `secrets`,
 * and returns that error.
 */
export async function rejectsWith(
  p: Promise<unknown>,
  code: ErrorCode,
  what = "",
  secrets: readonly string[] = [],
): Promise<FerryError> {
  let value: unknown;
  try {
    value = await p;
  } catch (err) {
    if (!(err instanceof FerryError)) {
      assert.fail(`${what}: expected FerryError ${code}, got ${err}`);
    }
    assert.equal(err.code, code, `${what}: expected ${code}, got ${err.code}: ${err.message}`);
    for (const s of secrets) assert.ok(!err.message.includes(s), `${what} leaks: ${err.message}`);
    return err;
  }
  assert.fail(
    `${what}: expected FerryError ${code}, but it succeeded with ${JSON.stringify(value)}`,
  );
}

/** Asserts two byte arrays are equal (by length and SHA-256, so large ones stay cheap). */
export function assertSameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  assert.equal(sha256Hex(actual), sha256Hex(expected), `${what}: content`);
}
