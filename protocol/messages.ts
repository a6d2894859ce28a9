/**
 * Payload layouts of every service: pure encode/decode functions over bytes. Each `encode*`
 * returns a whole frame (header included); each `decode*` takes a frame's payload.
 *
 * Every payload starts with a 32-bit request id chosen by the client; all frames of one
 * operation carry the same id, so several operations can be in flight on one connection.
 *
 * @module
 */

import { encodeHeader, HEADER_SIZE, MAX_PAYLOAD } from "./header.ts";
import { PROTOCOL_VERSION, type Service, SERVICES } from "./services.ts";
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
  readRest,
  readString,
  readU16,
  readU32,
  readU64,
  readU8,
  UNKNOWN_SIZE,
  utf8Bytes,
} from "./bytes.ts";
import { ERROR_CODES, type ErrorCode, errorCodeName, FerryError } from "./errors.ts";

/** Bytes of the request id that opens every payload. */
export const ID_SIZE = 4;
/** Most file bytes one data frame carries: the payload limit less the request id. */
export const DATA_CHUNK = MAX_PAYLOAD - ID_SIZE;
/** Bytes of a SHA-256 digest. */
export const SHA256_SIZE = 32;

/** What a token allows. Higher values include the rights of lower ones. */
export type Role = "read" | "write" | "admin";
const ROLE_NUMBERS: Record<Role, number> = { read: 1, write: 2, admin: 3 };

/** Kind of a directory entry. */
export type EntryKind = "file" | "dir" | "symlink" | "other";
const KIND_NUMBERS: Record<EntryKind, number> = { file: 0, dir: 1, symlink: 2, other: 3 };
const KINDS: EntryKind[] = ["file", "dir", "symlink", "other"];

function frameWith(service: Service, payloadSize: number, fill: (b: ByteBuilder) => void) {
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
  return new DataView(payload.buffer, payload.byteOffset, ID_SIZE).getUint32(0, false);
}

// ---------------------------------------------------------------------------------------------
// Session: HELLO, WELCOME, AUTH, AUTH_OK

/** HELLO (4,0): the client's first frame. */
export interface Hello {
  /** Request id. */
  id: number;
  /** Oldest protocol version the client speaks. */
  minVersion: number;
  /** Newest protocol version the client speaks. */
  maxVersion: number;
  /** Free-form client name and version, for logs. */
  agent: string;
}

/** Encodes a HELLO frame. */
export function encodeHello(m: Hello): Uint8Array {
  const agent = utf8Bytes(m.agent);
  return frameWith(SERVICES.HELLO, 4 + 2 + 2 + 2 + agent.length, (b) => {
    putU32(b, m.id);
    putU16(b, m.minVersion);
    putU16(b, m.maxVersion);
    putBlob(b, agent);
  });
}

/** Decodes a HELLO payload. */
export function decodeHello(payload: Uint8Array): Hello {
  const c = cursor(payload);
  return {
    id: readU32(c, "id"),
    minVersion: readU16(c, "minVersion"),
    maxVersion: readU16(c, "maxVersion"),
    agent: readString(c, "agent"),
  };
}

/** WELCOME (4,1): the server's answer to HELLO. */
export interface Welcome {
  /** Request id of the HELLO. */
  id: number;
  /** The protocol version both sides now use. */
  version: number;
  /** Free-form server name and version. */
  agent: string;
}

/** Encodes a WELCOME frame. */
export function encodeWelcome(m: Welcome): Uint8Array {
  const agent = utf8Bytes(m.agent);
  return frameWith(SERVICES.WELCOME, 4 + 2 + 2 + agent.length, (b) => {
    putU32(b, m.id);
    putU16(b, m.version);
    putBlob(b, agent);
  });
}

/** Decodes a WELCOME payload. */
export function decodeWelcome(payload: Uint8Array): Welcome {
  const c = cursor(payload);
  return { id: readU32(c, "id"), version: readU16(c, "version"), agent: readString(c, "agent") };
}

/** AUTH (4,2): present an access token. */
export interface Auth {
  /** Request id. */
  id: number;
  /** The token, as the server issued it. */
  token: string;
}

/** Encodes an AUTH frame. */
export function encodeAuth(m: Auth): Uint8Array {
  const token = utf8Bytes(m.token);
  return frameWith(SERVICES.AUTH, 4 + 2 + token.length, (b) => {
    putU32(b, m.id);
    putBlob(b, token);
  });
}

