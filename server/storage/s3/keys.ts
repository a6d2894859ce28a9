/**
 * Object keys on the wire: checking them, percent-encoding them for URLs and for
 * `x-amz-copy-source`, decoding them from `encoding-type=url` list replies, and ordering them
 * as S3 does (by UTF-8 bytes).
 *
 * @module
 */

import { FerryError } from "../../../protocol/errors.ts";

/** S3's limit on a key: 1,024 bytes of UTF-8. */
export const MAX_KEY_BYTES = 1024;

const encoder = new TextEncoder();

/**
 * Throws `BAD_NAME` unless `key` can be sent as an object key: not empty, well-formed UTF-16
 * (no lone surrogates, which have no UTF-8 form), and no `.` or `..` segment (a URL parser
 * would resolve those, so the request would name another key). `NAME_TOO_LONG` past 1,024 bytes.
 */
export function checkKey(key: string): void {
  if (key === "") throw new FerryError("BAD_NAME", "an object key may not be empty");
  if (!key.isWellFormed()) {
    throw new FerryError("BAD_NAME", "an object key may not hold lone surrogates");
  }
  if (encoder.encode(key).length > MAX_KEY_BYTES) {
    throw new FerryError("NAME_TOO_LONG", `an object key is at most ${MAX_KEY_BYTES} bytes`);
  }
  for (const segment of key.split("/")) {
    if (segment === "." || segment === "..") {
      throw new FerryError("BAD_NAME", `an object key may not have a "${segment}" segment`);
    }
  }
}

/**
 * Percent-encodes `s` as RFC 3986 wants for SigV4: everything but `A-Z a-z 0-9 - _ . ~`.
 * Unlike `encodeURIComponent` this also encodes `! ' ( ) *`.
 */
export function encodeRfc3986(s: string): string {
  return encodeURIComponent(s).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** Encodes a key for a URL path: each `/`-separated segment with {@linkcode encodeRfc3986}. */
export function encodeKeyPath(key: string): string {
  return key.split("/").map(encodeRfc3986).join("/");
}

/**
 * Decodes a value from a list reply made with `encoding-type=url` (keys, prefixes, markers).
 * AWS encodes a space as `+` (form encoding) and Ceph as `%20`; both encode a literal `+` as
 * `%2B`, so `+` → space, then percent-decoding, reads both.
 */
export function decodeListValue(s: string): string {
  return decodeURIComponent(s.replaceAll("+", " "));
}

/**
 * Compares two keys in S3's listing order, by their UTF-8 bytes (that is, by code points;
 * plain `<` on strings compares UTF-16 units, which orders U+E000..U+FFFF after astral characters
 * the other way round).
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i), y = b.charCodeAt(i);
    if (x === y) continue;
    const xs = x >= 0xd800 && x <= 0xdfff, ys = y >= 0xd800 && y <= 0xdfff;
    if (xs === ys) return x - y; // both surrogates or both BMP: unit order is code point order
    return xs ? 1 : -1; // a surrogate (astral) sorts after any BMP unit
  }
  return a.length - b.length;
}
