/**
 * What every payload layout shares: the frame builder, the request id that opens every payload,
 * the application types carried by several services (`Role`, `Entry`), the directory entry
 * layout, the checksum algorithms (PROTOCOL.md §3.2) and the digest payload (HASH_RESULT,
 * UPLOAD_PARTIAL).
 *
 * @module
 */

import { encodeHeader, HEADER_SIZE, MAX_PAYLOAD } from "../frame.ts";
import { PROTOCOL_VERSION, type Service } from "../services.ts";
import {
  builder,
  type ByteBuilder,
  type ByteCursor,
  cursor,
  putBlob,
  putBytes,
  putU16,
  putU32,
  putU64,
  putU8,
  readBytes,
  readString,
  readU32,
  readU64,
  readU8,
  UNKNOWN_SIZE,
} from "../bytes.ts";
import { FerryError } from "../errors.ts";

/** Bytes of the request id that opens every payload. */
export const ID_SIZE = 4;
/** Bytes of a SHA-256 digest. */
export const SHA256_SIZE = 32;

/**
 * An end-to-end checksum algorithm (PROTOCOL.md §3.2): `sha256` (SHA-256, what a connection
 * uses unless HELLO and WELCOME chose another) or `xxh128` (XXH3-128, seed 0).
 */
export type ChecksumAlgorithm = "sha256" | "xxh128";

/** The number of each algorithm on the wire. */
export const CHECKSUM_NUMBERS: Readonly<Record<ChecksumAlgorithm, number>> = {
  sha256: 1,
  xxh128: 2,
};

/** Bytes of each algorithm's digest. */
export const DIGEST_SIZES: Readonly<Record<ChecksumAlgorithm, number>> = {
  sha256: SHA256_SIZE,
  xxh128: 16,
};

/** The algorithm numbered `n` on the wire, or `undefined` for a number this version does not know. */
export function checksumNumbered(n: number): ChecksumAlgorithm | undefined {
  return (Object.keys(CHECKSUM_NUMBERS) as ChecksumAlgorithm[]).find((a) =>
    CHECKSUM_NUMBERS[a] === n
  );
}

/**
 * Reads a `u8` checksum algorithm number that must be known.
 *
 * @throws {FerryError} `BAD_ARGUMENT` for a number this version does not know.
 */
export function readChecksum(c: ByteCursor, field: string): ChecksumAlgorithm {
  const n = readU8(c, field);
  const algorithm = checksumNumbered(n);
  if (algorithm === undefined) {
    throw new FerryError("BAD_ARGUMENT", `${field}: unknown checksum algorithm ${n}`);
  }
  return algorithm;
}

/**
 * Checks that `digest` has the size of some algorithm's digest (16 or 32 bytes).
 *
 * @throws {RangeError} otherwise.
 */
export function checkDigestSize(digest: Uint8Array): void {
  if (!Object.values(DIGEST_SIZES).includes(digest.length)) {
    throw new RangeError(`a digest is 16 (XXH3-128) or 32 (SHA-256) bytes, not ${digest.length}`);
  }
}

/** What a token allows. Higher values include the rights of lower ones. */
export type Role = "read" | "write" | "admin";

/** Kind of a directory entry. */
export type EntryKind = "file" | "dir" | "symlink" | "other";
const KIND_NUMBERS: Record<EntryKind, number> = { file: 0, dir: 1, symlink: 2, other: 3 };
const KINDS: EntryKind[] = ["file", "dir", "symlink", "other"];

/** One directory entry. */
export interface Entry {
  /** File name (one path component). */
  name: string;
  /** What it is. Symlinks are reported as such and never followed. */
  kind: EntryKind;
  /** Size in bytes (0 for directories and symlinks). */
  size: number;
  /** Modification time in milliseconds since the Unix epoch, or `null` when unknown. */
  mtime: number | null;
}

/**
 * Builds a whole frame of `service` (header with {@linkcode PROTOCOL_VERSION}, then a payload of
 * exactly `payloadSize` bytes written by `fill`).
 *
 * @throws {FerryError} `BAD_ARGUMENT` when the payload would exceed 65,535 bytes.
 */