/** Decodes an AUTH payload. */
export function decodeAuth(payload: Uint8Array): Auth {
  const c = cursor(payload);
  return { id: readU32(c, "id"), token: readString(c, "token") };
}

/** AUTH_OK (4,3): the token was accepted. */
export interface AuthOk {
  /** Request id of the AUTH. */
  id: number;
  /** What the token allows. */
  role: Role;
  /** The user the token belongs to. */
  user: string;
}

/** Encodes an AUTH_OK frame. */
export function encodeAuthOk(m: AuthOk): Uint8Array {
  const user = utf8Bytes(m.user);
  return frameWith(SERVICES.AUTH_OK, 4 + 1 + 2 + user.length, (b) => {
    putU32(b, m.id);
    putU8(b, ROLE_NUMBERS[m.role]);
    putBlob(b, user);
  });
}

/** Decodes an AUTH_OK payload. */
export function decodeAuthOk(payload: Uint8Array): AuthOk {
  const c = cursor(payload);
  const id = readU32(c, "id");
  const n = readU8(c, "role");
  // A role this version does not know is shown as the least one: new roles never break clients.
  const role = (Object.keys(ROLE_NUMBERS) as Role[]).find((r) => ROLE_NUMBERS[r] === n) ?? "read";
  return { id, role, user: readString(c, "user") };
}

// ---------------------------------------------------------------------------------------------
// Requests that carry one path: LIST, DELETE

/** A request naming one remote path: LIST (0,0) or DELETE (0,1). */
export interface PathRequest {
  /** Request id. */
  id: number;
  /** Remote path, relative to the data root, `/`-separated. */
  path: string;
}

/** Encodes a LIST or DELETE frame. */
export function encodePathRequest(service: Service, m: PathRequest): Uint8Array {
  const path = utf8Bytes(m.path);
  return frameWith(service, 4 + 2 + path.length, (b) => {
    putU32(b, m.id);
    putBlob(b, path);
  });
}

/** Decodes a LIST or DELETE payload. */
export function decodePathRequest(payload: Uint8Array): PathRequest {
  const c = cursor(payload);
  return { id: readU32(c, "id"), path: readString(c, "path") };
}

// ---------------------------------------------------------------------------------------------
// LIST_ENTRIES

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
export const LIST_ENTRIES_OVERHEAD = 4 + 1 + 2;

/** Encoded size of one entry with a name of `nameBytes` UTF-8 bytes. */
export function entrySize(nameBytes: number): number {
  return 1 + 8 + 8 + 2 + nameBytes;
}

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

/** Reads a u64 that may not be "unknown" (all ones). */
function readKnownU64(c: ByteCursor, field: string): number {
  const v = readU64(c, field);
  if (v === UNKNOWN_SIZE) throw new FerryError("BAD_ARGUMENT", `${field} may not be unknown`);
  return v;
}

function putEntry(b: ByteBuilder, e: Entry, name: Uint8Array): void {
  putU8(b, KIND_NUMBERS[e.kind]);
  putU64(b, e.size);
  putU64(b, e.mtime ?? UNKNOWN_SIZE);
  putBlob(b, name);
}

