/**
 * Walks over the whole data root of a local storage: the bytes its files take (for the quota
 * at start-up), and the removal of stale temporary files. Symlinks are never followed.
 *
 * The cleanup removes non-resumable upload files (`.ferry-*.part`) that no upload is writing
 * (left by a crash), and resumable partials (`.ferry-*.partial`) untouched for longer than
 * their time to live. Files being written are never touched.
 *
 * @module
 */

import { join } from "node:path";
import { isTempName } from "./paths.ts";
import { PARTIAL_SUFFIX } from "./staging.ts";
import type { CleanupOptions, CleanupResult } from "./storage.ts";

/** Sums the sizes of the regular files below `root` (symlinks are not followed). */
export async function measureTree(root: string, signal?: AbortSignal): Promise<number> {
  let total = 0;
  const pending = [root];
  while (pending.length > 0) {
    signal?.throwIfAborted();
    const dir = pending.pop() ?? root;
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch {
      continue;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) pending.push(path);
      else if (entry.isFile) total += (await Deno.lstat(path).catch(() => null))?.size ?? 0;
    }
  }
  return total;
}

/**
 * Walks `root` and removes stale temporary files, sparing those `isActive` says are being
 * written; never throws for a file that vanished meanwhile.
 */
export async function cleanTemporaryFiles(
  root: string,
  isActive: (absolute: string) => boolean,
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
      if (isActive(path)) continue;
      if (entry.name.endsWith(PARTIAL_SUFFIX)) {
        const info = await Deno.lstat(path).catch(() => null);
        const age = now - (info?.mtime?.getTime() ?? now);
        if (age < options.ttlMs) continue;
        if (isActive(path)) continue; // resumed while its age was read
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
