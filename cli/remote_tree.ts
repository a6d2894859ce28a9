/**
 * Remote trees, as `get -r` and `rm -r` see them: paths joined with `/`, wildcards expanded
 * against a listing, and directories walked level by level. Every name a server lists is checked
 * here before it can become part of a local path.
 *
 * @module
 */

import { FerryError, messageOf } from "../protocol/errors.ts";
import type { Entry } from "../protocol/messages/mod.ts";
import type { FerryClient } from "../client/types.ts";
import { safeEntryName } from "../client/local_names.ts";
import { globMatcher, splitGlob, unquote } from "./glob.ts";
import { printable } from "./format.ts";

/** Requests in flight at once over the one connection: files moved, directories listed. */
export const CONCURRENCY = 8;
/** Deepest directory tree walked (the server refuses deeper paths anyway). */
const MAX_DEPTH = 256;

/** Joins remote path parts with `/`; `.` is the root. */
export function joinRemote(dir: string, name: string): string {
  const d = dir.replace(/\/+$/, "");
  return d === "" || d === "." ? name : `${d}/${name}`;
}

/**
 * Lists a remote directory, refusing names that are not one plain path component or appear
 * twice: a hostile server cannot make a recursive download escape its target.
 */
export async function listChecked(client: FerryClient, dir: string): Promise<Entry[]> {
  const entries = await client.list(dir);
  const seen = new Set<string>();
  for (const e of entries) {
    try {
      safeEntryName(e.name);
    } catch (err) {
      throw new FerryError(
        "BAD_NAME",
        `listing ${printable(dir)}: ${messageOf(err)}; nothing was written`,
      );
    }
    if (seen.has(e.name)) {
      throw new FerryError(
        "BAD_FRAME",
        `listing ${printable(dir)}: the server listed ${JSON.stringify(e.name)} twice`,
      );
    }
    seen.add(e.name);
  }
  return entries;
}

/** A remote tree below `root`: directories (relative, parents first) and files. */
export async function walkRemote(
  client: FerryClient,
  root: string,
  warn: (text: string) => void,
): Promise<
  { dirs: { rel: string[]; mtime: number | null }[]; files: (Entry & { rel: string[] })[] }
> {
  const dirs: { rel: string[]; mtime: number | null }[] = [];
  const files: (Entry & { rel: string[] })[] = [];
  let level: string[][] = [[]];
  let depth = 0;
  while (level.length > 0) {
    if (++depth > MAX_DEPTH) {
      throw new FerryError(
        "BAD_ARGUMENT",
        `${printable(root)} is nested more than ${MAX_DEPTH} levels deep`,
      );
    }
    const next: string[][] = [];
    // List a level's directories a few at a time over the one connection.
    for (let i = 0; i < level.length; i += CONCURRENCY) {
      const batch = level.slice(i, i + CONCURRENCY);
      const listings = await Promise.all(
        batch.map((rel) =>
          listChecked(client, rel.length === 0 ? root : joinRemote(root, rel.join("/")))
        ),
      );
      batch.forEach((rel, j) => {
        for (const e of listings[j]) {
          const path = [...rel, e.name];
          if (e.kind === "file") files.push({ ...e, rel: path });
          else if (e.kind === "dir") {
            dirs.push({ rel: path, mtime: e.mtime });
            next.push(path);
          } else {
            warn(
              `ferry: skipping ${
                printable(joinRemote(root, path.join("/")))
              }: a ${e.kind}, not a file or directory`,
            );
          }
        }
      });
    }
    level = next;
  }
  return { dirs, files };
}

/** Expands a remote source with wildcards into matching entries; plain paths pass through. */
export async function expandRemote(
  client: FerryClient,
  source: string,
): Promise<{ path: string; entry: Entry | null }[]> {
  let glob;
  try {
    glob = splitGlob(source);
  } catch (err) {
    throw new FerryError("USAGE", `${printable(source)}: ${messageOf(err)}`);
  }
  if (glob === null) return [{ path: unquote(source), entry: null }];
  const match = globMatcher(glob.pattern);
  const entries = await client.list(glob.dir);
  const out: { path: string; entry: Entry | null }[] = [];
  const seen = new Set<string>();
  for (const e of entries) {
    if (!match(e.name)) continue;
    if (seen.has(e.name)) {
      throw new FerryError(
        "BAD_FRAME",
        `${printable(source)}: the server listed ${JSON.stringify(e.name)} twice`,
      );
    }
    seen.add(e.name);
    try {
      safeEntryName(e.name);
    } catch (err) {
      throw new FerryError(
        "BAD_NAME",
        `${printable(source)}: ${messageOf(err)}; nothing was written`,
      );
    }
    out.push({ path: joinRemote(glob.dir, e.name), entry: e });
  }
  if (out.length === 0) {
    throw new FerryError("NOT_FOUND", `no remote file matches ${printable(source)}`);
  }
  out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return out;
}
