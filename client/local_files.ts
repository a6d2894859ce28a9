/**
 * Local files for downloads: data goes to a hidden partial file beside the target,
 * `.<name>.ferry-partial`, and is renamed over the target only once the transfer verified, so
 * a failed `get` never leaves a partial file under the target name. A transfer interrupted by
 * the connection keeps the partial file so that `get --resume` can continue it.
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { FerryError, messageOf } from "../protocol/errors.ts";

/** A partial file that becomes `target` on {@linkcode AtomicFile.commit}. */
export interface AtomicFile {
  /** Bytes already in the file when it was opened for resuming (0 for a fresh file). */
  readonly existing: number;
  /** Hash over the bytes written so far, including the existing ones; copy before digesting. */
  readonly hash: Hash;
  /** Appends bytes (buffered into large writes). */
  write(data: Uint8Array): Promise<void>;
  /** Drops the existing bytes and starts over (the server's copy did not match them). */
  restart(): Promise<void>;
  /** Flushes, fsyncs, optionally sets the modification time, and renames into place. */
  commit(mtime?: Date | null): Promise<void>;
  /** Closes the file; removes it unless `keep` (for a later resume). Safe after commit. */
  discard(keep?: boolean): Promise<void>;
}

const BUFFER = 1024 * 1024;

/** Wraps a local file-system error as `LOCAL_IO`. */
export function localError(err: unknown, path: string): FerryError {
  if (err instanceof FerryError) return err;
  const message = messageOf(err);
  return new FerryError("LOCAL_IO", `${path}: ${message}`, { cause: err });
}

/** The hidden partial file a download to `target` uses. */
export function partialPathFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.ferry-partial`);
}

/** Hashes a whole open file from its current position; returns the hash and the byte count. */
async function hashFile(file: Deno.FsFile): Promise<{ hash: Hash; length: number }> {
  const hash = createHash("sha256");
  const buf = new Uint8Array(BUFFER);
  let length = 0;
  while (true) {
    const n = await file.read(buf);
    if (n === null) break;
    hash.update(buf.subarray(0, n));
    length += n;
  }
  return { hash, length };
}

/**
 * Opens the partial file for `target`. With `resume`, an existing partial file is kept and
 * hashed (its bytes can then be checked against the server's); otherwise any is replaced.
 */
export async function createAtomicFile(
  target: string,
  options: { resume?: boolean } = {},
): Promise<AtomicFile> {
  const tmp = partialPathFor(target);
  let file: Deno.FsFile;
  let hash = createHash("sha256");
  let existing = 0;
  try {
    const old = await Deno.lstat(tmp).catch(() => null);
    if (old !== null && (!old.isFile || !options.resume)) await Deno.remove(tmp);
    if (old?.isFile && options.resume) {
      file = await Deno.open(tmp, { read: true, write: true });
      ({ hash, length: existing } = await hashFile(file));
    } else {
      file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o644 });
    }
  } catch (err) {
    throw localError(err, target);
  }
  // Two buffers: while one is being written (the copy into the page cache runs on Deno's I/O
  // threads), the other fills from the network, so disk and network work overlap.
  const buffers = [new Uint8Array(BUFFER), new Uint8Array(BUFFER)];
  let buffer = buffers[0];
  let fill = 0;
  let writing: Promise<void> = Promise.resolve();
  let open = true;
  let committed = false;

  async function writeAll(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) offset += await file.write(bytes.subarray(offset));
  }

  /** Starts writing the filled buffer and switches to the other one (after its write ended). */
  async function flush(): Promise<void> {
    const full = buffer.subarray(0, fill);
    await writing;
    writing = writeAll(full);
    writing.catch(() => {}); // awaited by the next flush or by commit
    buffer = buffer === buffers[0] ? buffers[1] : buffers[0];
    fill = 0;
  }

  /** Writes everything buffered and waits for it. */
  async function drain(): Promise<void> {
    if (fill > 0) await flush();
    await writing;
  }

  return {
    get existing() {
      return existing;
    },
    get hash() {
      return hash;
    },
    async write(data) {
      hash.update(data);
      try {
        let offset = 0;
        while (offset < data.length) {
          const n = Math.min(data.length - offset, BUFFER - fill);
          buffer.set(data.subarray(offset, offset + n), fill);
          fill += n;
          offset += n;
          if (fill === BUFFER) await flush();
        }
      } catch (err) {
        throw localError(err, target);
      }
    },
    async restart() {
      try {
        await writing;
        fill = 0;
        await file.truncate(0);
        await file.seek(0, Deno.SeekMode.Start);
      } catch (err) {
        throw localError(err, target);
      }
      hash = createHash("sha256");
      existing = 0;
    },
    async commit(mtime) {
      try {
        await drain();
        if (mtime) await file.utime(new Date(), mtime);
        await file.sync();
        file.close();
        open = false;
        await Deno.rename(tmp, target);
        committed = true;
      } catch (err) {
        throw localError(err, target);
      }
    },
    async discard(keep = false) {
      if (open) {
        open = false;
        if (keep) await drain().catch(() => {});
        else await writing.catch(() => {});
        try {
          file.close();
        } catch {
          // already closed
        }
      }
      if (!committed && !keep) await Deno.remove(tmp).catch(() => {});
    },
  };
}
