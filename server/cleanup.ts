/**
 * Removes the server's stale temporary files from the data root: non-resumable upload files
 * (`.ferry-*.part`) that no upload in this process is writing (left by a crash), and resumable
 * partials (`.ferry-*.partial`) untouched for longer than their time to live. Symlinks are
 * never followed, and files being written are never touched.
 *
 * @module
 */

import { join } from "node:path";
import { isTempName } from "./paths.ts";
import { activeTemps, PARTIAL_SUFFIX } from "./handlers/upload.ts";

/** Options for {@linkcode cleanTemporaryFiles}. */
export interface CleanupOptions {
  /** A resumable partial older than this (by modification time) is removed, in ms. */
  partialTtlMs: number;
  /** The current time (for tests), in ms since the epoch. */
  now?: number;
  /** Stops the walk early. */
  signal?: AbortSignal;
}

/** What a cleanup pass removed. */
export interface CleanupResult {
  /** Paths removed, relative to the root. */
  removed: string[];
  /** Directories visited. */
  directories: number;
}

/** Walks `root` and removes stale temporary files; never throws for a file that vanished. */
export async function cleanTemporaryFiles(
  root: string,
  options: CleanupOptions,
): Promise<CleanupResult> {
  const now = options.now ?? Date.now();
  const removed: string[] = [];
  let directories = 0;
  const pending = [""];
  while (pending.length > 0) {
    options.signal?.throwIfAborted();
    const relative = pending.pop() ?? "";
    const dir = relative === "" ? root : join(root, relative);
    directories++;
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch {
      continue; // removed or unreadable meanwhile
    }
    for (const entry of entries) {
      const rel = relative === "" ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory && !entry.isSymlink) {
        pending.push(rel);
        continue;
      }
      if (!entry.isFile || !isTempName(entry.name)) continue;
      const path = join(dir, entry.name);
      if (activeTemps.has(path)) continue;
      if (entry.name.endsWith(PARTIAL_SUFFIX)) {
        const info = await Deno.lstat(path).catch(() => null);
        const age = now - (info?.mtime?.getTime() ?? now);
        if (age < options.partialTtlMs) continue;
      }
      try {
        await Deno.remove(path);
        removed.push(rel);
      } catch {
        // gone already
      }
    }
  }
  return { removed, directories };
}
