/**
 * Walks over the whole data root of the race-free storage by descriptor: every directory is
 * opened relative to its parent's descriptor without following links (`openat2` with
 * `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`), so a directory swapped for a symbolic link while
 * the walk runs is skipped, never entered. Used for the bytes the files take (the quota at
 * start-up) and for the removal of stale temporaries.
 *
 * The walk goes {@linkcode MAX_WALK_DEPTH} levels deep at most (one descriptor per level is
 * open at a time); deeper directories cannot be named by a client path anyway.
 *
 * @module
 */

import { FerryError } from "../../protocol/errors.ts";
import type { BeneathDirectory, BeneathRoot, FileStat } from "./beneath/mod.ts";
import { isTempName, MAX_DEPTH } from "./paths.ts";
import { PARTIAL_SUFFIX } from "./staging.ts";
import type { CleanupOptions, CleanupResult } from "./storage.ts";
import { nextTurn } from "./next_turn.ts";

/** Deepest level walked below the root. */
export const MAX_WALK_DEPTH = MAX_DEPTH;

/** Entries looked at between two turns of the event loop. */
const WALK_BATCH = 512;

/** One entry met by {@linkcode walkTree}: its directory, its path below the root, its metadata. */
export interface WalkedEntry {
  /** The open directory holding it (valid during the visit only). */
  readonly dir: BeneathDirectory;
  /** `dev:ino` of that directory. */
  readonly dirId: string;
  /** Its path below the root, as components. */
  readonly components: readonly string[];
  /** Its own metadata (a link is described, not followed). */
  readonly stat: FileStat;
}

/**
 * Calls `visit` for every entry below the root that is not a directory, directories first
 * walked into; entries that vanish or change meanwhile are skipped. Returns the number of
 * directories visited.
 */
export async function walkTree(
  root: BeneathRoot,
  visit: (entry: WalkedEntry) => Promise<void> | void,
  signal?: AbortSignal,
): Promise<number> {
  let directories = 0;
  let seen = 0;
  const pause = async () => {
    if (++seen % WALK_BATCH !== 0) return;
    signal?.throwIfAborted();
    await nextTurn();
  };

  async function walk(dir: BeneathDirectory, components: string[]): Promise<void> {
    directories++;
    signal?.throwIfAborted();
    const self = dir.stat();
    const dirId = `${self.dev}:${self.ino}`;
    const names: string[] = [];
    for (let batch = dir.readNames(); batch !== null; batch = dir.readNames()) {
      for (const { name } of batch) names.push(name);
    }
    for (const name of names) {
      await pause();
      let stat: FileStat;
      try {
        stat = dir.lstat(name);
      } catch {
        continue; // gone meanwhile
      }
      if (stat.kind !== "dir") {
        await visit({ dir, dirId, components: [...components, name], stat });
        continue;
      }
      if (components.length + 1 > MAX_WALK_DEPTH) continue;
      let child: BeneathDirectory;
      try {
        child = dir.openDirectory(name);
      } catch {
        continue; // replaced by a link or removed meanwhile: not entered
      }
      try {
        await walk(child, [...components, name]);
      } finally {
        child.close();
      }
    }
  }

  const top = root.openDirectory([]);
  try {
    await walk(top, []);
  } finally {
    top.close();
  }
  return directories;
}

/** Sums the sizes of the regular files below the root (links are not followed). */
export async function measureTree(root: BeneathRoot, signal?: AbortSignal): Promise<number> {
  let total = 0;
  await walkTree(root, ({ stat }) => {
    if (stat.kind === "file") total += stat.size;
  }, signal);
  return total;
}

/**
 * Removes stale temporaries below the root: non-resumable ones (`.ferry-*.part`) and kept
 * uploads (`.ferry-*.partial`) untouched for `ttlMs`, sparing those `isActive(dirId, name)`
 * says an upload is writing. Never throws for a file that vanished meanwhile.
 */
export async function cleanTemporaryFiles(
  root: BeneathRoot,
  isActive: (dirId: string, name: string) => boolean,
  options: CleanupOptions,
): Promise<CleanupResult> {
  const now = options.now ?? Date.now();
  const removed: string[] = [];
  const directories = await walkTree(root, async ({ dir, dirId, components, stat }) => {
    const name = components.at(-1) ?? "";
    if (stat.kind !== "file" || !isTempName(name) || isActive(dirId, name)) return;
    if (name.endsWith(PARTIAL_SUFFIX) && now - stat.mtimeMs < options.ttlMs) return;
    try {
      await dir.remove(name);
      removed.push(components.join("/"));
    } catch (err) {
      if (!(err instanceof FerryError)) throw err; // gone already, or refused: left alone
    }
  }, options.signal);
  return { removed, directories };
}
