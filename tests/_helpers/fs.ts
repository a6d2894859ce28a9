/**
 * Local file-system helpers: existence, directory listings, the paths of a tree and two trees
 * compared, snapshots of a tree to compare before and after, modes, and temporary directories.
 *
 * @module
 */

import assert from "node:assert/strict";
import { sha256Hex } from "./bytes.ts";

/** Whether `path` exists (a dangling symlink counts). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** The names in `dir`, sorted. */
export async function namesIn(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
}

/** Every path below `dir` (relative, `/`-separated, directories with a trailing `/`), sorted. */
export async function tree(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(`${dir}/${prefix}`)) {
    const rel = `${prefix}${e.name}`;
    if (e.isDirectory) out.push(`${rel}/`, ...(await tree(dir, `${rel}/`)));
    else out.push(rel);
  }
  return out.sort();
}

/** Asserts that two directory trees hold the same paths and file contents. */
export async function assertSameTree(a: string, b: string): Promise<void> {
  const ta = await tree(a);
  assert.deepEqual(await tree(b), ta);
  for (const p of ta.filter((p) => !p.endsWith("/"))) {
    assert.deepEqual(await Deno.readFile(`${b}/${p}`), await Deno.readFile(`${a}/${p}`), p);
  }
}

/** Options of {@linkcode snapshot}. */
export interface SnapshotOptions {
  /** Also record each file's SHA-256 and each symlink's target. */
  contents?: boolean;
}

/**
 * Every path below `dir` with its kind, size and (for all but directories) mtime, symlinks not
 * followed, sorted: two snapshots are equal when nothing in the tree changed. A directory's own
 * mtime is left out: temporary files may come and go in it, as long as none is left behind.
 */
export async function snapshot(
  dir: string,
  options: SnapshotOptions = {},
  prefix = "",
): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const path = `${dir}/${e.name}`;
    const info = await Deno.lstat(path);
    const kind = info.isSymlink ? "link" : info.isDirectory ? "dir" : "file";
    let line = `${prefix}${e.name} ${kind} ${info.size}`;
    if (!info.isDirectory) line += ` ${info.mtime?.getTime()}`;
    if (options.contents && info.isFile) line += ` ${sha256Hex(await Deno.readFile(path))}`;
    if (options.contents && info.isSymlink) line += ` -> ${await Deno.readLink(path)}`;
    out.push(line);
    if (info.isDirectory) out.push(...await snapshot(path, options, `${prefix}${e.name}/`));
  }
  return out.sort();
}

/** The permission bits of `path`. */
export async function mode(path: string): Promise<number> {
  return (await Deno.stat(path)).mode! & 0o777;
}

/** A temp directory removed (with everything in it) when disposed. */
export async function tempDir(prefix: string): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** Writes `text` to a new file in `dir` and returns its path. */
export async function writeTemp(dir: string, name: string, text: string): Promise<string> {
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(path, text);
  return path;
}

/** Listing entries sorted by name (a server lists in no promised order). */
export function byName<T extends { name: string }>(entries: T[]): T[] {
  return [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
