/**
 * Transfer services (PROTOCOL.md §4.4, §4.5, §4.5a): DOWNLOAD (1,0), FILE_INFO (1,4), UPLOAD
 * (1,2), UPLOAD_STATUS (1,5), UPLOAD_RESUME (1,7), the data frames DOWNLOAD_DATA (1,1) and
 * UPLOAD_DATA (1,3), and EOF (3,3). UPLOAD_PARTIAL (1,6) shares the digest layout of
 * `common.ts`.
 *
 * Data frames are built in one place, {@linkcode createDataFrameBuffer}: a reusable buffer that
 * a sender reads file bytes into in place (or copies them into), and that lays the frame headers
 * out around them.
 *
 * @module
 */

import { HEADER_SIZE, MAX_PAYLOAD } from "../frame.ts";
import { PROTOCOL_VERSION, type Service, SERVICES } from "../services.ts";
import {
  cursor,
  putBlob,
  putBytes,
  putU32,
  putU64,
  readBytes,
  readString,
  readU32,
  readU64,
  UNKNOWN_SIZE,
  utf8Bytes,
} from "../bytes.ts";
import { FerryError } from "../errors.ts";
import {
  checkDigestSize,
  type ChecksumAlgorithm,
  DIGEST_SIZES,
  frameWith,
  ID_SIZE,
  peekRequestId,
  readKnownU64,
} from "./common.ts";

/** Most file bytes one data frame carries: the payload limit less the request id. */
export const DATA_CHUNK: number = MAX_PAYLOAD - ID_SIZE;
/** Bytes of one full data frame: header, request id and {@linkcode DATA_CHUNK} file bytes. */
export const DATA_FRAME_SIZE: number = HEADER_SIZE + ID_SIZE + DATA_CHUNK;
/** File bytes a sender batches into one write: four full data frames. */
export const DATA_BATCH: number = 4 * DATA_CHUNK;

/** DOWNLOAD (1,0): fetch a file from `offset` to its end, or `length` bytes of it. */
export interface Download {
  /** Request id. */
  id: number;
  /** Byte offset to start from (0 for the whole file). */
  offset: number;
  /** Remote path. */
  path: string;
  /**
   * Bytes to send from `offset` (a range), or `UNKNOWN_SIZE` for all of the rest. Appended to
   * the payload when given; only a server that announces the `RANGES` feature in WELCOME
   * honours it (PROTOCOL.md §4.4); absent means the rest of the file.
   */
  length?: number;
}

/** Encodes a DOWNLOAD frame; `length` is appended when given. */
export function encodeDownload(m: Download): Uint8Array {
  const path = utf8Bytes(m.path);
  const extra = m.length === undefined ? 0 : 8;
  return frameWith(SERVICES.DOWNLOAD, 4 + 8 + 2 + path.length + extra, (b) => {
    putU32(b, m.id);
    putU64(b, m.offset);
    putBlob(b, path);
    if (m.length !== undefined) putU64(b, m.length);
  });
}

