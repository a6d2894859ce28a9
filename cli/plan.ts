/**
 * What a `get` or `put` will do: the directories to create (parents first) and the files to move,
 * from its sources, destination and flags. Every name a server lists is checked before it
 * becomes part of a local path; every local name is normalised to NFC before it is sent, and one
 * that cannot be sent is reported. `-` (and `/dev/stdout`, `/dev/stdin`) plan a single stream.
 *
 * With `--resume` or `--update`, a tree goes back where an earlier run of the same command put
 * it: when the destination already holds a copy of it (it shares names with the source's top
 * level) and no directory of the source's name, the copy is continued in place instead of being
 * nested inside it as a second copy.
 *
 * @module
 */

import { basename, join } from "node:path";
import { type ErrorCode, FerryError } from "../protocol/errors.ts";
import type { Entry } from "../protocol/messages/mod.ts";
import type { FerryClient } from "../client/types.ts";
import { safeLocalName } from "../client/local_names.ts";
import { localError } from "../client/local_files.ts";
import { printable } from "./format.ts";
import { expandRemote, joinRemote, walkRemote } from "./remote_tree.ts";
import { walkLocal } from "./local_tree.ts";
import { isStdin, outputStream } from "./std_streams.ts";
import { usage } from "./usage.ts";

/** Options of `get` and `put`. */
export interface TransferFlags {
  /** Directory trees (`-r`). */
  recursive: boolean;
  /** Keep modification times (`-p`). */
  preserve: boolean;
  /** Continue interrupted transfers and skip files already complete (`--resume`). */
  resume: boolean;
  /** Skip files the destination has unchanged (`-u`, `--update`). */
  update: boolean;
  /** With `update`: compare checksums instead of times (`-c`, `--checksum`). */
  checksum: boolean;
  /** Connections per large file of a `get` (`--streams N`; 1: one). */
  streams?: number;
}

/** One file to move. */
export interface FileJob {
  /** Remote path (as sent: NFC). */
  remote: string;
  /** Local path (as given or as found; `-` and the like for a standard stream). */
  local: string;
  /** The source's size, when known beforehand. */
  size: number | null;
  /** The source's modification time, when known beforehand. */
  mtime: number | null;
  /** What the progress line shows. */
  label: string;
  /** The local side is a standard stream rather than a file. */
  stream?: "stdin" | "stdout" | "stderr";
}

/** A file a `get` or `put` could not move. */
export interface TransferFailure {
  /** The remote path of a `get`, the local path of a `put`. */
  path: string;
  /** Why, as an error code. */
  code: ErrorCode;
  /** Why, in words. */
  message: string;
}

/** A plan: directories to create (parents first) and files to move. */
export interface Plan {
  /** Local directories to create, parents first (`get`), with the remote times. */
  dirs: { path: string; mtime: number | null }[];
  /** Remote directories to create (`put`). */
  remoteDirs: string[];
  /** The files. */
  files: FileJob[];
  /** Whether this was more than one plain file (progress keeps a line per file). */
  many: boolean;
  /** Local directories of copied trees, whose stale partial files are removed at the end. */
  trees: string[];
}

async function localStat(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw localError(err, path);
  }
}

async function remoteStat(client: FerryClient, path: string): Promise<Entry | null> {
  try {
    return await client.stat(path);
  } catch (err) {
    if (err instanceof FerryError && err.code === "NOT_FOUND") return null;
    throw err;
  }
}

/** The name a hidden partial download file stands for (`.a.txt.ferry-partial` → `a.txt`). */
export function partialTarget(name: string): string | null {
  const m = name.match(/^\.(.+)\.ferry-partial$/);
  return m === null ? null : m[1];
}

/** Names in a local directory, partial files counted as the files they stand for. */
async function localNames(dir: string): Promise<Set<string>> {
  const out = new Set<string>();
  try {
    for await (const e of Deno.readDir(dir)) out.add(partialTarget(e.name) ?? e.name);
  } catch (err) {
    throw localError(err, dir);
  }
  return out;
}

function sharesNames(a: Set<string>, b: Iterable<string>): boolean {
  for (const name of b) if (a.has(name)) return true;
  return false;
}

