/**
 * Uploads: a local path, bytes or a stream sent as data frames and committed by the server only
 * once the digest in the EOF (in the connection's checksum algorithm) matches; an interrupted
 * upload of a path or bytes can resume from what the server kept.
 *
 * @module
 */

import {
  createDataFrameBuffer,
  DATA_BATCH,
  decodeDigest,
  type Digest,
  encodeEof,
  encodeUpload,
  encodeUploadResume,
  encodeUploadStatus,
} from "../protocol/messages/mod.ts";
import { SERVICES } from "../protocol/services.ts";
import { equalBytes, UNKNOWN_SIZE } from "../protocol/bytes.ts";
import { FerryError } from "../protocol/errors.ts";
import type { Mux } from "./mux.ts";
import type { Progress, TransferResult, UploadOptions } from "./types.ts";
import { localError } from "./local_files.ts";
import { is, request, unexpected } from "./requests.ts";
import { bytesChunks, fileChunks, SYNC_READ_MAX } from "./sources.ts";
import { createHasher, type HashAlgorithm, type Hasher, hashPrefix } from "../common/hash_file.ts";
import { DEFAULT_STALL_MS, stallGuard, type TransferSettings } from "./transfer_settings.ts";
import { checkMtime, wirePath } from "./wire_values.ts";

/** An opened upload source. */
interface Source {
  /** The data, from the current position. */
  chunks: AsyncIterable<Uint8Array>;
  /** The open file of a path source (closed when the upload ends). */
  file: Deno.FsFile | null;
  /** The bytes of a bytes source. */
  bytes: Uint8Array | null;
  /** Its size, or `UNKNOWN_SIZE`. */
  size: number;
  /** The modification time to give the remote file. */
  mtime: number | null;
  /** How errors name it. */
  name: string;
}

/** Uploads a local path, bytes or a stream to `remote` (see `FerryClient.upload`). */
export async function upload(
  mux: Mux,
  source: string | Uint8Array | ReadableStream<Uint8Array>,
  remote: string,
  options: UploadOptions = {},
  transfers: TransferSettings = { stallMs: DEFAULT_STALL_MS },
): Promise<TransferResult> {
  remote = wirePath(remote);
  const src = await openSource(source, options);
  if (src.mtime !== null) {
    try {
      checkMtime(src.mtime, src.name);
    } catch (err) {
      src.file?.close();
      throw err;
    }
  }
  const algorithm = transfers.checksum ?? "sha256";
  let hash = createHasher(algorithm);
  let offset = 0;
  if (options.resume && src.size !== UNKNOWN_SIZE && !(source instanceof ReadableStream)) {
    options.onProgress?.({ bytes: 0, total: null, verifying: true });
    ({ offset, hash } = await resumePoint(mux, src, remote, algorithm));
  }
  const id = mux.nextId();
  const done = request(mux, id, null, (f) => {
    if (is(f, SERVICES.OK)) return true;
    throw unexpected(f, "uploading");
  });
  // Rejects as soon as the request fails (server error, abort, lost connection), so a source
  // that is waiting for data never keeps the upload pending.
  const failed = done.then(() => new Promise<never>(() => {}));
  failed.catch(() => {});

  const signal = options.signal;
  const onAbort = () => mux.abort(id, new FerryError("CANCELLED", "upload cancelled"));
  const iterator = src.chunks[Symbol.asyncIterator]();
  try {
    signal?.throwIfAborted();
    signal?.addEventListener("abort", onAbort, { once: true });
    const { size, mtime } = src;
    await mux.writer.send(
      offset > 0
        ? encodeUploadResume({ id, offset, size, mtime, path: remote })
        : encodeUpload({ id, size, mtime, path: remote }),
    );
    const bytes = await sendData(
      mux,
      id,
      {
        iterator,
        // A regular file is read straight into the frames; a pipe or device as chunks.
        file: size === UNKNOWN_SIZE ? null : src.file,
        failed,
        hash,
        size,
        offset,
        transfers,
        what: `put ${remote}`,
      },
      options,
    );
    signal?.throwIfAborted();
    const digest = hash.digest();
    await mux.writer.send(encodeEof({ id, size: offset + bytes, digest }));
    await done;
    options.onProgress?.({ bytes, total: bytes });
    return { bytes, checksum: digest.toHex(), algorithm, path: remote, resumed: offset };
  } catch (err) {
    const e = err instanceof FerryError
      ? err
      : signal?.aborted
      ? new FerryError("CANCELLED", "upload cancelled")
      : localError(err, src.name);
    // Fails the request and tells the server, unless it already ended.
    mux.abort(id, e);
    iterator.return?.()?.catch(() => {});
    throw e;
  } finally {
    signal?.removeEventListener("abort", onAbort);
    try {
      src.file?.close();
    } catch {
      // closed by the chunk reader
    }
  }
}

/** Opens a path (its size and, unless given, its time), or takes bytes or a stream as they are. */
async function openSource(
  source: string | Uint8Array | ReadableStream<Uint8Array>,
  options: UploadOptions,
): Promise<Source> {
  let size = options.size ?? UNKNOWN_SIZE;
  let mtime = options.mtime?.getTime() ?? null;
  if (typeof source === "string") {
    let file: Deno.FsFile | null = null;
    try {
      // A regular file is opened on this thread (microseconds, less than a pool call); anything
      // else on the pool, since opening a FIFO waits for its writer.
      file = Deno.statSync(source).isFile
        ? Deno.openSync(source, { read: true })
        : await Deno.open(source, { read: true });
      const info = file.statSync();
      if (info.isDirectory) throw new FerryError("IS_A_DIRECTORY", `${source} is a directory`);
      if (info.isFile) {
        size = info.size;
        if (options.mtime === undefined) mtime = info.mtime?.getTime() ?? null;
      } // a pipe or a device: read to its end, its size unknown beforehand
    } catch (err) {
      file?.close();
      throw localError(err, source);
    }
    const chunks = fileChunks(file, source, size);
    return { chunks, file, bytes: null, size, mtime, name: source };
  }
  const name = "upload source";
  if (source instanceof Uint8Array) {
    const size = source.length;
    return { chunks: bytesChunks(source), file: null, bytes: source, size, mtime, name };
  }
  return { chunks: source, file: null, bytes: null, size, mtime, name };
}

