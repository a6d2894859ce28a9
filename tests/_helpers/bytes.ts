/**
 * Byte helpers shared by the tests: concatenation, random bytes, SHA-256 and XXH3-128
 * (independent of the product's hashing: node:crypto and the npm package `hash-wasm`), and
 * searching.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { xxhash128 } from "hash-wasm";

/** 1,024 bytes. */
export const KiB = 1024;
/** 1,048,576 bytes. */
export const MiB = 1024 * 1024;

/** Concatenates byte arrays into one new array. */
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** `n` pseudo-random bytes (crypto.getRandomValues fills at most 64 KiB per call). */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let o = 0; o < n; o += 65536) {
    crypto.getRandomValues(out.subarray(o, Math.min(n, o + 65536)));
  }
  return out;
}

/** `bytes` random bytes as lowercase hex. */
export function randomHex(bytes: number): string {
  return randomBytes(bytes).toHex();
}

/** Hex SHA-256 of bytes or of a string's UTF-8. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** SHA-256 of bytes, as 32 bytes. */
export function sha256Bytes(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(data).digest());
}

/**
 * Hex XXH3-128 of bytes, by the npm package `hash-wasm` (not by `common/xxh128/`, the code under
 * test): the default checksum of transfers between a client and a server of this version.
 */
export function xxh128Hex(data: Uint8Array): Promise<string> {
  return xxhash128(data);
}

/** Index of `needle` in `haystack`, or -1. */
export function indexOfBytes(haystack: Uint8Array, needle: Uint8Array): number {
  if (needle.length === 0) return 0;
  const first = needle[0];
  outer: for (let i = haystack.indexOf(first); i !== -1; i = haystack.indexOf(first, i + 1)) {
    if (i + needle.length > haystack.length) return -1;
    for (let j = 1; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