export function frameWith(
  service: Service,
  payloadSize: number,
  fill: (b: ByteBuilder) => void,
): Uint8Array {
  if (payloadSize > MAX_PAYLOAD) {
    throw new FerryError("BAD_ARGUMENT", `payload of ${payloadSize} bytes exceeds ${MAX_PAYLOAD}`);
  }
  const b = builder(HEADER_SIZE + payloadSize);
  encodeHeader({ ...service, version: PROTOCOL_VERSION, length: payloadSize }, b.bytes);
  b.offset = HEADER_SIZE;
  fill(b);
  return b.bytes;
}

/** Reads the request id at the start of a payload, or `undefined` if it is shorter than 4 bytes. */
export function peekRequestId(payload: Uint8Array): number | undefined {
  if (payload.length < ID_SIZE) return undefined;
  // Read byte by byte: this runs for every frame, and a DataView per frame is garbage.
  return ((payload[0] << 24) | (payload[1] << 16) | (payload[2] << 8) | payload[3]) >>> 0;
}

/**
 * Reads a u64 that may not be "unknown" (all ones).
 *
 * @throws {FerryError} `BAD_ARGUMENT` for all ones or a value above 2^53-1.
 */
export function readKnownU64(c: ByteCursor, field: string): number {
  const v = readU64(c, field);
  if (v === UNKNOWN_SIZE) throw new FerryError("BAD_ARGUMENT", `${field} may not be unknown`);
  return v;
}

/** Encoded size of one entry with a name of `nameBytes` UTF-8 bytes. */
export function entrySize(nameBytes: number): number {
  return 1 + 8 + 8 + 2 + nameBytes;
}

/** Writes one entry: kind, size, mtime (all ones when unknown), then the name (`name` encoded). */
export function putEntry(b: ByteBuilder, e: Entry, name: Uint8Array): void {
  putU8(b, KIND_NUMBERS[e.kind]);
  putU64(b, e.size);
  putU64(b, e.mtime ?? UNKNOWN_SIZE);
  putBlob(b, name);
}

/** Encodes names straight into frame buffers. */
const utf8 = new TextEncoder();

/**
 * Writes one entry at `b.offset` as {@linkcode putEntry} does, its name encoded in place, and
 * returns true; returns false, leaving `b.offset` where it was, when the entry would pass
 * `end`.
 */
export function putEntryWithin(b: ByteBuilder, e: Entry, end: number): boolean {
  const start = b.offset;
  const nameAt = start + entrySize(0);
  if (nameAt > end) return false;
  const { read, written } = utf8.encodeInto(e.name, b.bytes.subarray(nameAt, end));
  if (read < e.name.length) return false;
  putU8(b, KIND_NUMBERS[e.kind]);
  putU64(b, e.size);
  putU64(b, e.mtime ?? UNKNOWN_SIZE);
  putU16(b, written);
  b.offset += written;
  return true;
}

/** Reads one entry; an unknown kind reads as `"other"`. */
export function readEntry(c: ByteCursor): Entry {
  const kind = KINDS[readU8(c, "kind")] ?? "other";
  const size = readKnownU64(c, "size");
  const mtime = readU64(c, "mtime");
  const name = readString(c, "name");
  return { name, kind, size, mtime: mtime === UNKNOWN_SIZE ? null : mtime };
}

/**
 * HASH_RESULT (0,6) and UPLOAD_PARTIAL (1,6): a byte count and the digest of those bytes, in the
 * algorithm of the request they answer (PROTOCOL.md §3.2).
 */
export interface Digest {
  /** Request id. */
  id: number;
  /** Number of bytes hashed. */
  length: number;
  /** Their digest: 32 bytes of SHA-256 or 16 of XXH3-128. */
  digest: Uint8Array;
}

/**
 * Encodes a HASH_RESULT or UPLOAD_PARTIAL frame.
 *
 * @throws {RangeError} when the digest is neither 16 nor 32 bytes.
 */
export function encodeDigest(service: Service, m: Digest): Uint8Array {
  checkDigestSize(m.digest);
  return frameWith(service, 4 + 8 + m.digest.length, (b) => {
    putU32(b, m.id);
    putU64(b, m.length);
    putBytes(b, m.digest);
  });
}

/** Decodes a HASH_RESULT or UPLOAD_PARTIAL payload whose digest is in `algorithm`. */
export function decodeDigest(
  payload: Uint8Array,
  algorithm: ChecksumAlgorithm = "sha256",
): Digest {
  const c = cursor(payload);
  const id = readU32(c, "id");
  const length = readKnownU64(c, "length");
  return { id, length, digest: readBytes(c, DIGEST_SIZES[algorithm], "digest").slice() };
}
