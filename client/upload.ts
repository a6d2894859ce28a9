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
  encodeEof,
  encodeUpload,
  encodeUploadResume,
} from "../protocol/messages/mod.ts";
import { SERVICES } from "../protocol/services.ts";
import { UNKNOWN_SIZE } from "../protocol/bytes.ts";
import { FerryError } from "../protocol/errors.ts";
import type { Mux } from "./mux.ts";
import type { Progress, TransferResult, UploadOptions } from "./types.ts";
import { localError } from "./local_files.ts";
import { is, request, unexpected } from "./requests.ts";
import { fillFromFile } from "./sources.ts";
import { openSource, resumePoint } from "./upload_source.ts";
import { createHasher, type Hasher } from "../common/hash_file.ts";
import { DEFAULT_STALL_MS, stallGuard, type TransferSettings } from "./transfer_settings.ts";
import { checkMtime, wirePath } from "./wire_values.ts";

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
      const n = await fillFromFile(file, region);
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
