/**
 * Parsing of the records `getdents64(2)` writes (`struct linux_dirent64`, the same layout on
 * every architecture). Pure: bytes in, entries out.
 *
 * @module
 */

import type { FileKind } from "./statx.ts";

/** One name read from a directory. */
export interface DirentName {
  /** The entry's name (valid UTF-8; never `.` or `..`). */
  readonly name: string;
  /** The kind the directory reports, or `"unknown"` when the file system does not say. */
  readonly kind: FileKind | "unknown";
}

/** A name read from a directory that is not valid UTF-8, as its bytes. */
export interface RawDirentName {
  /** The name's bytes (never `.` or `..`, never containing NUL or `/`). */
  readonly bytes: Uint8Array;
  /** The kind the directory reports, or `"unknown"`. */
  readonly kind: FileKind | "unknown";
}

/** Result of parsing one `getdents64` buffer. */
export interface ParsedDirents {
  /** The entries with valid UTF-8 names, in directory order. */
  readonly entries: DirentName[];
  /** Names skipped from `entries` because they are not valid UTF-8. */
  readonly skippedInvalid: number;
  /** Those names, as bytes (copies), for a listing that shows them escaped. */
  readonly invalid: RawDirentName[];
}

/** Offsets in `struct linux_dirent64`: u64 d_ino, i64 d_off, u16 d_reclen, u8 d_type, name. */
const RECLEN_OFFSET = 16;
const TYPE_OFFSET = 18;
const NAME_OFFSET = 19;

/** Decodes names; stateless between calls (no streaming). */
const UTF8 = new TextDecoder("utf-8", { fatal: true });

const DT_DIR = 4;
const DT_REG = 8;
const DT_LNK = 10;
const DT_UNKNOWN = 0;

function kindOfType(type: number): FileKind | "unknown" {
  switch (type) {
    case DT_REG:
      return "file";
    case DT_DIR:
      return "dir";
    case DT_LNK:
      return "symlink";
    case DT_UNKNOWN:
      return "unknown";
    default:
      return "other";
  }
}

/**
 * Parses the first `length` bytes of a `getdents64` buffer. `.` and `..` are dropped; names
 * that are not valid UTF-8 are set apart as bytes (`invalid`).
 *
 * @throws {RangeError} when a record's length is impossible (the buffer is not what the
 * kernel wrote).
 */
export function parseDirents(buf: Uint8Array, length: number): ParsedDirents {
  const view = new DataView(buf.buffer, buf.byteOffset, length);
  const entries: DirentName[] = [];
  const invalid: RawDirentName[] = [];
  let skippedInvalid = 0;
  let offset = 0;
  while (offset < length) {
    const reclen = view.getUint16(offset + RECLEN_OFFSET, true);
    if (reclen <= NAME_OFFSET || offset + reclen > length) {
      throw new RangeError(`corrupt dirent record of length ${reclen} at ${offset}`);
    }
    const record = buf.subarray(offset + NAME_OFFSET, offset + reclen);
    const end = record.indexOf(0);
    const nameBytes = end < 0 ? record : record.subarray(0, end);
    const type = view.getUint8(offset + TYPE_OFFSET);
    offset += reclen;
    if (nameBytes.length === 1 && nameBytes[0] === 0x2e) continue;
    if (nameBytes.length === 2 && nameBytes[0] === 0x2e && nameBytes[1] === 0x2e) continue;
    let name: string;
    try {
      name = UTF8.decode(nameBytes);
    } catch {
      skippedInvalid++;
      invalid.push({ bytes: nameBytes.slice(), kind: kindOfType(type) });
      continue;
    }
    entries.push({ name, kind: kindOfType(type) });
  }
  return { entries, skippedInvalid, invalid };
}
