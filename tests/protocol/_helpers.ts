/**
 * Helpers shared by the protocol unit tests: error assertions, byte patterns and hex, and the
 * fast-check arbitraries and settings every property uses.
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { type ErrorCode, FerryError } from "../../protocol/errors.ts";

/** Runs `fn` and asserts it throws a FerryError with `code` (and nothing else). */
export function assertFerry(fn: () => unknown, code: ErrorCode, what = ""): FerryError {
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

/** Bytes as space-separated hex pairs, for messages and golden comparisons. */
export function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
}

/** Bytes from hex written with any whitespace between (or inside) the pairs. */
export function fromHex(s: string): Uint8Array {
  return Uint8Array.fromHex(s.replace(/\s+/g, ""));
}

/** Deterministic, non-periodic filler bytes (xorshift32), so offset errors show. */
export function pattern(length: number, seed: number): Uint8Array {
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

/**
 * Every property gets at most `ms` (default 20 s), shrinking included (shrinking 64 KiB arrays
 * can otherwise take minutes); hitting the limit fails the test and still prints the
 * counterexample found.
 */
export function bounded(ms = 20_000) {
  return { plugins: [fc.interruptAfterTimeLimit(ms, { failOnInterrupt: true })] };
}

/** The 20 s bound of {@linkcode bounded}. */
export const BOUNDED = bounded();

/** fc.record makes null-prototype objects by default; deepStrictEqual compares prototypes. */
export const PLAIN = { noNullPrototype: true };

/** Any u16. */
export const u16: fc.Arbitrary<number> = fc.integer({ min: 0, max: 0xffff });
/** Any u32, with its edges weighted. */
export const u32: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff),
  fc.integer({ min: 0, max: 0xffffffff }),
);
/** A u64 size, offset or time that a JS number holds exactly. */
export const u64: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(0, 1, 0xffffffff, 2 ** 32, Number.MAX_SAFE_INTEGER),
  fc.maxSafeNat(),
);

/** Longest `text` of the binary kind, in code points; reached (size: "max"). */
export const TEXT_MAX = 40;

/**
 * Any valid Unicode text (no lone surrogates): ASCII, non-ASCII and astral code points, up to
 * {@linkcode TEXT_MAX} code points. `size: "max"` lets fast-check reach the declared lengths
 * (without it, arrays and strings stop at 10 elements).
 */
export const text: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: "binary", maxLength: TEXT_MAX, size: "max" }),
  fc.string({ unit: "grapheme", maxLength: 20, size: "max" }),
  fc.constantFrom("", "docs", "é/ü/ß", "日本語/ファイル", "😀/𝄞", "\uFEFFbom", "a\u0000b"),
);

/**
 * Samples `arb` and returns the largest `measure` seen, so a test can assert that its generator
 * reaches the sizes it declares.
 */
export function largest<T>(arb: fc.Arbitrary<T>, measure: (v: T) => number, runs = 2000): number {
  return Math.max(...fc.sample(arb, { numRuns: runs, seed: 7 }).map(measure));
}

/** Invalid UTF-8 sequences, each of which a strict decoder must refuse. */
export const INVALID_UTF8: number[][] = [
  [0xff],
  [0xc0, 0xaf], // overlong "/"
  [0xed, 0xa0, 0x80], // lone surrogate U+D800
  [0x80], // lone continuation byte
  [0xe2, 0x82], // truncated sequence
  [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
  [0x61, 0x00, 0xfe],
];