/**
 * Where an interrupted upload can continue: the length the server kept if the source starts
 * with the same bytes (then `src` is positioned after them), else 0; and the hash so far.
 */
async function resumePoint(
  mux: Mux,
  src: Source,
  remote: string,
  algorithm: HashAlgorithm,
): Promise<{ offset: number; hash: Hasher }> {
  const hash = createHasher(algorithm);
  const kept = await uploadStatus(mux, remote, src.size, src.mtime, algorithm);
  if (kept.length === 0 || kept.length > src.size) return { offset: 0, hash };
  try {
    if (src.file !== null) {
      const hashed = await hashPrefix(src.file, { length: kept.length, hasher: hash });
      if (hashed.length < kept.length) {
        throw new Error("the local file is shorter than the part already uploaded");
      }
    } else if (src.bytes !== null) {
      hash.update(src.bytes.subarray(0, kept.length));
    }
  } catch (err) {
    src.file?.close();
    throw localError(err, src.name);
  }
  if (equalBytes(hash.copy().digest(), kept.digest)) {
    if (src.bytes !== null) src.chunks = bytesChunks(src.bytes.subarray(kept.length));
    return { offset: kept.length, hash };
  }
  await src.file?.seek(0, Deno.SeekMode.Start);
  return { offset: 0, hash: createHasher(algorithm) };
}

/** What the server kept of an interrupted upload: its length and digest in `algorithm`. */
function uploadStatus(
  mux: Mux,
  remote: string,
  size: number,
  mtime: number | null,
  algorithm: HashAlgorithm,
): Promise<Digest> {
  const id = mux.nextId();
  return request(mux, id, encodeUploadStatus({ id, size, mtime, path: remote }), (f) => {
    if (is(f, SERVICES.UPLOAD_PARTIAL)) return decodeDigest(f.payload, algorithm);
    throw unexpected(f, "asking for an upload's status");
  });
}

/** The data of one upload, and the request's failure to stop at. */
interface Sending {
  iterator: AsyncIterator<Uint8Array>;
  /** A path source's file: read straight into the frames instead of through `iterator`. */
  file: Deno.FsFile | null;
  failed: Promise<never>;
  hash: Hasher;
  size: number;
  offset: number;
  transfers: TransferSettings;
  /** How a stall names the upload. */
  what: string;
}

/** Sends the source's data as data frames, hashing it; returns the bytes sent. */
async function sendData(
  mux: Mux,
  id: number,
  s: Sending,
  options: { onProgress?: (progress: Progress) => void },
): Promise<number> {
  const { size, hash } = s;
  let bytes = 0;
  let reported = 0;
  let frames = createDataFrameBuffer(
    SERVICES.UPLOAD_DATA,
    size === UNKNOWN_SIZE ? DATA_BATCH : Math.max(1, Math.min(DATA_BATCH, size - s.offset)),
  );
  // A server that stops taking data for the stall timeout is as good as gone.
  const stall = stallGuard(s.transfers.stallMs, s.what);

  /** Hashes and sends `data` (`frames.region()`'s first bytes when `inPlace`), paced. */
  async function send(data: Uint8Array, inPlace: boolean): Promise<void> {
    hash.update(data);
    bytes += data.length;
    if (s.transfers.throttle !== undefined) await s.transfers.throttle.take(data.length);
    // The buffer is reused: send resolves only once the bytes were written.
    const framed = inPlace ? frames.frame(id, data.length) : frames.frameCopy(id, data);
    await stall.within(Promise.race([mux.writer.send(framed), s.failed]));
    if (options.onProgress && bytes - reported >= 256 * 1024) {
      reported = bytes;
      options.onProgress({ bytes, total: size === UNKNOWN_SIZE ? null : size });
    }
  }

  /** A file read straight into the frame buffer, to its end: no copy between the two. */
  async function fromFile(file: Deno.FsFile): Promise<number> {
    while (true) {
      const region = frames.region();
      let n = 0;
      while (n < region.length) {
        // A small file is read on this thread: a pool call costs more than the read.
        const got = region.length <= SYNC_READ_MAX
          ? file.readSync(region.subarray(n))
          : await file.read(region.subarray(n));
        if (got === null) break;
        n += got;
      }
      if (n === 0) return bytes;
      await send(region.subarray(0, n), true);
      if (n < region.length) return bytes;
    }
  }

  /** Any other source, chunk by chunk. */
  async function fromChunks(): Promise<number> {
    while (true) {
      const next = s.iterator.next();
      next.catch(() => {});
      const { value: chunk, done: end } = await Promise.race([next, s.failed]);
      if (end) return bytes;
      for (let o = 0; o < chunk.length; o += DATA_BATCH) {
        const piece = chunk.subarray(o, o + DATA_BATCH);
        // A stream may send more than it declared: grow so frame boundaries stay the same.
        if (piece.length > frames.capacity) {
          frames = createDataFrameBuffer(SERVICES.UPLOAD_DATA, piece.length);
        }
        await send(piece, false);
      }
    }
  }

  try {
    return s.file !== null ? await fromFile(s.file) : await fromChunks();
  } finally {
    stall.stop();
  }
}
