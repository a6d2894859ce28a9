/**
 * `get` and `put` of files, wildcards and directory trees: plans what goes where (every name a
 * server lists is checked before it becomes part of a local path), then moves the files over
 * the one connection with bounded concurrency, resuming after interruptions.
 *
 * @module
 */

import { basename, join } from "node:path";
import { type ErrorCode, FerryError } from "../protocol/errors.ts";
import type { Entry } from "../protocol/messages.ts";
import type { FerryClient, Progress, TransferResult } from "../client/types.ts";
import { safeLocalName } from "../client/local_names.ts";
import { localError } from "../client/local_files.ts";
import { CONNECTION_FAILURES } from "../client/errors.ts";
import type { ProgressDisplay } from "./progress.ts";
import { type Reconnector, withReconnect } from "./reconnect.ts";
import { printable } from "./format.ts";
import { withHint } from "./hints.ts";
import { CONCURRENCY, expandRemote, joinRemote, walkRemote } from "./remote_tree.ts";

/** Options of `get` and `put`. */
export interface TransferFlags {
  /** Directory trees (`-r`). */
  recursive: boolean;
  /** Keep modification times (`-p`). */
  preserve: boolean;
  /** Continue interrupted transfers (`--resume`). */
  resume: boolean;
}

/** One file to move. */
export interface FileJob {
  /** Remote path. */
  remote: string;
  /** Local path. */
  local: string;
  /** Size, when known beforehand. */
  size: number | null;
  /** Remote modification time (downloads with `-p`, for directories). */
  mtime?: number | null;
  /** What the progress line shows. */
  label: string;
}

/** What a `get`/`put` did. */
export interface TransferReport {
  /** Files moved. */
  files: {
    remote: string;
    local: string;
    bytes: number;
    sha256: string;
    resumed: number;
  }[];
  /** Directories created. */
  directories: number;
  /** Bytes moved in all. */
  bytes: number;
  /** Wall-clock seconds. */
  seconds: number;
  /** Failures, when some files could not be moved (the command then fails). */
  failed: TransferFailure[];
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
interface Plan {
  dirs: { path: string; mtime: number | null }[];
  files: FileJob[];
  /** Whether this was more than one plain file (progress keeps a line per file). */
  many: boolean;
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

/** A local tree below `root`: directories (relative, parents first) and files. */
export async function walkLocal(
  root: string,
  warn: (text: string) => void,
): Promise<{ dirs: string[][]; files: { rel: string[]; size: number; path: string }[] }> {
  const dirs: string[][] = [];
  const files: { rel: string[]; size: number; path: string }[] = [];
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
      for (const e of entries) {
        const path = [...rel, e.name];
        const full = join(root, ...path);
        if (e.isFile) {
          const info = await localStat(full);
          if (info !== null) files.push({ rel: path, size: info.size, path: full });
        } else if (e.isDirectory) {
          dirs.push(path);
          next.push(path);
        } else {
          warn(
            `ferry: skipping ${printable(full)}: ${
              e.isSymlink ? "a symbolic link" : "not a regular file"
            }`,
          );
        }
      }
    }
    level = next;
  }
  return { dirs, files };
}

