/**
 * Downloads: a remote file to a local path (through a hidden partial file that is renamed into
 * place once verified, and can be resumed) or to a writable stream, checked against the size and
 * SHA-256 the server sends in its EOF.
 *
 * @module
 */

import {
  decodeData,
  decodeDigest,
  decodeEof,
  decodeFileInfo,
  encodeDownload,
  encodeHashRequest,
} from "../protocol/messages/mod.ts";
import { SERVICES } from "../protocol/services.ts";
import { FerryError, isInterruption } from "../protocol/errors.ts";
import { equalBytes } from "../protocol/bytes.ts";
import type { Frame } from "../protocol/frame.ts";
import type { Mux } from "./mux.ts";
import type { DownloadOptions, TransferResult } from "./types.ts";
import { type AtomicFile, localError, openDownloadFile, partialPathFor } from "./local_files.ts";
import { createHasher, type Hasher } from "../common/hash_file.ts";
import { safeLocalName } from "./local_names.ts";
import { is, request, unexpected, withAbort } from "./requests.ts";
import { type StreamSink, streamSink } from "./sources.ts";
import { DEFAULT_STALL_MS, stallTimer, type TransferSettings } from "./transfer_settings.ts";
import { checkMtime, wirePath } from "./wire_values.ts";

/** Downloads `remote` to a local path or a writable stream (see `FerryClient.download`). */
export async function download(
  mux: Mux,
  remote: string,
  destination: string | WritableStream<Uint8Array>,
  options: DownloadOptions = {},
  transfers: TransferSettings = { stallMs: DEFAULT_STALL_MS },
): Promise<TransferResult> {
  remote = wirePath(remote);
  let offset = options.offset ?? 0;
  const target = await localTarget(remote, destination);
  let file: AtomicFile | null = null;
  let stream: StreamSink | null = null;
  let sink: Sink;
  if (typeof target === "string") {
    if (options.resume && await Deno.lstat(partialPathFor(target)).then(() => true, () => false)) {
      // Hashing the partial file here and its prefix on the server takes a moment.
      options.onProgress?.({ bytes: 0, total: null, verifying: true });
    }
    file = await openDownloadFile(target, {
      resume: options.resume,
      directorySync: transfers.directories,
    });
    if (file.existing > 0) {
      offset = await matchingPrefix(mux, remote, file);
      if (offset === 0) await file.restart();
    }
    sink = file;
  } else {
    stream = streamSink(target.getWriter());
    sink = stream;
  }
  try {
    const received = await receive(mux, { remote, offset, sink, file, options, transfers });
    let sha256 = received.sha256;
    if (file !== null) {
      sha256 = file.hasher.copy().digest().toHex();
      const mtime = received.mtime;
      await file.commit({
        mtime: options.preserveTimes && mtime !== null ? new Date(mtime) : null,
      });
    } else {
      await stream?.commit();
    }
    return {
      bytes: received.bytes,
      sha256,
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
 * written directly since it cannot be replaced by a renamed file.
 */
async function localTarget(
  remote: string,
  destination: string | WritableStream<Uint8Array>,
): Promise<string | WritableStream<Uint8Array>> {
  if (typeof destination !== "string") return destination;
  let info: Deno.FileInfo | null;
  try {
    info = await Deno.stat(destination);
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

/** Where received bytes are written. */
interface Sink {
  write(data: Uint8Array): Promise<void>;
}

/** One DOWNLOAD request: where it starts, where its bytes go, and the partial file if any. */
interface Receiving {
  remote: string;
  offset: number;
  sink: Sink;
  file: AtomicFile | null;
  options: DownloadOptions;
  /** Rate limit (it holds up the connection's reader, so the server slows down too), stall. */
  transfers: TransferSettings;
}

/** What a DOWNLOAD request received: the verified digest, the bytes and the remote time. */
interface Received {
  sha256: string;
  bytes: number;
  mtime: number | null;
}

/** Sends DOWNLOAD and writes the data frames to the sink until a verified EOF. */
async function receive(mux: Mux, r: Receiving): Promise<Received> {
  const { offset, sink, file, options } = r;
  const id = mux.nextId();
  // A fresh download to a path is hashed once, by the partial file; the suffix hash is needed
  // only when the EOF's digest covers fewer bytes than the file (a resumed or offset download).
  const suffixHash = file !== null && offset === 0 ? null : createHasher("sha256");
  let total: number | null = null;
  let mtime: number | null = null;
  let bytes = 0;
  let reported = 0;
  // Once data flows, a gap longer than the stall timeout means the connection is lost.
  const stall = stallTimer(
    r.transfers.stallMs,
    `get ${r.remote}`,
    (err) => mux.abort(id, err),
    () => mux.readWaitMs(),
  );
  const done = request(mux, id, encodeDownload({ id, offset, path: r.remote }), async (f) => {
    stall.disarm();
    if (is(f, SERVICES.FILE_INFO)) {
      const info = decodeFileInfo(f.payload);
      total = info.size - offset;
      mtime = info.mtime;
      file?.expect(info.size);
      // A time the local file cannot be given is refused before any data, not set as 1970.
      if (options.preserveTimes && mtime !== null) checkMtime(mtime, r.remote);
      options.onProgress?.({ bytes, total });
      stall.arm();
      return undefined;
    }
    if (is(f, SERVICES.DOWNLOAD_DATA)) {
      const { data } = decodeData(f.payload);
      bytes += data.length;
      if (total === null || bytes > total) {
        throw new FerryError("BAD_FRAME", `server sent more than the ${total} bytes it announced`);
      }
      suffixHash?.update(data);
      if (r.transfers.throttle !== undefined) await r.transfers.throttle.take(data.length);
      await sink.write(data);
      if (options.onProgress && bytes - reported >= 256 * 1024) {
        reported = bytes;
        options.onProgress({ bytes, total });
      }
      stall.arm(); // the wait starts once this frame is written, whatever the pace
      return undefined;
    }
    if (is(f, SERVICES.EOF)) {
      return verifyEof(f, suffixHash ?? (file as AtomicFile).hasher.copy(), bytes, total);
    }
    throw unexpected(f, "downloading");
  });
  let sha256: string;
  try {
    sha256 = await withAbort(mux, done, id, options.signal);
  } finally {
    stall.disarm();
  }
  options.onProgress?.({ bytes, total });
  return { sha256, bytes, mtime };
}

/** The length of the local partial file if the server's file starts with the same bytes, else 0. */
async function matchingPrefix(mux: Mux, remote: string, file: AtomicFile): Promise<number> {
  const id = mux.nextId();
  const digest = await request(
    mux,
    id,
    encodeHashRequest({ id, length: file.existing, path: remote }),
    (f) => {
      if (is(f, SERVICES.HASH_RESULT)) return decodeDigest(f.payload);
      throw unexpected(f, "hashing");
    },
  ).catch((err) => {
    if (err instanceof FerryError && err.code === "BAD_ARGUMENT") return null; // remote is shorter
    throw err;
  });
  if (digest === null || digest.length !== file.existing) return 0;
  const local = file.hasher.copy().digest();
  return equalBytes(local, digest.sha256) ? file.existing : 0;
}

/** Checks an EOF against what was received; returns the hex SHA-256. */
function verifyEof(f: Frame, hash: Hasher, bytes: number, total: number | null): string {
  const eof = decodeEof(f.payload);
  const digest = hash.digest();
  if (total === null) throw new FerryError("BAD_FRAME", "server sent EOF before FILE_INFO");
  if (eof.size !== bytes || bytes !== total) {
    throw new FerryError(
      "CHECKSUM_MISMATCH",
      `download incomplete: ${bytes} bytes received, ${total} announced, EOF says ${eof.size}`,
    );
  }
  if (!equalBytes(digest, eof.sha256)) {
    throw new FerryError(
      "CHECKSUM_MISMATCH",
      "SHA-256 of the received bytes does not match the server's",
    );
  }
  return digest.toHex();
}
