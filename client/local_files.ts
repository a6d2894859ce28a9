/**
 * Local files for downloads: data goes to a hidden partial file beside the target,
 * `.<name>.ferry-partial`, and is renamed over the target only once the transfer verified (then
 * the directory is fsynced, as the server does for uploads), so a failed `get` never leaves a
 * partial file under the target name. A transfer interrupted by the connection keeps the
 * partial file so that `get --resume` can continue it. The writing itself is
 * `common/atomic_file.ts`, shared with the server; this module adds the client's names and its
 * `LOCAL_IO` errors.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { FerryError, messageOf } from "../protocol/errors.ts";
import { type AtomicFile, type DirectorySync, openAtomicFile } from "../common/atomic_file.ts";
import type { HashAlgorithm } from "../common/hash_file.ts";

export type { AtomicFile } from "../common/atomic_file.ts";

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

/**
 * Opens the partial file of a download to `target`. With `resume`, an existing partial file is
 * kept and hashed in `algorithm` (default SHA-256; its bytes can then be checked against the
 * server's); otherwise any is replaced. Downloads given one `directorySync` share the fsyncs of
 * their directories. Every failure of the file, now or later, is a `LOCAL_IO` error naming
 * `target`.
 */
export async function openDownloadFile(
  target: string,
  options: { resume?: boolean; algorithm?: HashAlgorithm; directorySync?: DirectorySync } = {},
): Promise<AtomicFile> {
  let file: AtomicFile;
  try {
    file = await openAtomicFile({
      target,
      temp: partialPathFor(target),
      resume: options.resume,
      algorithm: options.algorithm,
      directorySync: options.directorySync,
    });
  } catch (err) {
    throw localError(err, target);
  }
  const local = <T>(work: Promise<T>): Promise<T> =>
    work.catch((err) => {
      throw localError(err, target);
    });
  return {
    get temp() {
      return file.temp;
    },
    target,
    get existing() {
      return file.existing;
    },
    get length() {
      return file.length;
    },
    get hasher() {
      return file.hasher;
    },
    write: (data) => local(file.write(data)),
    expect: (length) => file.expect(length),
    flush: () => local(file.flush()),
    restart: () => local(file.restart()),
    commit: (options) => local(file.commit(options)),
    discard: (keep) => file.discard(keep),
  };
}