/** Plans a `get` of `sources` into local `dest`. */
export async function planGet(
  client: FerryClient,
  sources: string[],
  dest: string,
  flags: TransferFlags,
  warn: (text: string) => void,
  failed: TransferFailure[],
): Promise<Plan> {
  const stream = outputStream(dest);
  const items: { path: string; entry: Entry | null }[] = [];
  let globbed = false;
  for (const s of sources) {
    const expanded = await expandRemote(client, s);
    if (expanded.length !== 1 || expanded[0].entry !== null) globbed = true;
    items.push(...expanded);
  }
  const plan: Plan = {
    dirs: [],
    remoteDirs: [],
    files: [],
    many: items.length > 1 || globbed || flags.recursive,
    trees: [],
  };
  if (stream !== null) return planGetToStream(plan, items, dest, stream, flags);
  const info = await localStat(dest);
  const many = items.length > 1;
  let intoDir = info?.isDirectory ?? false;
  // Created only once the whole plan (every listed name) has been checked.
  let createDest = false;
  if (!intoDir && (many || /[\\/]$/.test(dest))) {
    if (info !== null) {
      throw new FerryError("NOT_A_DIRECTORY", `${dest} is not a directory`);
    }
    createDest = true;
    intoDir = true;
  }
  for (const item of items) {
    let entry = item.entry;
    if (flags.recursive && (entry === null || entry.kind === "symlink")) {
      entry = await client.stat(item.path);
    }
    const kind = entry?.kind ?? "file";
    if (kind === "dir" && !flags.recursive) {
      failed.push({
        path: item.path,
        code: "IS_A_DIRECTORY",
        message: `${printable(item.path)} is a directory (use -r)`,
      });
      // Alone, it is the command's one error line; among others, a warning says what is skipped.
      if (items.length > 1) warn(`ferry: skipping ${printable(item.path)}: a directory (use -r)`);
      continue;
    }
    if (kind === "other") {
      warn(`ferry: skipping ${printable(item.path)}: not a file or directory`);
      continue;
    }
    const isRoot = item.path === "." || item.path === "" || /^(\.\/)*\.?$/.test(item.path);
    if (kind !== "dir") {
      const local = intoDir ? join(dest, safeLocalName(item.path)) : dest;
      plan.files.push({
        remote: item.path,
        local,
        size: entry?.size ?? null,
        mtime: entry?.mtime ?? null,
        label: plan.many ? item.path : safeLocalName(item.path),
      });
      continue;
    }
    const tree = await walkRemote(client, item.path, warn);
    failed.push(...tree.problems);
    let localRoot = intoDir && !isRoot ? join(dest, safeLocalName(item.path)) : dest;
    if (
      intoDir && !isRoot && !createDest && !many && (flags.resume || flags.update) &&
      (await localStat(localRoot)) === null &&
      sharesNames(
        await localNames(dest),
        [...tree.files, ...tree.dirs].filter((e) => e.rel.length === 1).map((e) => e.rel[0]),
      )
    ) {
      localRoot = dest; // an earlier run copied the tree into dest itself: continue it there
    }
    plan.trees.push(localRoot);
    plan.dirs.push({ path: localRoot, mtime: entry?.mtime ?? null });
    for (const d of tree.dirs) {
      const path = join(localRoot, ...d.rel);
      plan.dirs.push({ path, mtime: d.mtime });
      plan.trees.push(path);
    }
    for (const f of tree.files) {
      const remote = joinRemote(item.path, f.rel.join("/"));
      plan.files.push({
        remote,
        local: join(localRoot, ...f.rel),
        size: f.size,
        mtime: f.mtime,
        label: remote,
      });
    }
  }
  const targets = new Set<string>();
  for (const f of plan.files) {
    if (targets.has(f.local)) {
      throw new FerryError("USAGE", `two remote files would both be written to ${f.local}`);
    }
    targets.add(f.local);
  }
  if (createDest) plan.dirs.unshift({ path: dest, mtime: null });
  return plan;
}

/** `get REMOTE -`: one remote file to standard output (or error). */
function planGetToStream(
  plan: Plan,
  items: { path: string; entry: Entry | null }[],
  dest: string,
  stream: "stdout" | "stderr",
  flags: TransferFlags,
): Plan {
  if (flags.recursive) throw usage(`get -r writes files, not a stream: ${dest} takes one file`);
  if (flags.resume || flags.update) {
    throw usage(`--resume and --update need a local file, not ${dest}`);
  }
  if (items.length !== 1) {
    throw usage(`${dest} takes one file, and ${items.length} match`);
  }
  const [item] = items;
  if (item.entry !== null && item.entry.kind !== "file") {
    throw new FerryError("IS_A_DIRECTORY", `${printable(item.path)} is not a file`);
  }
  plan.many = false;
  plan.files.push({
    remote: item.path,
    local: dest,
    size: item.entry?.size ?? null,
    mtime: item.entry?.mtime ?? null,
    label: safeLocalName(item.path),
    stream,
  });
  return plan;
}

