/**
 * Directory entries as the storages report them (`Entry` of `protocol/messages/`), built the
 * same way by both: only regular files have a size, and a modification time the wire cannot
 * carry (before 1970, or not a finite number) is reported as unknown rather than failing the
 * listing.
 *
 * @module
 */

import type { Entry, EntryKind } from "../../protocol/messages/mod.ts";

/**
 * A modification time for the wire: whole milliseconds since the epoch, or `null` when it is
 * unknown or cannot be sent (negative: the field is unsigned).
 *
 * @example Usage
 * ```ts
 * import { wireMtime } from "./entries.ts";
 * wireMtime(1700000000123.456); // => 1700000000123
 * wireMtime(-5000); // => null
 * ```
 */
export function wireMtime(ms: number | null | undefined): number | null {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return null;
  return Math.trunc(ms);
}

/** The entry for `name` of `kind`, `size` bytes (kept for files only) and `mtimeMs`. */
export function makeEntry(
  name: string,
  kind: EntryKind,
  size: number,
  mtimeMs: number | null | undefined,
): Entry {
  return { name, kind, size: kind === "file" ? size : 0, mtime: wireMtime(mtimeMs) };
}
