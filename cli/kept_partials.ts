/**
 * The partial downloads an earlier, interrupted `get` left beside its targets, found with one
 * listing per local directory instead of one failing `lstat` per file (a thousand small files
 * then cost a `readDir` of their directory, not a thousand `NotFound` errors), or, for a few
 * files, with an `lstat` each. A directory is listed when its first file asks, before any
 * download of this run writes into it, so what is found was left by an earlier run.
 *
 * @module
 */

import { basename, dirname } from "node:path";
import { partialPathFor } from "../client/local_files.ts";
import { partialTarget } from "./plan.ts";

/**
 * A `get` of this many files or more lists their directories; a smaller one looks for each
 * file's partial file alone (one file into a large directory need not list it).
 */
export const LIST_FROM_FILES = 16;

/** Finds the partial downloads kept in the local directories of a `get`. */
export class KeptPartials {
  /** Per directory: the names of the targets whose partial file it holds. */
  #dirs = new Map<string, Promise<Set<string>>>();
  /** Whether directories are listed (else each file's partial file is looked up alone). */
  #list: boolean;

  /** Finds the partial files of a `get` of `files` files. */
  constructor(files: number) {
    this.#list = files >= LIST_FROM_FILES;
  }

  /** Size of the hidden partial file a download to `local` would continue, or `null`. */
  async sizeFor(local: string): Promise<number | null> {
    if (this.#list) {
      const dir = dirname(local);
      let names = this.#dirs.get(dir);
      if (names === undefined) {
        names = partialsIn(dir);
        this.#dirs.set(dir, names);
      }
      if (!(await names).has(basename(local))) return null;
    }
    try {
      const info = await Deno.lstat(partialPathFor(local));
      return info.isFile ? info.size : null;
    } catch {
      return null;
    }
  }
}

/** The targets of the partial files in `dir` (none when it cannot be listed). */
async function partialsIn(dir: string): Promise<Set<string>> {
  const names = new Set<string>();
  try {
    for await (const e of Deno.readDir(dir)) {
      const target = partialTarget(e.name);
      if (target !== null) names.add(target);
    }
  } catch {
    // No directory (yet), or not one we may list: nothing kept there to tell about.
  }
  return names;
}
