/**
 * Local trees, as `put -r` sees them: directories and files below a root, parents first. A name
 * that cannot be sent is reported, never skipped in silence: a name that is not valid UTF-8
 * (Deno shows it with U+FFFD, and the file cannot be opened by that name) and two names that are
 * one name once normalised to NFC (`é` composed and decomposed).
 *
 * @module
 */

import { join } from "node:path";
import type { ErrorCode } from "../protocol/errors.ts";
import { localError } from "../client/local_files.ts";
import { printable } from "./format.ts";

/** A name of a local tree that cannot be copied, and why. */
export interface TreeProblem {
  /** The local path, as Deno shows it. */
  path: string;
  /** Why, as an error code. */
  code: ErrorCode;
  /** Why, in words (the path escaped). */
  message: string;
}

/** A local tree: directories and files (relative paths as given by the file system). */
export interface LocalTree {
  /** Directories below the root, parents first. */
  dirs: string[][];
  /** Regular files, with their size and modification time. */
  files: { rel: string[]; size: number; mtime: number | null; path: string }[];
  /** Names that cannot be copied (the command fails once the rest is done). */
  problems: TreeProblem[];
}

/**
 * `lstat` on this thread: a metadata call takes microseconds, a trip through the runtime's
 * thread pool far more, and a tree of a thousand small files asks a thousand of them in turn.
 */
function lstatOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw localError(err, path);
  }
}

/** Walks the local tree below `root`; `warn` is told about symlinks and other files skipped. */
export async function walkLocal(root: string, warn: (text: string) => void): Promise<LocalTree> {
  const tree: LocalTree = { dirs: [], files: [], problems: [] };
  let level: string[][] = [[]];
  while (level.length > 0) {
    const next: string[][] = [];
    for (const rel of level) {
      const dir = join(root, ...rel);
      const entries: Deno.DirEntry[] = [];
      try {
        for await (const e of Deno.readDir(dir)) entries.push(e);
      } catch (err) {
        throw localError(err, dir);
      }
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      // Names the server would see as one (NFC), in this directory.
      const seen = new Map<string, string>();
      for (const e of entries) {
        const path = [...rel, e.name];
        const full = join(root, ...path);
        if (!e.isFile && !e.isDirectory) {
          warn(
            `ferry: skipping ${printable(full)}: ${
              e.isSymlink ? "a symbolic link" : "not a regular file"
            }`,
          );
          continue;
        }
        const info = lstatOrNull(full);
        if (info === null) {
          const message = e.name.includes("\ufffd")
            ? `${printable(full)}: the name is not valid UTF-8 (shown with \\ufffd), so it ` +
              `cannot be sent; rename it`
            : `${printable(full)}: vanished while the tree was read`;
          tree.problems.push({
            path: full,
            code: e.name.includes("\ufffd") ? "BAD_NAME" : "LOCAL_IO",
            message: message.replaceAll("\ufffd", "\\ufffd"),
          });
          continue;
        }
        const nfc = e.name.normalize("NFC");
        const twin = seen.get(nfc);
        if (twin !== undefined) {
          tree.problems.push({
            path: full,
            code: "BAD_NAME",
            message: `${printable(full)} and ${
              printable(join(root, ...rel, twin))
            } are one name once normalised to NFC; rename one`,
          });
          continue;
        }
        seen.set(nfc, e.name);
        if (info.isFile) {
          tree.files.push({
            rel: path,
            size: info.size,
            mtime: info.mtime?.getTime() ?? null,
            path: full,
          });
        } else if (info.isDirectory) {
          tree.dirs.push(path);
          next.push(path);
        }
      }
    }
    level = next;
  }
  return tree;
}