/** Plans a `get` of `sources` into local `dest`. */
async function planGet(
  client: FerryClient,
  sources: string[],
  dest: string,
  flags: TransferFlags,
  warn: (text: string) => void,
  failed: TransferReport["failed"],
): Promise<Plan> {
  const items: { path: string; entry: Entry | null }[] = [];
  let globbed = false;
  for (const s of sources) {
    const expanded = await expandRemote(client, s);
    if (expanded.length !== 1 || expanded[0].entry !== null) globbed = true;
    items.push(...expanded);
  }
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
  const plan: Plan = { dirs: [], files: [], many: many || globbed || flags.recursive };
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
        label: plan.many ? item.path : safeLocalName(item.path),
      });
      continue;
    }
    const localRoot = intoDir && !isRoot ? join(dest, safeLocalName(item.path)) : dest;
    const tree = await walkRemote(client, item.path, warn);
    plan.dirs.push({ path: localRoot, mtime: entry?.mtime ?? null });
    for (const d of tree.dirs) plan.dirs.push({ path: join(localRoot, ...d.rel), mtime: d.mtime });
    for (const f of tree.files) {
      const remote = joinRemote(item.path, f.rel.join("/"));
      plan.files.push({
        remote,
        local: join(localRoot, ...f.rel),
        size: f.size,
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

/** Plans a `put` of local `sources` to remote `dest`. */
async function planPut(
  client: FerryClient,
  sources: string[],
  dest: string,
  flags: TransferFlags,
  warn: (text: string) => void,
  failed: TransferReport["failed"],
): Promise<Plan & { remoteDirs: string[] }> {
  const many = sources.length > 1;
  const remoteRoot = dest.replace(/\/+$/, "") || ".";
  let intoDir = remoteRoot === "." || dest.endsWith("/") || many;
  if (remoteRoot !== ".") {
    const entry = await remoteStat(client, remoteRoot);
    if (entry?.kind === "dir") intoDir = true;
    else if (entry !== null && intoDir) {
      throw new FerryError("NOT_A_DIRECTORY", `${printable(dest)} is not a remote directory`);
    } else if (entry === null && intoDir) {
      await client.mkdir(remoteRoot, { parents: true });
    }
  }
  const plan: Plan & { remoteDirs: string[] } = {
    dirs: [],
    files: [],
    many: many || flags.recursive,
    remoteDirs: [],
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
    if (!info.isDirectory) {
      const remote = intoDir ? joinRemote(remoteRoot, name) : remoteRoot;
      plan.files.push({ remote, local: source, size: info.size, label: many ? source : name });
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
    const root = intoDir ? joinRemote(remoteRoot, name) : remoteRoot;
    const tree = await walkLocal(source, warn);
    plan.remoteDirs.push(root);
    for (const d of tree.dirs) plan.remoteDirs.push(joinRemote(root, d.join("/")));
    for (const f of tree.files) {
      const remote = joinRemote(root, f.rel.join("/"));
      plan.files.push({ remote, local: f.path, size: f.size, label: remote });
    }
  }
  return plan;
}

/** Runs `work` over `items` with at most `limit` at once; stops taking new items after `stop()`. */
async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]);
  });
  await Promise.all(workers);
}

/** Shared by `get` and `put`: moves the planned files and reports. */
async function execute(
  connection: Reconnector,
  plan: Plan,
  direction: "get" | "put",
  flags: TransferFlags,
  display: ProgressDisplay,
  failed: TransferReport["failed"],
  started: number,
): Promise<TransferReport> {
  const report: TransferReport = { files: [], directories: 0, bytes: 0, seconds: 0, failed };
  if (plan.many && plan.files.length > 1) {
    display.setTotals(plan.files.length, plan.files.reduce((n, f) => n + (f.size ?? 0), 0));
  }
  let fatal: FerryError | null = null;
  await pool(plan.files, CONCURRENCY, async (job) => {
    if (fatal !== null) {
      const e: FerryError = fatal;
      failed.push({
        path: direction === "get" ? job.remote : job.local,
        code: e.code,
        message: `not attempted after: ${e.message}`,
      });
      return;
    }
    const bar = display.start(job.label, job.size);
    const onProgress = (p: Progress) => bar.update(p);
    try {
      const result: TransferResult = await withReconnect(
        connection,
        `${direction} ${printable(job.label)}`,
        (client, retrying) =>
          direction === "get"
            ? client.download(job.remote, job.local, {
              resume: flags.resume || retrying,
              preserveTimes: flags.preserve,
              onProgress,
            })
            : client.upload(job.local, job.remote, {
              resume: flags.resume || retrying,
              // Like scp: without -p the server's clock sets the time; with -p the local one.
              mtime: flags.preserve ? undefined : null,
              onProgress,
            }),
        (text) => display.message(text),
      );
      bar.done();
      report.files.push({
        remote: job.remote,
        local: job.local,
        bytes: result.bytes,
        sha256: result.sha256,
        resumed: result.resumed,
      });
      report.bytes += result.bytes;
    } catch (err) {
      bar.fail();
      let e = withHint(err instanceof FerryError ? err : localError(err, job.local));
      if (direction === "get" && e.code === "IS_A_DIRECTORY" && !flags.recursive) {
        // As put says of a local directory.
        e = new FerryError(e.code, `${printable(job.remote)} is a directory (use -r)`);
      }
      failed.push({
        path: direction === "get" ? job.remote : job.local,
        code: e.code,
        message: e.message,
      });
      if (plan.files.length > 1) {
        display.message(
          `ferry: ${direction} ${printable(job.label)}: ${printable(e.message)} [${e.code}]`,
        );
      }
      // A lost connection that reconnecting could not mend ends the whole transfer.
      if (CONNECTION_FAILURES.has(e.code)) fatal = e;
    }
  });
  report.files.sort((a, b) => (a.remote < b.remote ? -1 : a.remote > b.remote ? 1 : 0));
  report.seconds = Math.round(performance.now() - started) / 1000;
  return report;
}

