/**
 * File services (PROTOCOL.md §4.2, §4.3, §4.5b): LIST (0,0), DELETE (0,1), LIST_ENTRIES (0,2),
 * STAT (0,3), STAT_RESULT (0,4), HASH (0,5), MKDIR (0,7), RENAME (0,8). HASH_RESULT (0,6) shares
 * the digest layout of `common.ts`.
 *
 * @module
 */

import { PROTOCOL_VERSION, type Service, SERVICES } from "../services.ts";
import { encodeHeader, HEADER_SIZE, MAX_PAYLOAD } from "../frame.ts";
import {
  builder,
  type ByteBuilder,
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
  putEntryWithin,
  readChecksum,
  readEntry,
} from "./common.ts";

/**
 * A request naming one remote path: DELETE (0,1) or STAT (0,3), and LIST (0,0) as older clients
 * send it (no options: {@linkcode ListRequest}).
 */
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

/** LIST (0,0): list a directory, or describe one file. */
export interface ListRequest extends PathRequest {
  /**
   * The appended options group (PROTOCOL.md §4.2): `true` when the client needs only each
   * entry's name and kind, so the server may leave sizes and times out (size 0, time unknown).
   * Absent from a client that predates it, and sent only to a server announcing
   * `FEATURES.LIST_NAMES`; absent means `false`.
   */
  namesOnly?: boolean;
}

/** Bits of LIST's appended `u8 options`. */
export const LIST_OPTIONS = {
  /** Names and kinds suffice: sizes and times may be left out. */
  NAMES_ONLY: 1,
} as const;

/** Encodes a LIST frame; the options group is appended when `namesOnly` is given. */
export function encodeList(m: ListRequest): Uint8Array {
  const path = utf8Bytes(m.path);
  const extra = m.namesOnly === undefined ? 0 : 1;
  return frameWith(SERVICES.LIST, 4 + 2 + path.length + extra, (b) => {
    putU32(b, m.id);
    putBlob(b, path);
    if (m.namesOnly !== undefined) putU8(b, m.namesOnly ? LIST_OPTIONS.NAMES_ONLY : 0);
  });
}

/** Decodes a LIST payload (unknown option bits are ignored). */
export function decodeList(payload: Uint8Array): ListRequest {
  const c = cursor(payload);
  const list: ListRequest = { id: readU32(c, "id"), path: readString(c, "path") };
  if (c.offset < payload.length) {
    list.namesOnly = (readU8(c, "options") & LIST_OPTIONS.NAMES_ONLY) !== 0;
  }
  return list;
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

/**
 * Builds LIST_ENTRIES frames entry by entry in one buffer of the largest frame's size, reused
 * from frame to frame: a listing of any length encodes in constant memory, each frame as full
 * as the payload limit allows, and no entry is kept once it is written.
 */
export class ListEntriesEncoder {
  readonly #b: ByteBuilder = builder(HEADER_SIZE + MAX_PAYLOAD);
  readonly #id: number;
  #count = 0;

  /** Frames for the LIST of request `id`. */
  constructor(id: number) {
    this.#id = id;
    this.#start();
  }

  /** Entries in the frame being built. */
  get count(): number {
    return this.#count;
  }

  /**
   * Adds `entry` to the frame being built; false when it does not fit (take the
   * {@linkcode ListEntriesEncoder.frame}, then add it again).
   *
   * @throws {RangeError} when the entry fits no frame at all (a name of about 64 KiB).
   */
  add(entry: Entry): boolean {
    if (this.#count === 0xffff || !putEntryWithin(this.#b, entry, this.#b.bytes.length)) {
      if (this.#count === 0) throw new RangeError(`entry ${entry.name} fits no frame`);
      return false;
    }
    this.#count++;
    return true;
  }

  /**
   * The frame built so far, `last` or not, and starts the next one. The bytes are a view of
   * the buffer: send them before the next {@linkcode ListEntriesEncoder.add}.
   */
  frame(last: boolean): Uint8Array {
    const b = this.#b;
    const length = b.offset - HEADER_SIZE;
    encodeHeader({ ...SERVICES.LIST_ENTRIES, version: PROTOCOL_VERSION, length }, b.bytes);
    b.view.setUint8(HEADER_SIZE + 4, last ? 1 : 0);
    b.view.setUint16(HEADER_SIZE + 5, this.#count, false);
    const frame = b.bytes.subarray(0, b.offset);
    this.#start();
    return frame;
  }

  #start(): void {
    this.#b.offset = HEADER_SIZE;
    putU32(this.#b, this.#id);
    this.#b.offset = HEADER_SIZE + LIST_ENTRIES_OVERHEAD;
    this.#count = 0;
  }
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