/** Decodes a DOWNLOAD payload. */
export function decodeDownload(payload: Uint8Array): Download {
  const c = cursor(payload);
  const id = readU32(c, "id");
  const offset = readU64(c, "offset");
  if (offset === UNKNOWN_SIZE) throw new FerryError("BAD_ARGUMENT", "offset may not be unknown");
  const download: Download = { id, offset, path: readString(c, "path") };
  if (c.offset < payload.length) download.length = readU64(c, "length");
  return download;
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
  /** Size the client will send, or `UNKNOWN_SIZE`. */
  size: number;
  /** Modification time to set, in ms since the epoch, or `null` to leave it to the server. */
  mtime: number | null;
  /** Remote path. */
  path: string;
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

/** Encodes an UPLOAD frame. */
export function encodeUpload(m: Upload): Uint8Array {
  return encodeUploadLike(SERVICES.UPLOAD, m);
}

/** Decodes an UPLOAD payload. */
export function decodeUpload(payload: Uint8Array): Upload {
  const c = cursor(payload);
  const id = readU32(c, "id");
  const size = readU64(c, "size");
  const mtime = readU64(c, "mtime");
  return { id, size, mtime: mtime === UNKNOWN_SIZE ? null : mtime, path: readString(c, "path") };
}

/**
 * Encodes an UPLOAD_STATUS (1,5) frame: the same fields as UPLOAD, asking how much of an
 * interrupted upload of this path, size and mtime the server kept (answered by UPLOAD_PARTIAL).
 */
export function encodeUploadStatus(m: Upload): Uint8Array {
  return encodeUploadLike(SERVICES.UPLOAD_STATUS, m);
}

/** Decodes an UPLOAD_STATUS payload; the size must be known. */
export function decodeUploadStatus(payload: Uint8Array): Upload {
  const m = decodeUpload(payload);
  if (m.size === UNKNOWN_SIZE) {
    throw new FerryError("BAD_ARGUMENT", "a resumable upload needs a known size");
  }
  return m;
}

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

/** Decodes an UPLOAD_RESUME payload; the offset and size must be known. */
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

/**
 * EOF (3,3): the end of a file's data, with the byte count and the digest of what was sent, in
 * the checksum algorithm of the connection (PROTOCOL.md §3.2).
 */
export interface Eof {
  /** Request id. */
  id: number;
  /** Number of file bytes sent by this operation. */
  size: number;
  /** Digest of those bytes: 32 bytes of SHA-256 or 16 of XXH3-128. */
  digest: Uint8Array;
}

/**
 * Encodes an EOF frame.
 *
 * @throws {RangeError} when the digest is neither 16 nor 32 bytes.
 */
export function encodeEof(m: Eof): Uint8Array {
  checkDigestSize(m.digest);
  return frameWith(SERVICES.EOF, 4 + 8 + m.digest.length, (b) => {
    putU32(b, m.id);
    putU64(b, m.size);
    putBytes(b, m.digest);
  });
}

/** Decodes an EOF payload whose digest is in `algorithm`. */
export function decodeEof(payload: Uint8Array, algorithm: ChecksumAlgorithm = "sha256"): Eof {
  const c = cursor(payload);
  const id = readU32(c, "id");
  const size = readKnownU64(c, "size");
  return { id, size, digest: readBytes(c, DIGEST_SIZES[algorithm], "digest").slice() };
}

// ---------------------------------------------------------------------------------------------
// Data frames

/** A data frame's request id and the file bytes it carries (a view into the payload). */
export interface Data {
  /** Request id. */
  id: number;
  /** File bytes. */
  data: Uint8Array;
}

/** Decodes a DOWNLOAD_DATA or UPLOAD_DATA payload. */
export function decodeData(payload: Uint8Array): Data {
  // No cursor: this runs for every data frame (16,000 per GiB).
  const id = peekRequestId(payload);
  if (id === undefined) {
    throw new FerryError(
      "BAD_ARGUMENT",
      `payload too short: id needs 4 bytes at offset 0, payload has ${payload.length}`,
    );
  }
  return { id, data: payload.subarray(ID_SIZE) };
}

/** Bytes needed to send `dataLength` file bytes as data frames (0 bytes take one empty frame). */
export function dataFramesSize(dataLength: number): number {
  const frames = Math.max(1, Math.ceil(dataLength / DATA_CHUNK));
  return dataLength + frames * (HEADER_SIZE + ID_SIZE);
}

/** The two data-frame services. */
export type DataService = typeof SERVICES.DOWNLOAD_DATA | typeof SERVICES.UPLOAD_DATA;

/**
 * One reusable buffer that turns file bytes into consecutive data frames of one service, ready
 * for a single write. Each frame carries at most {@linkcode DATA_CHUNK} bytes; only the last is
 * short. Nothing is allocated per write or per frame.
 *
 * Two ways to fill it:
 * - read in place: read up to {@linkcode DataFrameBuffer.capacity} bytes into
 *   {@linkcode DataFrameBuffer.region}, then call {@linkcode DataFrameBuffer.frame}, which
 *   moves each frame's share apart (in place) and writes the headers around it;
 * - copy: {@linkcode DataFrameBuffer.frameCopy} copies each frame's share of a byte array
 *   straight to its place.
 *
 * The bytes returned are a view of the buffer: the next `region`, `frame` or `frameCopy`
 * overwrites them, so send them and wait for the send to finish first (a `FrameWriter`'s
 * `send` resolves only once the bytes were written). To read the next batch while one is being
 * written, alternate two buffers.
 */
export interface DataFrameBuffer {
  /** DOWNLOAD_DATA or UPLOAD_DATA: the service of every frame built. */
  readonly service: DataService;
  /** Most file bytes one batch carries. */
  readonly capacity: number;
  /**
   * The bytes to read the next batch of file data into, in place: `min(max, capacity)` bytes
   * (default: `capacity`). Read into the start of it, then call `frame` with the count read.
   * Until then the bytes read are contiguous here (to hash them, for instance).
   *
   * @throws {RangeError} when `max` is negative or not an integer.
   */
  region(max?: number): Uint8Array;
  /**
   * Lays out the first `length` bytes of {@linkcode DataFrameBuffer.region} as data frames of
   * request `id` and returns the bytes to send: `dataFramesSize(length)` bytes, one empty frame
   * when `length` is 0.
   *
   * @throws {RangeError} when `id` does not fit 32 bits or `length` is not in 0..capacity.
   */
  frame(id: number, length: number): Uint8Array;
  /**
   * Copies `data` (at most `capacity` bytes) into data frames of request `id` and returns the
   * bytes to send, as {@linkcode DataFrameBuffer.frame} does.
   *
   * @throws {RangeError} when `id` does not fit 32 bits or `data` is longer than `capacity`.
   */
  frameCopy(id: number, data: Uint8Array): Uint8Array;
}

/** Where the file bytes of the first frame begin. */
const DATA_START = HEADER_SIZE + ID_SIZE;

/**
 * Creates a {@linkcode DataFrameBuffer} for `service` carrying at most `capacity` file bytes per
 * batch (default {@linkcode DATA_BATCH}, four full frames). Its one allocation is
 * `dataFramesSize(capacity)` bytes; give a small file a small capacity.
 *
 * @throws {RangeError} when `capacity` is not a positive integer.
 */
export function createDataFrameBuffer(
  service: DataService,
  capacity: number = DATA_BATCH,
): DataFrameBuffer {
  if (!Number.isInteger(capacity) || capacity < 1) {
    throw new RangeError(
      `a data frame buffer needs a capacity of at least 1 byte, got ${capacity}`,
    );
  }
  const bytes = new Uint8Array(dataFramesSize(capacity));
  const view = new DataView(bytes.buffer);

  function checkFrame(id: number, length: number): void {
    if (!Number.isInteger(id) || id < 0 || id > 0xffff_ffff) {
      throw new RangeError(`request id ${id} does not fit 32 bits`);
    }
    if (!Number.isInteger(length) || length < 0 || length > capacity) {
      throw new RangeError(`${length} bytes do not fit a buffer of ${capacity}`);
    }
  }

  /** Writes the header and request id of the data frame at `offset` carrying `length` bytes. */
  function putHeader(offset: number, id: number, length: number): void {
    view.setUint16(offset, service.type, false);
    view.setUint16(offset + 2, service.num, false);
    view.setUint16(offset + 4, PROTOCOL_VERSION, false);
    view.setUint16(offset + 6, ID_SIZE + length, false);
    view.setUint32(offset + HEADER_SIZE, id, false);
  }

  return {
    service,
    capacity,
    region(max = capacity) {
      if (!Number.isInteger(max) || max < 0) {
        throw new RangeError(`a region of ${max} bytes`);
      }
      return bytes.subarray(DATA_START, DATA_START + Math.min(max, capacity));
    },
    frame(id, length) {
      checkFrame(id, length);
      // Last frame first: each frame's share moves right by 12 bytes per frame before it, so
      // moving from the back never overwrites bytes still to be moved.
      const frames = Math.max(1, Math.ceil(length / DATA_CHUNK));
      for (let k = frames - 1; k >= 0; k--) {
        const n = Math.min(DATA_CHUNK, length - k * DATA_CHUNK);
        if (k > 0) {
          const from = DATA_START + k * DATA_CHUNK;
          bytes.copyWithin(k * DATA_FRAME_SIZE + DATA_START, from, from + n);
        }
        putHeader(k * DATA_FRAME_SIZE, id, n);
      }
      return bytes.subarray(0, dataFramesSize(length));
    },
    frameCopy(id, data) {
      checkFrame(id, data.length);
      const frames = Math.max(1, Math.ceil(data.length / DATA_CHUNK));
      for (let k = 0; k < frames; k++) {
        const share = data.subarray(k * DATA_CHUNK, (k + 1) * DATA_CHUNK);
        bytes.set(share, k * DATA_FRAME_SIZE + DATA_START);
        putHeader(k * DATA_FRAME_SIZE, id, share.length);
      }
      return bytes.subarray(0, dataFramesSize(data.length));
    },
  };
}