/**
 * `get [-r] [-p] [--resume] REMOTE... LOCAL` or `put [-r] [-p] [--resume] LOCAL... REMOTE`:
 * plans, creates the directories (parents first), moves the files and reports.
 */
export async function transferFiles(
  direction: "get" | "put",
  connection: Reconnector,
  sources: string[],
  dest: string,
  flags: TransferFlags,
  display: ProgressDisplay,
): Promise<TransferReport> {
  const started = performance.now();
  const failed: TransferReport["failed"] = [];
  const warn = (text: string) => display.message(text);
  const { client } = await connection.current();
  if (direction === "put") {
    const plan = await planPut(client, sources, dest, flags, warn, failed);
    await makeRemoteDirs(client, plan.remoteDirs);
    const report = await execute(connection, plan, "put", flags, display, failed, started);
    report.directories = plan.remoteDirs.length;
    return report;
  }
  const plan = await planGet(client, sources, dest, flags, warn, failed);
  for (const d of plan.dirs) {
    try {
      await Deno.mkdir(d.path, { recursive: true });
    } catch (err) {
      throw localError(err, d.path);
    }
  }
  const report = await execute(connection, plan, "get", flags, display, failed, started);
  report.directories = plan.dirs.length;
  if (flags.preserve) await setLocalDirTimes(plan.dirs);
  return report;
}

/** Gives local directories their remote modification times, deepest first. */
async function setLocalDirTimes(dirs: Plan["dirs"]): Promise<void> {
  // Deepest first: writing into a directory changes its time.
  for (const d of [...dirs].reverse()) {
    if (d.mtime === null) continue;
    try {
      await Deno.utime(d.path, new Date(), new Date(d.mtime));
    } catch (err) {
      throw localError(err, d.path);
    }
  }
}

/** Creates remote directories: parents first, each level's directories at once. */
async function makeRemoteDirs(client: FerryClient, remoteDirs: string[]): Promise<void> {
  const byDepth = new Map<number, string[]>();
  for (const d of remoteDirs) {
    const depth = d.split("/").length;
    byDepth.set(depth, [...(byDepth.get(depth) ?? []), d]);
  }
  for (const depth of [...byDepth.keys()].sort((a, b) => a - b)) {
    const dirs = byDepth.get(depth)!;
    for (let i = 0; i < dirs.length; i += 4 * CONCURRENCY) {
      await Promise.all(
        dirs.slice(i, i + 4 * CONCURRENCY).map((d) => client.mkdir(d, { parents: true })),
      );
    }
  }
}
