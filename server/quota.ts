/**
 * The data root's quota: bytes used by its files (measured once at start-up, then kept up to
 * date by uploads and deletes) plus bytes reserved by uploads in flight. An upload that would
 * pass the quota is refused with `NO_SPACE`, up front when its size is declared.
 *
 * @module
 */

import { join } from "node:path";
import { FerryError } from "../protocol/errors.ts";

/** Usage of the data root against its limit. */
export interface Quota {
  /** Most bytes allowed; 0 means unlimited. */
  readonly limit: number;
  /** Bytes of the files in the root. */
  used: number;
  /** Bytes promised to uploads in flight. */
  reserved: number;
}

/** Sums the sizes of the regular files below `root` (symlinks are not followed). */
export async function measureTree(root: string): Promise<number> {
  let total = 0;
  const pending = [root];
  while (pending.length > 0) {
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

/** A quota of `limit` bytes for `root`, measuring what is there now (0: no quota, no walk). */
export async function createQuota(root: string, limit: number): Promise<Quota> {
  return { limit, used: limit > 0 ? await measureTree(root) : 0, reserved: 0 };
}

/**
 * Reserves `bytes` for an upload that may replace `replacing` bytes.
 *
 * @throws {FerryError} `NO_SPACE` when the quota would be passed.
 */
export function reserve(quota: Quota, bytes: number, replacing = 0): void {
  if (quota.limit === 0) return;
  const after = quota.used + quota.reserved + bytes - replacing;
  if (after > quota.limit) {
    throw new FerryError(
      "NO_SPACE",
      `the server's quota of ${quota.limit} bytes would be exceeded (${quota.used} used, ${quota.reserved} reserved)`,
    );
  }
  quota.reserved += bytes;
}

/** Returns a reservation. */
export function release(quota: Quota, bytes: number): void {
  quota.reserved = Math.max(0, quota.reserved - bytes);
}
