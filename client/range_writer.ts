/**
 * Writes one range of a file that other writers fill at the same time (the ranges of a
 * download over several streams): its own handle on the file, positioned at the range's start,
 * bytes gathered into large writes from two buffers that take turns, so that writing to disk
 * overlaps with receiving.
 *
 * @module
 */

import { localError } from "./local_files.ts";

/** Size of each of the two buffers. */
export const RANGE_BUFFER_SIZE = 1024 * 1024;

/** A writer of one range of a file. */
export interface RangeWriter {
  /** Bytes written (accepted) so far. */
  readonly written: number;
  /** Appends a copy of `data` at the range's current end. */
  write(data: Uint8Array): Promise<void>;
  /** Writes out everything buffered and waits for it. */
  flush(): Promise<void>;
  /** Closes the file (after waiting for any write under way); safe to call twice. */
  close(): Promise<void>;
}

/**
 * Opens the existing file `path` to write from byte `offset` on (never creating or truncating
 * it). Failures are `LOCAL_IO` errors naming `name`.
 */
export async function openRangeWriter(
  path: string,
  offset: number,
  name: string,
  bufferSize = RANGE_BUFFER_SIZE,
): Promise<RangeWriter> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { write: true });
    await file.seek(offset, Deno.SeekMode.Start);
  } catch (err) {
    throw localError(err, name);
  }
  let buffer: Uint8Array = new Uint8Array(bufferSize);
  let spare: Uint8Array | null = null;
  let fill = 0;
  let written = 0;
  let writing: Promise<void> = Promise.resolve();
  let open = true;

  async function writeAll(bytes: Uint8Array): Promise<void> {
    try {
      for (let o = 0; o < bytes.length;) o += await file.write(bytes.subarray(o));
    } catch (err) {
      throw localError(err, name);
    }
  }

  async function startWrite(): Promise<void> {
    if (fill === 0) return;
    const full = buffer.subarray(0, fill);
    await writing;
    writing = writeAll(full);
    writing.catch(() => {}); // awaited by the next write or the flush
    const next = spare ?? new Uint8Array(buffer.length);
    spare = buffer;
    buffer = next;
    fill = 0;
  }

  return {
    get written() {
      return written;
    },
    async write(data) {
      written += data.length;
      for (let o = 0; o < data.length;) {
        const n = Math.min(data.length - o, buffer.length - fill);
        buffer.set(data.subarray(o, o + n), fill);
        fill += n;
        o += n;
        if (fill === buffer.length) await startWrite();
      }
    },
    async flush() {
      await startWrite();
      await writing;
    },
    async close() {
      if (!open) return;
      open = false;
      await writing.catch(() => {});
      try {
        file.close();
      } catch {
        // already closed
      }
    },
  };
}
