/**
 * One file downloaded over several connections at once (`download(…, { streams })`, the CLI's
 * `get --streams N`; PROTOCOL.md §4.4): the file is STATed, cut into N consecutive ranges, and
 * each range moves as a ranged DOWNLOAD on its own connection: the first on this client's, the
 * others each in a worker (`stream_worker.ts`) with a connection of its own, so that TLS,
 * hashing and writing run on several cores. Every range is written at its offset into the one
 * partial file and checked by its own EOF as it arrives: the ranges tile the file, so every byte
 * is checked once, end to end, as in a download over one stream. Every FILE_INFO, and a last
 * STAT once all ranges are in, must give the first STAT's size and time (a file replaced or
 * rewritten meanwhile is `CHECKSUM_MISMATCH`). The file is then committed like any download
 * (fsync, rename, directory fsync).
 *
 * There is no digest of the whole file: XXH3 and SHA-256 digests of ranges do not combine into
 * the file's, and getting one would cost a second pass over the file on both sides (the server's
 * HASH, this side reading it back), about as much CPU as the transfer saves. The result's
 * `checksum` is therefore `null`, and `ranges` says how many ranges were checked.
 *
 * @module
 */

import { FerryError, messageOf } from "../protocol/errors.ts";
import type { Mux } from "./mux.ts";
import type { DialOptions } from "./connect.ts";
import type { DownloadOptions, TransferResult } from "./types.ts";
import type { TransferSettings } from "./transfer_settings.ts";
import { type AtomicFile, localError, openDownloadFile } from "./local_files.ts";
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
    const after = await stat(mux, remote);
    if (after.kind !== "file" || after.size !== entry.size || after.mtime !== entry.mtime) {
      throw new FerryError("CHECKSUM_MISMATCH", `${remote} changed during the download`);
    }
    await file.commit({
      mtime: options.preserveTimes && entry.mtime !== null ? new Date(entry.mtime) : null,
    });
    return {
      bytes: entry.size,
      checksum: null,
      algorithm,
      path: target,
      resumed: 0,
      ranges: ranges.length,
    };
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
