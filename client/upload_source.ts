/**
 * The source of an upload: a local path, bytes or a stream, opened; and where an interrupted
 * upload of it can continue, from what the server kept (UPLOAD_STATUS).
 *
 * @module
 */

import { decodeDigest, type Digest, encodeUploadStatus } from "../protocol/messages/mod.ts";
import { SERVICES } from "../protocol/services.ts";
import { equalBytes, UNKNOWN_SIZE } from "../protocol/bytes.ts";
import { FerryError } from "../protocol/errors.ts";
import type { Mux } from "./mux.ts";
import type { UploadOptions } from "./types.ts";
import { localError } from "./local_files.ts";
import { is, request, unexpected } from "./requests.ts";
import { bytesChunks, fileChunks } from "./sources.ts";
import { createHasher, type HashAlgorithm, type Hasher, hashPrefix } from "../common/hash_file.ts";

/** An opened upload source. */
export interface Source {
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

/** Opens a path (its size and, unless given, its time), or takes bytes or a stream as they are. */
export async function openSource(
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
export async function resumePoint(
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
