/**
 * One file downloaded over several connections at once (`download(…, { streams })`, the CLI's
 * `get --streams N`; PROTOCOL.md §4.4): the file is STATed, cut into N consecutive ranges, and
 * each range moves as a ranged DOWNLOAD on its own connection: the first on this client's, the
 * others each in a worker (`stream_worker.ts`) with a connection of its own, so that TLS,
 * hashing and writing run on several cores. Every range is written at its offset into the one
 * partial file and checked by its own EOF as it arrives; every FILE_INFO must give the STAT's
 * size and time. Then the whole file is checked: this side reads the partial file back and
 * hashes it while the server hashes its file (HASH), and the two must match before the file is
 * committed like any download (fsync, rename, directory fsync).
 *
 * @module
 */

import { FerryError, messageOf } from "../protocol/errors.ts";
import { equalBytes } from "../protocol/bytes.ts";
import { decodeDigest, encodeHashRequest } from "../protocol/messages/mod.ts";
import { SERVICES } from "../protocol/services.ts";
import { hashPrefix } from "../common/hash_file.ts";
import type { Mux } from "./mux.ts";
import type { DialOptions } from "./connect.ts";
import type { DownloadOptions, TransferResult } from "./types.ts";
import type { TransferSettings } from "./transfer_settings.ts";
import { type AtomicFile, localError, openDownloadFile } from "./local_files.ts";
import { is, request, unexpected } from "./requests.ts";
import { stat } from "./operations.ts";
import { downloadRange, type RangeJob, type RangeReply } from "./stream_worker.ts";

/** Fewest bytes a stream is given: smaller files use fewer streams. */
export const MIN_RANGE = 16 * 1024 * 1024;

/** Ranges start at multiples of this (whole pages and write buffers). */
const RANGE_ALIGN = 1024 * 1024;

/** `size` bytes cut into at most `streams` consecutive ranges of at least {@linkcode MIN_RANGE}. */
export function splitRanges(size: number, streams: number): { offset: number; length: number }[] {
  const n = Math.max(1, Math.min(Math.floor(streams), Math.floor(size / MIN_RANGE)));
  const step = Math.ceil(size / n / RANGE_ALIGN) * RANGE_ALIGN;
  const ranges: { offset: number; length: number }[] = [];
  for (let offset = 0; offset < size || ranges.length === 0; offset += step) {
    ranges.push({ offset, length: Math.min(step, size - offset) });
  }
  return ranges;
}

/** A range running in a worker: its bytes so far, its end, and how to stop it. */
interface Stream {
  bytes: number;
  done: Promise<{ bytes: number; checksum: string }>;
  stop(): void;
}

/** Starts `job` in a new worker. */
function startWorker(job: RangeJob, onProgress: () => void): Stream {
  const worker = new Worker(new URL("./stream_worker.ts", import.meta.url), { type: "module" });
  let settle!: (r: RangeReply) => void;
  const ended = new Promise<RangeReply>((resolve) => settle = resolve);
  const stream: Stream = {
    bytes: 0,
    done: ended.then((r) => {
      if (r.kind === "done") return { bytes: r.bytes, checksum: r.checksum };
      throw new FerryError(
        r.kind === "error" ? r.code : "INTERNAL",
        (r as { message: string }).message,
      );
    }),
    stop: () => {
      worker.terminate();
      settle({ kind: "error", code: "CANCELLED", message: "stream stopped" });
    },
  };
  worker.onmessage = (event: MessageEvent<RangeReply>) => {
    const reply = event.data;
    if (reply.kind === "progress") {
      stream.bytes = reply.bytes;
      onProgress();
    } else {
      worker.terminate();
      settle(reply);
    }
  };
  worker.onerror = (event) => {
    event.preventDefault();
    worker.terminate();
    settle({ kind: "error", code: "INTERNAL", message: `stream worker: ${event.message}` });
  };
  worker.postMessage(job);
  return stream;
}

/**
 * Downloads `remote` to the local path `target` over `streams` connections; `null` when that
 * does not apply (not a regular file, too small for two streams, a server without ranges), and
 * the caller downloads it over one.
 */