/** Plans a `put` of local `sources` to remote `dest`. */
export async function planPut(
  client: FerryClient,
  sources: string[],
  dest: string,
  flags: TransferFlags,
  warn: (text: string) => void,
  failed: TransferFailure[],
  destGiven: boolean,
): Promise<Plan> {
  if (sources.some(isStdin)) return planPutFromStdin(sources, dest, flags, destGiven);
  const many = sources.length > 1;
  const remoteRoot = dest.replace(/\/+$/, "") || ".";
  let intoDir = remoteRoot === "." || dest.endsWith("/") || many;
  let destExisted = remoteRoot === ".";
  if (remoteRoot !== ".") {
    const entry = await remoteStat(client, remoteRoot);
    destExisted = entry !== null;
    if (entry?.kind === "dir") intoDir = true;
    else if (entry !== null && intoDir) {
      throw new FerryError("NOT_A_DIRECTORY", `${printable(dest)} is not a remote directory`);
    } else if (entry === null && intoDir) {
      await client.mkdir(remoteRoot, { parents: true });
    }
  }
  const plan: Plan = {
    dirs: [],
    remoteDirs: [],
    files: [],
    many: many || flags.recursive,
    trees: [],
  };
  const seen = new Set<string>();
  const add = (job: FileJob) => {
    if (seen.has(job.remote)) {
      failed.push({
        path: job.local,
        code: "BAD_NAME",
        message: `${printable(job.local)}: another source goes to ${printable(job.remote)} too`,
      });
      return;
    }
    seen.add(job.remote);
    plan.files.push(job);
  };
  for (const source of sources) {
    const info = await localStat(source);
    if (info === null) throw new FerryError("LOCAL_IO", `${source}: no such file or directory`);
    let name = basename(source);
    if (name === "" || name === "." || name === "..") {
      try {
        name = basename(await Deno.realPath(source));
      } catch (err) {
        throw localError(err, source);
      }
    }
    name = name.normalize("NFC");
    if (!info.isDirectory) {
      const remote = intoDir ? joinRemote(remoteRoot, name) : remoteRoot;
      add({
        remote,
        local: source,
        size: info.isFile ? info.size : null,
        mtime: info.isFile ? info.mtime?.getTime() ?? null : null,
        label: many ? source : name,
      });
      continue;
    }
    if (!flags.recursive) {
      failed.push({
        path: source,
        code: "IS_A_DIRECTORY",
        message: `${source} is a directory (use -r)`,
      });
      if (many) warn(`ferry: skipping ${printable(source)}: a directory (use -r)`);
      continue;
    }
    const tree = await walkLocal(source, warn);
    for (const p of tree.problems) {
      failed.push(p);
      warn(`ferry: ${p.message} [${p.code}]`);
    }
    let root = intoDir ? joinRemote(remoteRoot, name) : remoteRoot;
    if (
      intoDir && destExisted && remoteRoot !== "." && !many && (flags.resume || flags.update) &&
      (await remoteStat(client, root)) === null
    ) {
      const there = new Set((await client.list(remoteRoot)).map((e) => e.name));
      const top = [...tree.files.map((f) => f.rel), ...tree.dirs].filter((rel) => rel.length === 1)
        .map((rel) => rel[0].normalize("NFC"));
      if (sharesNames(there, top)) root = remoteRoot; // continue the copy an earlier run made
    }
    const nfc = (rel: string[]) => rel.map((n) => n.normalize("NFC")).join("/");
    plan.remoteDirs.push(root);
    for (const d of tree.dirs) plan.remoteDirs.push(joinRemote(root, nfc(d)));
    for (const f of tree.files) {
      const remote = joinRemote(root, nfc(f.rel));
      add({ remote, local: f.path, size: f.size, mtime: f.mtime, label: remote });
    }
  }
  return plan;
}

/** `put - NAME`: standard input to one remote file. */
function planPutFromStdin(
  sources: string[],
  dest: string,
  flags: TransferFlags,
  destGiven: boolean,
): Plan {
  if (sources.length !== 1) throw usage("standard input (-) can only be put alone");
  if (!destGiven || dest.endsWith("/") || dest === ".") {
    throw usage("put - needs the remote file's name: put - NAME");
  }
  if (flags.recursive || flags.resume || flags.update) {
    throw usage("-r, --resume and --update need local files, not standard input");
  }
  return {
    dirs: [],
    remoteDirs: [],
    trees: [],
    many: false,
    files: [{
      remote: dest,
      local: sources[0],
      size: null,
      mtime: null,
      label: basename(dest),
      stream: "stdin",
    }],
  };
}
