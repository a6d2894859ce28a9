/**
 * Upload sources read in chunks sized for data frames, and the writable-stream sink of a
 * download.
 *
 * @module
 */

import { DATA_BATCH } from "../protocol/messages/mod.ts";
import { localError } from "./local_files.ts";

/**
 * Largest read of an upload source made on the calling thread rather than the pool: a whole
 * `DATA_BATCH`, so a big file too is read here. `Deno.FsFile.read` on the pool reads into a
 * fresh buffer of the runtime's and copies it over: reading 1 GiB page-cache warm in 256 KiB
 * reads cost 0.75-0.85 CPU-s that way on this project's test machine, 0.35-0.4 with
 * `readSync`. The event loop waits for each read meanwhile (about 0.1 ms from the page cache,
 * a disk's latency when the file is not cached).
 */
export const SYNC_READ_MAX = DATA_BATCH;

/**
 * Reads `file` from its current position into `buf` until it is full or the file ends, and
 * returns how many bytes it read (fewer than `buf.length` only at the end). A buffer of up to
 * {@linkcode SYNC_READ_MAX} bytes is read on this thread.
 */
export async function fillFromFile(file: Deno.FsFile, buf: Uint8Array): Promise<number> {
  const onThisThread = buf.length <= SYNC_READ_MAX;
  let filled = 0;
  while (filled < buf.length) {
    const n = onThisThread
      ? file.readSync(buf.subarray(filled))
      : await file.read(buf.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return filled;
}

/** Reads a file from its current position in chunks of at most `DATA_BATCH` bytes. */
export async function* fileChunks(
  file: Deno.FsFile,
  path: string,
  size: number,
): AsyncGenerator<Uint8Array> {
  // Two buffers alternate so the chunk handed out stays intact while the next one is read;
  // a small file gets small ones (a pipelined batch of 1,000 small uploads stays small).
  const length = Math.max(1, Math.min(DATA_BATCH, size + 1));
  const buffers = [new Uint8Array(length), new Uint8Array(length)];
  let which = 0;
  try {
    while (true) {
      const buf = buffers[which];
      which ^= 1;
      const filled = await fillFromFile(file, buf);
      if (filled === 0) return;
      yield buf.subarray(0, filled);
      if (filled < buf.length) return;
    }
  } catch (err) {
    throw localError(err, path);
  }
}

/** Cuts bytes into chunks of at most `DATA_BATCH` bytes (views, not copies). */
export async function* bytesChunks(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let o = 0; o < bytes.length; o += DATA_BATCH) yield bytes.subarray(o, o + DATA_BATCH);
}

/** The sink of a download into a writable stream. */
export interface StreamSink {
  /** Writes a copy of `data` (the caller reuses its buffer). */
  write(data: Uint8Array): Promise<void>;
  /** Closes the stream: the download verified. */
  commit(): Promise<void>;
  /** Aborts the stream with `reason`: the download failed. */
  discard(reason?: unknown): Promise<void>;
}

/** The sink of a download into a writable stream: aborted when verification fails. */
export function streamSink(writer: WritableStreamDefaultWriter<Uint8Array>): StreamSink {
  return {
    write: (data: Uint8Array) => writer.write(data.slice()),
    async commit() {
      await writer.close();
    },
    async discard(reason?: unknown) {
      await writer.abort(reason).catch(() => {});
    },
  };
}