export async function downloadInStreams(
  mux: Mux,
  remote: string,
  target: string,
  streams: number,
  options: DownloadOptions,
  transfers: TransferSettings,
  dial: DialOptions,
): Promise<TransferResult | null> {
  if (!transfers.ranges) return null;
  const entry = await stat(mux, remote);
  if (entry.kind !== "file") return null;
  const ranges = splitRanges(entry.size, streams);
  if (ranges.length < 2) return null;
  const algorithm = transfers.checksum ?? "sha256";
  const expect = { size: entry.size, mtime: entry.mtime };
  const file: AtomicFile = await openDownloadFile(target, { algorithm });
  const running: Stream[] = [];
  const abort = new AbortController();
  try {
    try {
      await Deno.truncate(file.temp, entry.size);
    } catch (err) {
      throw localError(err, target);
    }
    const report = () =>
      options.onProgress?.({ bytes: running.reduce((n, s) => n + s.bytes, 0), total: entry.size });
    // Each stream's share of a rate limit.
    const limitRate = dial.limitRate === undefined
      ? undefined
      : Math.max(1, Math.floor(dial.limitRate / ranges.length));
    const job = (i: number): RangeJob => ({
      dial: { ...dial, limitRate },
      remote,
      path: file.temp,
      name: target,
      ...ranges[i],
      expect,
    });
    for (let i = 1; i < ranges.length; i++) running.push(startWorker(job(i), report));
    const own: Stream = { bytes: 0, done: Promise.resolve({ bytes: 0, checksum: "" }), stop() {} };
    own.done = downloadRange(mux, transfers, job(0), (bytes) => {
      own.bytes = bytes;
      report();
    }, abort.signal);
    running.unshift(own);
    const onAbort = () => {
      abort.abort();
      for (const s of running) s.stop();
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      // The first failure stops the others.
      await Promise.all(running.map((s) =>
        s.done.catch((err) => {
          onAbort();
          throw err;
        })
      ));
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
    }
    options.signal?.throwIfAborted();
    options.onProgress?.({ bytes: entry.size, total: entry.size, verifying: true });
    const checksum = await wholeFileMatches(mux, remote, file, target, algorithm);
    await file.commit({
      mtime: options.preserveTimes && entry.mtime !== null ? new Date(entry.mtime) : null,
    });
    return { bytes: entry.size, checksum, algorithm, path: target, resumed: 0 };
  } catch (err) {
    abort.abort();
    for (const s of running) s.stop();
    await Promise.allSettled(running.map((s) => s.done));
    await file.discard();
    if (options.signal?.aborted && !(err instanceof FerryError && err.code !== "CANCELLED")) {
      throw new FerryError("CANCELLED", "download cancelled");
    }
    throw err instanceof FerryError ? err : new FerryError("INTERNAL", messageOf(err));
  }
}

/**
 * Hashes the partial file while the server hashes its file; returns the hex digest when they
 * match.
 *
 * @throws {FerryError} `CHECKSUM_MISMATCH` when they differ.
 */
async function wholeFileMatches(
  mux: Mux,
  remote: string,
  file: AtomicFile,
  target: string,
  algorithm: "sha256" | "xxh128",
): Promise<string> {
  const id = mux.nextId();
  const theirs = request(
    mux,
    id,
    encodeHashRequest({
      id,
      length: -1,
      path: remote,
      algorithm: algorithm === "sha256" ? undefined : algorithm,
    }),
    (f) => {
      if (is(f, SERVICES.HASH_RESULT)) return decodeDigest(f.payload, algorithm);
      throw unexpected(f, "hashing");
    },
  );
  theirs.catch(() => {});
  let local: Uint8Array;
  try {
    using handle = await Deno.open(file.temp, { read: true });
    local = (await hashPrefix(handle, { algorithm })).hasher.digest();
  } catch (err) {
    throw localError(err, target);
  }
  const digest = await theirs;
  if (!equalBytes(local, digest.digest)) {
    throw new FerryError(
      "CHECKSUM_MISMATCH",
      `the file assembled from its ranges does not match the server's (${remote} may have changed)`,
    );
  }
  return local.toHex();
}
