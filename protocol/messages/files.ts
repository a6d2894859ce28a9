/**
 * File services (PROTOCOL.md §4.2, §4.3, §4.5b): LIST (0,0), DELETE (0,1), LIST_ENTRIES (0,2),
 * STAT (0,3), STAT_RESULT (0,4), HASH (0,5), MKDIR (0,7), RENAME (0,8). HASH_RESULT (0,6) shares
 * the digest layout of `common.ts`.
 *
 * @module
 */

import { type Service, SERVICES } from "../services.ts";
import {
  cursor,
  putBlob,
  putU16,
  putU32,
  putU64,
  putU8,
  readString,
  readU16,
  readU32,
  readU64,
  readU8,
  utf8Bytes,
} from "../bytes.ts";
import {
  CHECKSUM_NUMBERS,
  type ChecksumAlgorithm,
  type Entry,
  entrySize,
  frameWith,
  putEntry,
  readChecksum,
  readEntry,
} from "./common.ts";

/** A request naming one remote path: LIST (0,0), DELETE (0,1) or STAT (0,3). */
export interface PathRequest {
  /** Request id. */
  id: number;
  /** Remote path, relative to the data root, `/`-separated. */
  path: string;
}

/** Encodes a LIST, DELETE or STAT frame. */
export function encodePathRequest(service: Service, m: PathRequest): Uint8Array {
  const path = utf8Bytes(m.path);
  return frameWith(service, 4 + 2 + path.length, (b) => {
    putU32(b, m.id);
    putBlob(b, path);
  });
}

/** Decodes a LIST, DELETE or STAT payload. */
export function decodePathRequest(payload: Uint8Array): PathRequest {
  const c = cursor(payload);
  return { id: readU32(c, "id"), path: readString(c, "path") };
}

/** LIST_ENTRIES (0,2): a batch of entries; the last batch has `last` set. */
export interface ListEntries {
  /** Request id of the LIST. */
  id: number;
  /** True on the final batch of the listing. */
  last: boolean;
  /** The entries in this batch. */
  entries: Entry[];
}

/** Fixed bytes of a LIST_ENTRIES payload before its entries. */
export const LIST_ENTRIES_OVERHEAD: number = 4 + 1 + 2;

/** Encodes a LIST_ENTRIES frame. The caller keeps the payload within 65,535 bytes. */
export function encodeListEntries(m: ListEntries): Uint8Array {
  const names = m.entries.map((e) => utf8Bytes(e.name));
  const size = names.reduce((sum, n) => sum + entrySize(n.length), LIST_ENTRIES_OVERHEAD);
  return frameWith(SERVICES.LIST_ENTRIES, size, (b) => {
    putU32(b, m.id);
    putU8(b, m.last ? 1 : 0);
    putU16(b, m.entries.length);
    m.entries.forEach((e, i) => putEntry(b, e, names[i]));
  });
}

/** Decodes a LIST_ENTRIES payload. */
export function decodeListEntries(payload: Uint8Array): ListEntries {
  const c = cursor(payload);
  const id = readU32(c, "id");
  const flags = readU8(c, "flags");
  const count = readU16(c, "count");
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) entries.push(readEntry(c));
  return { id, last: (flags & 1) === 1, entries };
}

/** STAT_RESULT (0,4): the entry a STAT (0,3) names; `name` is its last path component. */
export interface StatResult {
  /** Request id of the STAT. */
  id: number;
  /** The entry (symlinks inside the root are followed; `kind` is never `symlink` for the root). */
  entry: Entry;
}

/** Encodes a STAT_RESULT frame. */
export function encodeStatResult(m: StatResult): Uint8Array {
  const name = utf8Bytes(m.entry.name);
  return frameWith(SERVICES.STAT_RESULT, 4 + entrySize(name.length), (b) => {
    putU32(b, m.id);
    putEntry(b, m.entry, name);
  });
}

/** Decodes a STAT_RESULT payload. */
export function decodeStatResult(payload: Uint8Array): StatResult {
  const c = cursor(payload);
  return { id: readU32(c, "id"), entry: readEntry(c) };
}

/** HASH (0,5): the digest of a file's first `length` bytes (all of it when unknown). */
export interface HashRequest {
  /** Request id. */
  id: number;
  /** Bytes to hash from the start, or `UNKNOWN_SIZE` for the whole file. */
  length: number;
  /** Remote path. */
  path: string;
  /**
   * The algorithm of the answer, appended when given; absent means SHA-256 whatever the
   * connection negotiated (PROTOCOL.md §3.2). Only name one the server listed in WELCOME.
   */
  algorithm?: ChecksumAlgorithm;
}

/** Encodes a HASH frame; the algorithm is appended when given. */
export function encodeHashRequest(m: HashRequest): Uint8Array {
  const path = utf8Bytes(m.path);
  const extra = m.algorithm === undefined ? 0 : 1;
  return frameWith(SERVICES.HASH, 4 + 8 + 2 + path.length + extra, (b) => {
    putU32(b, m.id);
    putU64(b, m.length);
    putBlob(b, path);
    if (m.algorithm !== undefined) putU8(b, CHECKSUM_NUMBERS[m.algorithm]);
  });
}

/**
 * Decodes a HASH payload.
 *
 * @throws {FerryError} `BAD_ARGUMENT` for an algorithm number this version does not know.
 */
export function decodeHashRequest(payload: Uint8Array): HashRequest {
  const c = cursor(payload);
  const m: HashRequest = {
    id: readU32(c, "id"),
    length: readU64(c, "length"),
    path: readString(c, "path"),
  };
  if (c.offset < payload.length) m.algorithm = readChecksum(c, "algorithm");
  return m;
}

/** MKDIR (0,7): create a directory. */
export interface Mkdir {
  /** Request id. */
  id: number;
  /** Create missing parents too, and succeed if it exists (like `mkdir -p`). */
  parents: boolean;
  /** Remote path. */
  path: string;
}

/** Encodes a MKDIR frame. */
export function encodeMkdir(m: Mkdir): Uint8Array {
  const path = utf8Bytes(m.path);
  return frameWith(SERVICES.MKDIR, 4 + 1 + 2 + path.length, (b) => {
    putU32(b, m.id);
    putU8(b, m.parents ? 1 : 0);
    putBlob(b, path);
  });
}

/** Decodes a MKDIR payload. */
export function decodeMkdir(payload: Uint8Array): Mkdir {
  const c = cursor(payload);
  const id = readU32(c, "id");
  const flags = readU8(c, "flags");
  return { id, parents: (flags & 1) === 1, path: readString(c, "path") };
}

/** RENAME (0,8): move `from` to `to` on the server. */
export interface Rename {
  /** Request id. */
  id: number;
  /** Replace an existing file at `to` (never a directory). */
  replace: boolean;
  /** Existing remote path. */
  from: string;
  /** New remote path. */
  to: string;
}

/** Encodes a RENAME frame. */
export function encodeRename(m: Rename): Uint8Array {
  const from = utf8Bytes(m.from);
  const to = utf8Bytes(m.to);
  return frameWith(SERVICES.RENAME, 4 + 1 + 2 + from.length + 2 + to.length, (b) => {
    putU32(b, m.id);
    putU8(b, m.replace ? 1 : 0);
    putBlob(b, from);
    putBlob(b, to);
  });
}

/** Decodes a RENAME payload. */
export function decodeRename(payload: Uint8Array): Rename {
  const c = cursor(payload);
  const id = readU32(c, "id");
  const flags = readU8(c, "flags");
  return { id, replace: (flags & 1) === 1, from: readString(c, "from"), to: readString(c, "to") };
}
