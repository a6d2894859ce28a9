/**
 * Downloads: a remote file to a local path (through a hidden partial file that is renamed into
 * place once verified, and can be resumed) or to a writable stream, checked against the size and
 * digest (in the connection's checksum algorithm) the server sends in its EOF.
 *
 * @module
 */

import { decodeDigest, encodeHashRequest } from "../protocol/messages/mod.ts";
import { SERVICES } from "../protocol/services.ts";
import { FerryError, isInterruption } from "../protocol/errors.ts";
import { equalBytes } from "../protocol/bytes.ts";
import type { Mux } from "./mux.ts";
import type { DownloadOptions, TransferResult } from "./types.ts";
import { type AtomicFile, localError, openDownloadFile, partialPathFor } from "./local_files.ts";
import { createHasher, type HashAlgorithm } from "../common/hash_file.ts";
import { safeLocalName } from "./local_names.ts";
import { is, request, unexpected } from "./requests.ts";
import { type StreamSink, streamSink } from "./sources.ts";
import { DEFAULT_STALL_MS, type TransferSettings } from "./transfer_settings.ts";
import { wirePath } from "./wire_values.ts";
import { receive, type Sink } from "./receive.ts";
import { downloadInStreams } from "./streams.ts";
import type { DialOptions } from "./connect.ts";

/** Downloads `remote` to a local path or a writable stream (see `FerryClient.download`). */
export async function download(
  mux: Mux,
  remote: string,
  destination: string | WritableStream<Uint8Array>,
  options: DownloadOptions = {},
  transfers: TransferSettings = { stallMs: DEFAULT_STALL_MS },
  dial?: DialOptions,
): Promise<TransferResult> {
  remote = wirePath(remote);
  const algorithm = transfers.checksum ?? "sha256";
  let offset = options.offset ?? 0;
  const target = await localTarget(remote, destination);
  if (options.length !== undefined) {
    if (typeof target === "string") {
      throw new FerryError("USAGE", "a range (length) can only be downloaded to a stream");
    }
    if (!transfers.ranges) {
      throw new FerryError("UNSUPPORTED", "this server does not send ranges of files");
    }
  }
  const streams = options.streams ?? 1;
  if (
    streams > 1 && typeof target === "string" && dial !== undefined && offset === 0 &&
    !(options.resume && await exists(partialPathFor(target)))
  ) {
    const result = await downloadInStreams(mux, remote, target, streams, options, transfers, dial);
    if (result !== null) return result;
  }
  let file: AtomicFile | null = null;
  let stream: StreamSink | null = null;
  let sink: Sink;
  if (typeof target === "string") {
    if (options.resume && await exists(partialPathFor(target))) {
      // Hashing the partial file here and its prefix on the server takes a moment.
      options.onProgress?.({ bytes: 0, total: null, verifying: true });
    }
    file = await openDownloadFile(target, {
      resume: options.resume,
      algorithm,
      directorySync: transfers.directories,
    });
    if (file.existing > 0) {
      offset = await matchingPrefix(mux, remote, file, algorithm);
      if (offset === 0) await file.restart();
    }
    sink = file;
  } else {
    stream = streamSink(target.getWriter());
    sink = stream;
  }
  try {
    const partial = file;
    // A fresh download to a path is hashed once, by the partial file; a hash of its own is
    // needed only when the EOF's digest covers fewer bytes than the file (a resumed or offset
    // download).
    const own = partial === null || offset > 0 ? createHasher(algorithm) : null;
    const received = await receive(mux, {
      remote,
      offset,
      length: options.length,
      sink,
      hash: () => own ?? partial!.hasher.copy(),
      hashHere: own !== null,
      preserveTimes: options.preserveTimes,
      signal: options.signal,
      onProgress: options.onProgress,
      transfers,
      algorithm,
    });
    let checksum = received.checksum;
    if (file !== null) {
      checksum = file.hasher.copy().digest().toHex();
      const mtime = received.mtime;
      await file.commit({
        mtime: options.preserveTimes && mtime !== null ? new Date(mtime) : null,
      });
    } else {
      await stream?.commit();
    }
    return {
      bytes: received.bytes,
      checksum,
      algorithm,
      path: typeof target === "string"
        ? target
        : typeof destination === "string"
        ? destination
        : remote,
      resumed: offset,
    };
  } catch (err) {
    if (file !== null) await file.discard(isInterruption(err));
    else await stream?.discard(err);
    throw err;
  }
}

/**
 * Where the data goes: a path (an existing directory gets the remote's name), or a stream: the
 * one given, or a special file that exists (a pipe, a device such as `/dev/null`), which is
 * written directly since it cannot be replaced by a renamed file. The stat is synchronous, as
 * the other metadata calls of a download (`common/atomic_file.ts`, `SYNC_WRITE_MAX`): one
 * thread-pool round trip fewer for each of a thousand small files.
 */
async function localTarget(
  remote: string,
  destination: string | WritableStream<Uint8Array>,
): Promise<string | WritableStream<Uint8Array>> {
  if (typeof destination !== "string") return destination;
  let info: Deno.FileInfo | null;
  try {
    info = Deno.statSync(destination);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) info = null;
    else throw localError(err, destination);
  }
  if (info?.isDirectory) return `${destination}/${safeLocalName(remote)}`;
  if (info === null || info.isFile) return destination;
  try {
    return (await Deno.open(destination, { write: true })).writable;
  } catch (err) {
    throw localError(err, destination);
  }
}

/**
 * The length of the local partial file if the server's file starts with the same bytes (by
 * their digests in `algorithm`, the connection's), else 0.
 */
async function matchingPrefix(
  mux: Mux,
  remote: string,
  file: AtomicFile,
  algorithm: HashAlgorithm,
): Promise<number> {
  const id = mux.nextId();
  const digest = await request(
    mux,
    id,
    encodeHashRequest({
      id,
      length: file.existing,
      path: remote,
      algorithm: algorithm === "sha256" ? undefined : algorithm,
    }),
    (f) => {
      if (is(f, SERVICES.HASH_RESULT)) return decodeDigest(f.payload, algorithm);
      throw unexpected(f, "hashing");
    },
  ).catch((err) => {
    if (err instanceof FerryError && err.code === "BAD_ARGUMENT") return null; // remote is shorter
    throw err;
  });
  if (digest === null || digest.length !== file.existing) return 0;
  const local = file.hasher.copy().digest();
  return equalBytes(local, digest.digest) ? file.existing : 0;
}

/** Whether something is at `path` (without following a final symlink). */
function exists(path: string): Promise<boolean> {
  return Deno.lstat(path).then(() => true, () => false);
}
