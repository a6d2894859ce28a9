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

/** A listed name the client cannot fetch, reported instead of skipped. */
export interface RemoteProblem {
  /** Its remote path, as listed. */
  path: string;
  /** Why, as an error code (`BAD_NAME`). */
  code: "BAD_NAME";
  /** Why, in words. */
  message: string;
}

/** A listed name whose every backslash starts `\\`, `\xNN` or the portable storage's `\x??`. */
const ESCAPED_FORM = /^(?:[^\\]|\\\\|\\x(?:[0-9a-f]{2}|\?\?))*$/;

/**
 * True for a name the server listed escaped (PROTOCOL.md §7): it holds a backslash, which only
 * an escape can put in a listed name (a byte that is not UTF-8 as `\xNN`, a backslash as `\\`),
 * and every backslash in it starts such an escape; any other backslash is a hostile server's. No
 * path with a backslash can be asked for, so such an entry can only be reported.
 */
export function isEscapedListedName(name: string): boolean {
  if (!name.includes("\\") || !ESCAPED_FORM.test(name)) return false;
  try {
    safeEntryName(name.replaceAll("\\", "_")); // otherwise plain: not a hostile name
    return true;
  } catch {
    return false;
  }
}

/**
 * Lists a remote directory, refusing names that are not one plain path component or appear
 * twice: a hostile server cannot make a recursive download escape its target. Names the server
 * listed escaped (not UTF-8 there) are left out of the entries and added to `problems`.
 */
export async function listChecked(
  client: FerryClient,
  dir: string,
  problems: RemoteProblem[] = [],
): Promise<Entry[]> {
  const all = await client.list(dir);
  const entries: Entry[] = [];
  const seen = new Set<string>();
  for (const e of all) {
    if (isEscapedListedName(e.name)) {
      const path = joinRemote(dir, e.name);
      problems.push({
        path,
        code: "BAD_NAME",
        message: `${printable(path)}: the name is not valid UTF-8 on the server (listed ` +
          `escaped, or it holds a backslash), so it cannot be fetched; rename it there`,
      });
      continue;
    }
    entries.push(e);
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

/**
 * A remote tree below `root`: directories (relative, parents first), files, and the names that
 * cannot be fetched (`problems`, never skipped in silence).
 */
export async function walkRemote(
  client: FerryClient,
  root: string,
  warn: (text: string) => void,
): Promise<{
  dirs: { rel: string[]; mtime: number | null }[];
  files: (Entry & { rel: string[] })[];
  problems: RemoteProblem[];
}> {
  const dirs: { rel: string[]; mtime: number | null }[] = [];
  const files: (Entry & { rel: string[] })[] = [];
  const problems: RemoteProblem[] = [];
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
          listChecked(
            client,
            rel.length === 0 ? root : joinRemote(root, rel.join("/")),
            problems,
          )
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
  return { dirs, files, problems };
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
