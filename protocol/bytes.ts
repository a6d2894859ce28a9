/**
 * Cursor helpers for payload fields: big-endian integers, 64-bit sizes that must fit a JS
 * number, and length-prefixed UTF-8 strings decoded strictly; and byte-array equality.
 *
 * @module
 */

import { FerryError } from "./errors.ts";

/** A read position over a payload. */
export interface ByteCursor {
  /** The payload. */
  readonly bytes: Uint8Array;
  /** A view over the same bytes. */
  readonly view: DataView;
  /** Next byte to read. */
  offset: number;
}

/** A write position over a buffer sized in advance. */
export interface ByteBuilder {
  /** The buffer being filled. */
  readonly bytes: Uint8Array;
  /** A view over the same bytes. */
  readonly view: DataView;
  /** Next byte to write. */
  offset: number;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8 = new TextEncoder();

/** Sentinel for "size unknown" in 64-bit size fields. */
export const UNKNOWN_SIZE = -1;

/** Starts reading `bytes` at offset 0. */
export function cursor(bytes: Uint8Array): ByteCursor {
  return { bytes, view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 };
}

/** Allocates a buffer of `size` bytes to fill from offset 0. */
export function builder(size: number): ByteBuilder {
  const bytes = new Uint8Array(size);
  return { bytes, view: new DataView(bytes.buffer), offset: 0 };
}

function need(c: ByteCursor, n: number, field: string): void {
  if (c.bytes.length - c.offset < n) {
    throw new FerryError(
      "BAD_ARGUMENT",
      `payload too short: ${field} needs ${n} bytes at offset ${c.offset}, payload has ${c.bytes.length}`,
    );
  }
}

/** Reads an unsigned byte. */
export function readU8(c: ByteCursor, field: string): number {
  need(c, 1, field);
  return c.view.getUint8(c.offset++);
}

/** Reads a big-endian unsigned 16-bit integer. */
export function readU16(c: ByteCursor, field: string): number {
  need(c, 2, field);
  const v = c.view.getUint16(c.offset, false);
  c.offset += 2;
  return v;
}

/** Reads a big-endian unsigned 32-bit integer. */
export function readU32(c: ByteCursor, field: string): number {
  need(c, 4, field);
  const v = c.view.getUint32(c.offset, false);
  c.offset += 4;
  return v;
}

/**
 * Reads a big-endian unsigned 64-bit size or offset. `0xFFFF_FFFF_FFFF_FFFF` reads as
 * {@linkcode UNKNOWN_SIZE}; any other value above `Number.MAX_SAFE_INTEGER` is refused.
 *
 * @throws {FerryError} `BAD_ARGUMENT` for a value that a JS number cannot hold exactly.
 */
export function readU64(c: ByteCursor, field: string): number {
  need(c, 8, field);
  // Two u32 halves, not a BigInt: this runs twice for every listed entry.
  const high = c.view.getUint32(c.offset, false);
  const low = c.view.getUint32(c.offset + 4, false);
  c.offset += 8;
  if (high === 0xffff_ffff && low === 0xffff_ffff) return UNKNOWN_SIZE;
  if (high > 0x1f_ffff) {
    const v = (BigInt(high) << 32n) | BigInt(low);
    throw new FerryError("BAD_ARGUMENT", `${field} ${v} exceeds 2^53-1`);
  }
  return high * 0x1_0000_0000 + low;
}

/** Reads `n` raw bytes (a view, not a copy). */
export function readBytes(c: ByteCursor, n: number, field: string): Uint8Array {
  need(c, n, field);
  const v = c.bytes.subarray(c.offset, c.offset + n);
  c.offset += n;
  return v;
}

/** Reads the rest of the payload (a view). */
export function readRest(c: ByteCursor): Uint8Array {
  const v = c.bytes.subarray(c.offset);
  c.offset = c.bytes.length;
  return v;
}

/** Reads a u16 length-prefixed byte string (a view). */
export function readBlob(c: ByteCursor, field: string): Uint8Array {
  const n = readU16(c, `${field} length`);
  return readBytes(c, n, field);
}

/**
 * Reads a u16 length-prefixed UTF-8 string.
 *
 * @throws {FerryError} `BAD_NAME` when the bytes are not valid UTF-8 (never replaced by U+FFFD).
 */
export function readString(c: ByteCursor, field: string): string {
  const raw = readBlob(c, field);
  try {
    return strictUtf8.decode(raw);
  } catch {
    throw new FerryError("BAD_NAME", `${field} is not valid UTF-8`);
  }
}

/** Encodes a string as UTF-8. */
export function utf8Bytes(s: string): Uint8Array {
  return utf8.encode(s);
}

function assertRange(v: number, max: number, bits: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new RangeError(`${v} does not fit an unsigned ${bits}-bit field`);
  }
}

/** Writes an unsigned byte. @throws {RangeError} when `v` is not in 0..255. */
export function putU8(b: ByteBuilder, v: number): void {
  assertRange(v, 0xff, 8);
  b.view.setUint8(b.offset++, v);
}

/** Writes a big-endian unsigned 16-bit integer. @throws {RangeError} when out of range. */
export function putU16(b: ByteBuilder, v: number): void {
  assertRange(v, 0xffff, 16);
  b.view.setUint16(b.offset, v, false);
  b.offset += 2;
}

/** Writes a big-endian unsigned 32-bit integer. @throws {RangeError} when out of range. */
export function putU32(b: ByteBuilder, v: number): void {
  assertRange(v, 0xffff_ffff, 32);
  b.view.setUint32(b.offset, v, false);
  b.offset += 4;
}

/**
 * Writes a big-endian unsigned 64-bit integer; {@linkcode UNKNOWN_SIZE} writes all ones.
 *
 * @throws {RangeError} for a value outside 0..2^53-1 (other than `UNKNOWN_SIZE`).
 */
export function putU64(b: ByteBuilder, v: number): void {
  // Two u32 halves, not a BigInt: this runs twice for every listed entry.
  if (v === UNKNOWN_SIZE) {
    b.view.setUint32(b.offset, 0xffff_ffff, false);
    b.view.setUint32(b.offset + 4, 0xffff_ffff, false);
  } else {
    assertRange(v, Number.MAX_SAFE_INTEGER, 53);
    b.view.setUint32(b.offset, Math.floor(v / 0x1_0000_0000), false);
    b.view.setUint32(b.offset + 4, v >>> 0, false);
  }
  b.offset += 8;
}

/** Writes raw bytes. */
export function putBytes(b: ByteBuilder, v: Uint8Array): void {
  b.bytes.set(v, b.offset);
  b.offset += v.length;
}

/** Writes a u16 length-prefixed byte string. */
export function putBlob(b: ByteBuilder, v: Uint8Array): void {
  if (v.length > 0xffff) throw new RangeError(`string of ${v.length} bytes exceeds 65535`);
  putU16(b, v.length);
  putBytes(b, v);
}

/** Returns true when `a` and `b` hold the same bytes. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