function readEntry(c: ByteCursor): Entry {
  const kind = KINDS[readU8(c, "kind")] ?? "other";
  const size = readKnownU64(c, "size");
  const mtime = readU64(c, "mtime");
  const name = readString(c, "name");
  return { name, kind, size, mtime: mtime === UNKNOWN_SIZE ? null : mtime };
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

// ---------------------------------------------------------------------------------------------
// Transfers: DOWNLOAD, FILE_INFO, UPLOAD, data frames, EOF

/** DOWNLOAD (1,0): fetch a file from `offset` to its end. */
export interface Download {
  /** Request id. */
  id: number;
  /** Byte offset to start from (0 for the whole file). */
  offset: number;
  /** Remote path. */
  path: string;
}

/** Encodes a DOWNLOAD frame. */
export function encodeDownload(m: Download): Uint8Array {
  const path = utf8Bytes(m.path);
  return frameWith(SERVICES.DOWNLOAD, 4 + 8 + 2 + path.length, (b) => {
    putU32(b, m.id);
    putU64(b, m.offset);
    putBlob(b, path);
  });
}

/** Decodes a DOWNLOAD payload. */
export function decodeDownload(payload: Uint8Array): Download {
  const c = cursor(payload);
  const id = readU32(c, "id");
  const offset = readU64(c, "offset");
  if (offset === UNKNOWN_SIZE) throw new FerryError("BAD_ARGUMENT", "offset may not be unknown");
  return { id, offset, path: readString(c, "path") };
}

/** FILE_INFO (1,4): opens a download with the file's size and modification time. */
export interface FileInfo {
  /** Request id of the DOWNLOAD. */
  id: number;
  /** Size of the whole file in bytes. */
  size: number;
  /** Modification time in ms since the epoch, or `null`. */
  mtime: number | null;
}

/** Encodes a FILE_INFO frame. */
export function encodeFileInfo(m: FileInfo): Uint8Array {
  return frameWith(SERVICES.FILE_INFO, 4 + 8 + 8, (b) => {
    putU32(b, m.id);
    putU64(b, m.size);
    putU64(b, m.mtime ?? UNKNOWN_SIZE);
  });
}

/** Decodes a FILE_INFO payload. */
export function decodeFileInfo(payload: Uint8Array): FileInfo {
  const c = cursor(payload);
  const id = readU32(c, "id");
  const size = readKnownU64(c, "size");
  const mtime = readU64(c, "mtime");
  return { id, size, mtime: mtime === UNKNOWN_SIZE ? null : mtime };
}

/** UPLOAD (1,2): store a file; data frames and an EOF follow without waiting for an answer. */
export interface Upload {
  /** Request id. */
  id: number;
  /** Size the client will send, or {@linkcode UNKNOWN_SIZE}. */
  size: number;
  /** Modification time to set, in ms since the epoch, or `null` to leave it to the server. */
  mtime: number | null;
  /** Remote path. */
  path: string;
}

/** Encodes an UPLOAD frame. */
export function encodeUpload(m: Upload): Uint8Array {
  return encodeUploadLike(SERVICES.UPLOAD, m);
}

/**
 * Encodes an UPLOAD_STATUS (1,5) frame: the same fields as UPLOAD, asking how much of an
 * interrupted upload of this path, size and mtime the server kept (answered by UPLOAD_PARTIAL).
 */
export function encodeUploadStatus(m: Upload): Uint8Array {
  return encodeUploadLike(SERVICES.UPLOAD_STATUS, m);
}

/** Decodes an UPLOAD_STATUS payload. */
export function decodeUploadStatus(payload: Uint8Array): Upload {
  const m = decodeUpload(payload);
  if (m.size === UNKNOWN_SIZE) {
    throw new FerryError("BAD_ARGUMENT", "a resumable upload needs a known size");
  }
  return m;
}

function encodeUploadLike(service: Service, m: Upload): Uint8Array {
  const path = utf8Bytes(m.path);
  return frameWith(service, 4 + 8 + 8 + 2 + path.length, (b) => {
    putU32(b, m.id);
    putU64(b, m.size);
    putU64(b, m.mtime ?? UNKNOWN_SIZE);
    putBlob(b, path);
  });
}

/** Decodes an UPLOAD payload. */
export function decodeUpload(payload: Uint8Array): Upload {
  const c = cursor(payload);
  const id = readU32(c, "id");
  const size = readU64(c, "size");
  const mtime = readU64(c, "mtime");
  return { id, size, mtime: mtime === UNKNOWN_SIZE ? null : mtime, path: readString(c, "path") };
}

/** A data frame's request id and the file bytes it carries (a view into the payload). */
export interface Data {
  /** Request id. */
  id: number;
  /** File bytes. */
  data: Uint8Array;
}

/** Decodes a DOWNLOAD_DATA or UPLOAD_DATA payload. */
export function decodeData(payload: Uint8Array): Data {
  const c = cursor(payload);
  return { id: readU32(c, "id"), data: readRest(c) };
}

/** Bytes needed to send `dataLength` file bytes as data frames. */
export function dataFramesSize(dataLength: number): number {
  const frames = Math.max(1, Math.ceil(dataLength / DATA_CHUNK));
  return dataLength + frames * (HEADER_SIZE + ID_SIZE);
}

/**
 * Encodes `data` as consecutive data frames of `service` (DOWNLOAD_DATA or UPLOAD_DATA), each
 * carrying at most {@linkcode DATA_CHUNK} bytes, into one buffer ready for a single write.
 * Pass `target` (at least {@linkcode dataFramesSize} bytes) to reuse a buffer; the returned
 * array is a view of the bytes written.
 */
export function encodeDataFrames(
  service: Service,
  id: number,
  data: Uint8Array,
  target?: Uint8Array,
): Uint8Array {
  const size = dataFramesSize(data.length);
  const out = target ?? new Uint8Array(size);
  if (out.length < size) throw new RangeError(`target of ${out.length} bytes, need ${size}`);
  let src = 0;
  let dst = 0;
  do {
    const n = Math.min(DATA_CHUNK, data.length - src);
    putDataFrameHeader(service, id, n, out, dst);
    out.set(data.subarray(src, src + n), dst + HEADER_SIZE + ID_SIZE);
    src += n;
    dst += HEADER_SIZE + ID_SIZE + n;
  } while (src < data.length);
  return out.subarray(0, size);
}

/** Bytes of one full data frame: header, request id and {@linkcode DATA_CHUNK} file bytes. */
export const DATA_FRAME_SIZE = HEADER_SIZE + ID_SIZE + DATA_CHUNK;

/**
 * Writes the header and request id of a data frame of `service` carrying `length` file bytes at
 * `offset` in `target`; the file bytes go at `offset + 12`. For senders that read file data
 * straight into their frame buffer instead of copying it there.
 */
export function putDataFrameHeader(
  service: Service,
  id: number,
  length: number,
  target: Uint8Array,
  offset: number,
): void {
  if (!Number.isInteger(id) || id < 0 || id > 0xffff_ffff) {
    throw new RangeError(`request id ${id} does not fit 32 bits`);
  }
  if (length > DATA_CHUNK) throw new RangeError(`${length} bytes exceed a data frame`);
  encodeHeader({ ...service, version: PROTOCOL_VERSION, length: ID_SIZE + length }, target, offset);
  new DataView(target.buffer, target.byteOffset).setUint32(offset + HEADER_SIZE, id, false);
}

/** EOF (3,3): the end of a file's data, with the byte count and SHA-256 of what was sent. */
export interface Eof {
  /** Request id. */
  id: number;
  /** Number of file bytes sent by this operation. */
  size: number;
  /** SHA-256 of those bytes (32 bytes). */
  sha256: Uint8Array;
}

/** Encodes an EOF frame. */
export function encodeEof(m: Eof): Uint8Array {
  if (m.sha256.length !== SHA256_SIZE) throw new RangeError("sha256 must be 32 bytes");
  return frameWith(SERVICES.EOF, 4 + 8 + SHA256_SIZE, (b) => {
    putU32(b, m.id);
    putU64(b, m.size);
    putBytes(b, m.sha256);
  });
}

/** Decodes an EOF payload. */
export function decodeEof(payload: Uint8Array): Eof {
  const c = cursor(payload);
  const id = readU32(c, "id");
  const size = readKnownU64(c, "size");
  return { id, size, sha256: readBytes(c, SHA256_SIZE, "sha256").slice() };
}

// ---------------------------------------------------------------------------------------------
// Control: ERROR, OK, CANCEL, CLOSE_SERVER

/** ERROR (3,0): a failed operation, or with id 0 a connection-level error. */
export interface ErrorMessage {
  /** Request id, or 0 when the error concerns the connection. */
  id: number;
  /** Stable error code. */
  code: ErrorCode;
  /** Human-readable detail. */
  message: string;
}

const MAX_MESSAGE_BYTES = 1024;

/** Encodes an ERROR frame; the message is cut to 1 KiB. */
export function encodeError(m: ErrorMessage): Uint8Array {
  let message = utf8Bytes(m.message);
  if (message.length > MAX_MESSAGE_BYTES) {
    message = utf8Bytes(m.message.slice(0, MAX_MESSAGE_BYTES / 4) + "…");
  }
  return frameWith(SERVICES.ERROR, 4 + 2 + 2 + message.length, (b) => {
    putU32(b, m.id);
    putU16(b, ERROR_CODES[m.code]);
    putBlob(b, message);
  });
}

/** Decodes an ERROR payload. */
export function decodeError(payload: Uint8Array): ErrorMessage {
  const c = cursor(payload);
  return {
    id: readU32(c, "id"),
    code: errorCodeName(readU16(c, "code")),
    message: readString(c, "message"),
  };
}

/** A frame whose payload is only a request id: OK (3,1), CANCEL (3,2), CLOSE_SERVER (2,3). */
export function encodeIdOnly(service: Service, id: number): Uint8Array {
  return frameWith(service, 4, (b) => putU32(b, id));
}

/** Decodes a payload that carries only a request id. */
export function decodeIdOnly(payload: Uint8Array): number {
  return readU32(cursor(payload), "id");
}

// ---------------------------------------------------------------------------------------------
// Metadata: STAT, HASH, MKDIR, RENAME

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

/** HASH (0,5): the SHA-256 of a file's first `length` bytes (all of it when unknown). */
export interface HashRequest {
  /** Request id. */
  id: number;
  /** Bytes to hash from the start, or {@linkcode UNKNOWN_SIZE} for the whole file. */
  length: number;
  /** Remote path. */
  path: string;
}

/** Encodes a HASH frame. */
export function encodeHashRequest(m: HashRequest): Uint8Array {
  const path = utf8Bytes(m.path);
  return frameWith(SERVICES.HASH, 4 + 8 + 2 + path.length, (b) => {
    putU32(b, m.id);
    putU64(b, m.length);
    putBlob(b, path);
  });
}

/** Decodes a HASH payload. */
export function decodeHashRequest(payload: Uint8Array): HashRequest {
  const c = cursor(payload);
  return { id: readU32(c, "id"), length: readU64(c, "length"), path: readString(c, "path") };
}

/** HASH_RESULT (0,6) and UPLOAD_PARTIAL (1,6): a byte count and the SHA-256 of those bytes. */
export interface Digest {
  /** Request id. */
  id: number;
  /** Number of bytes hashed. */
  length: number;
  /** Their SHA-256 (32 bytes). */
  sha256: Uint8Array;
}

/** Encodes a HASH_RESULT or UPLOAD_PARTIAL frame. */
export function encodeDigest(service: Service, m: Digest): Uint8Array {
  if (m.sha256.length !== SHA256_SIZE) throw new RangeError("sha256 must be 32 bytes");
  return frameWith(service, 4 + 8 + SHA256_SIZE, (b) => {
    putU32(b, m.id);
    putU64(b, m.length);
    putBytes(b, m.sha256);
  });
}

/** Decodes a HASH_RESULT or UPLOAD_PARTIAL payload. */
export function decodeDigest(payload: Uint8Array): Digest {
  const c = cursor(payload);
  const id = readU32(c, "id");
  const length = readKnownU64(c, "length");
  return { id, length, sha256: readBytes(c, SHA256_SIZE, "sha256").slice() };
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

// ---------------------------------------------------------------------------------------------
// Resumable uploads: UPLOAD_STATUS, UPLOAD_RESUME

/** UPLOAD_RESUME (1,7): continue an interrupted upload at `offset`; data and EOF follow. */
export interface UploadResume {
  /** Request id. */
  id: number;
  /** Bytes the server already holds (from UPLOAD_PARTIAL); data starts here. */
  offset: number;
  /** Size of the whole file. */
  size: number;
  /** Modification time to set, in ms since the epoch, or `null`. */
  mtime: number | null;
  /** Remote path. */
  path: string;
}

/** Encodes an UPLOAD_RESUME frame. */
export function encodeUploadResume(m: UploadResume): Uint8Array {
  const path = utf8Bytes(m.path);
  return frameWith(SERVICES.UPLOAD_RESUME, 4 + 8 + 8 + 8 + 2 + path.length, (b) => {
    putU32(b, m.id);
    putU64(b, m.offset);
    putU64(b, m.size);
    putU64(b, m.mtime ?? UNKNOWN_SIZE);
    putBlob(b, path);
  });
}

/** Decodes an UPLOAD_RESUME payload. */
export function decodeUploadResume(payload: Uint8Array): UploadResume {
  const c = cursor(payload);
  const id = readU32(c, "id");
  const offset = readU64(c, "offset");
  const size = readU64(c, "size");
  const mtime = readU64(c, "mtime");
  if (offset === UNKNOWN_SIZE || size === UNKNOWN_SIZE) {
    throw new FerryError("BAD_ARGUMENT", "a resumed upload needs a known offset and size");
  }
  return {
    id,
    offset,
    size,
    mtime: mtime === UNKNOWN_SIZE ? null : mtime,
    path: readString(c, "path"),
  };
}
