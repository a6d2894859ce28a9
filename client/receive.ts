/**
 * One DOWNLOAD request (PROTOCOL.md §4.4): the file from an offset, or a range of it, written to
 * a sink frame by frame and checked against the size and digest of the server's EOF. Downloads
 * to a path or a stream (`download.ts`) and the ranges of a download over several streams
 * (`streams.ts`) are this one loop.
 *
 * @module
 */

import {
  decodeData,
  decodeEof,
  decodeFileInfo,
  encodeDownload,
  type Eof,
} from "../protocol/messages/mod.ts";
import { SERVICES } from "../protocol/services.ts";
import { FerryError } from "../protocol/errors.ts";
import { equalBytes } from "../protocol/bytes.ts";
import { HASH_NAMES, type HashAlgorithm, type Hasher } from "../common/hash_file.ts";
import type { Mux } from "./mux.ts";
import { is, request, unexpected, withAbort } from "./requests.ts";
import { stallTimer, type TransferSettings } from "./transfer_settings.ts";
import { checkMtime } from "./wire_values.ts";
import type { Progress } from "./types.ts";

/** Where received bytes are written. */
export interface Sink {
  /** Writes (or copies) `data`, a view valid only until the returned promise settles. */
  write(data: Uint8Array): Promise<void>;
  /**
   * Told the size of the whole file once FILE_INFO gives it (a partial file then sizes its
   * write buffers to the bytes still to come: a small file costs a small buffer).
   */
  expect?(length: number): void;
}

/** One DOWNLOAD request: what to ask for, where its bytes go, how to check them. */
export interface Receiving {
  /** Remote path, as sent. */
  remote: string;
  /** First byte asked for. */
  offset: number;
  /** Bytes asked for (a range, PROTOCOL.md §4.4), or `undefined` for the rest of the file. */
  length?: number;
  /** Where the bytes go. */
  sink: Sink;
  /**
   * The hash of the bytes of this request, checked against the EOF: one of its own, or (for a
   * fresh download to a path) a copy of the partial file's, which covers the same bytes.
   */
  hash: () => Hasher;
  /** Bytes written to `hash` here (false when the sink hashes them itself). */
  hashHere: boolean;
  /** The size and modification time the file must have (a range of a file STAT described). */
  expect?: { size: number; mtime: number | null };
  /** Refuse a remote time the local file cannot be given, before any data. */
  preserveTimes?: boolean;
  /** Aborts the request. */
  signal?: AbortSignal;
  /** Called as data moves, at most once per 256 KiB. */
  onProgress?: (progress: Progress) => void;
  /** Rate limit (it holds up the connection's reader, so the server slows down too), stall. */
  transfers: TransferSettings;
  /** The connection's checksum algorithm. */
  algorithm: HashAlgorithm;
}

/** What a DOWNLOAD request received: the verified digest, the bytes and the remote time. */
export interface Received {
  /** Hex digest of the bytes received, as the EOF gave it. */
  checksum: string;
  /** Bytes received. */
  bytes: number;
  /** The remote file's modification time. */
  mtime: number | null;
}

/**
 * Sends DOWNLOAD and writes the data frames to the sink until a verified EOF.
 *
 * @throws {FerryError} `CHECKSUM_MISMATCH` when the bytes, their count or (with `expect`) the
 * file's size or time differ; `BAD_FRAME` for more data than announced; the server's errors.
 */
export async function receive(mux: Mux, r: Receiving): Promise<Received> {
  const { offset, sink } = r;
  const id = mux.nextId();
  const hash = r.hashHere ? r.hash() : null;
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
  const first = encodeDownload({ id, offset, path: r.remote, length: r.length });
  const done = request(mux, id, first, async (f) => {
    stall.disarm();
    if (is(f, SERVICES.DOWNLOAD_DATA)) {
      const { data } = decodeData(f.payload);
      bytes += data.length;
      if (total === null || bytes > total) {
        throw new FerryError("BAD_FRAME", `server sent more than the ${total} bytes it announced`);
      }
      hash?.update(data);
      if (r.transfers.throttle !== undefined) await r.transfers.throttle.take(data.length);
      await sink.write(data);
      if (r.onProgress && bytes - reported >= 256 * 1024) {
        reported = bytes;
        r.onProgress({ bytes, total });
      }
      stall.arm(); // the wait starts once this frame is written, whatever the pace
      return undefined;
    }
    if (is(f, SERVICES.FILE_INFO)) {
      const info = decodeFileInfo(f.payload);
      if (
        r.expect !== undefined && (info.size !== r.expect.size || info.mtime !== r.expect.mtime)
      ) {
        throw new FerryError(
          "CHECKSUM_MISMATCH",
          `${r.remote} changed during the download (now ${info.size} bytes)`,
        );
      }
      total = r.length ?? info.size - offset;
      mtime = info.mtime;
      r.sink.expect?.(info.size);
      // A time the local file cannot be given is refused before any data, not set as 1970.
      if (r.preserveTimes && mtime !== null) checkMtime(mtime, r.remote);
      r.onProgress?.({ bytes, total });
      stall.arm();
      return undefined;
    }
    if (is(f, SERVICES.EOF)) {
      return verifyEof(decodeEof(f.payload, r.algorithm), hash ?? r.hash(), bytes, total);
    }
    throw unexpected(f, "downloading");
  });
  let checksum: string;
  try {
    checksum = await withAbort(mux, done, id, r.signal);
  } finally {
    stall.stop();
  }
  r.onProgress?.({ bytes, total });
  return { checksum, bytes, mtime };
}

/** Checks an EOF against what was received; returns the hex digest. */
function verifyEof(eof: Eof, hash: Hasher, bytes: number, total: number | null): string {
  const digest = hash.digest();
  if (total === null) throw new FerryError("BAD_FRAME", "server sent EOF before FILE_INFO");
  if (eof.size !== bytes || bytes !== total) {
    throw new FerryError(
      "CHECKSUM_MISMATCH",
      `download incomplete: ${bytes} bytes received, ${total} announced, EOF says ${eof.size}`,
    );
  }
  if (!equalBytes(digest, eof.digest)) {
    throw new FerryError(
      "CHECKSUM_MISMATCH",
      `${HASH_NAMES[hash.algorithm]} of the received bytes does not match the server's`,
    );
  }
  return digest.toHex();
}
