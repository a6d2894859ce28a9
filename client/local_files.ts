/**
 * Local files for downloads: data goes to a hidden temporary file beside the target and is
 * renamed over it only once the transfer verified, so a failed `get` never leaves a partial
 * file under the target name.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { FerryError } from "../protocol/errors.ts";

/** A temporary file that becomes `target` on {@linkcode AtomicFile.commit}. */
export interface AtomicFile {
  /** Appends bytes (buffered into large writes). */
  write(data: Uint8Array): Promise<void>;
  /** Flushes, fsyncs, optionally sets the modification time, and renames into place. */
  commit(mtime?: Date | null): Promise<void>;
  /** Closes and removes the temporary file; safe after commit (then a no-op). */
  discard(reason?: unknown): Promise<void>;
}

const BUFFER = 1024 * 1024;

/** Wraps a local file-system error as `LOCAL_IO`. */
export function localError(err: unknown, path: string): FerryError {
  if (err instanceof FerryError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new FerryError("LOCAL_IO", `${path}: ${message}`, { cause: err });
}

/** Opens a temporary file next to `target`. */
export async function createAtomicFile(target: string): Promise<AtomicFile> {
  const suffix = crypto.randomUUID().slice(0, 8);
  const tmp = join(dirname(target), `.${basename(target)}.ferry-${suffix}.part`);
  let file: Deno.FsFile;
  try {
    file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o644 });
  } catch (err) {
    throw localError(err, target);
  }
  const buffer = new Uint8Array(BUFFER);
  let fill = 0;
  let open = true;
  let committed = false;

  async function flush(): Promise<void> {
    let offset = 0;
    while (offset < fill) offset += await file.write(buffer.subarray(offset, fill));
    fill = 0;
  }

  return {
    async write(data) {
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
    async commit(mtime) {
      try {
        await flush();
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
    async discard() {
      if (open) {
        open = false;
        try {
          file.close();
        } catch {
          // already closed
        }
      }
      if (!committed) await Deno.remove(tmp).catch(() => {});
    },
  };
}
