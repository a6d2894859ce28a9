/**
 * `get` and `put` of files, wildcards, directory trees and standard streams: plans what goes
 * where (`plan.ts`), skips what `--update` or `--resume` find already in place (`skip.ts`), then
 * moves the files over the one connection with bounded concurrency, resuming after
 * interruptions, and removes the partial files a copied tree no longer needs.
 *
 * @module
 */

import { join } from "node:path";
import { FerryError, isSessionFailure } from "../protocol/errors.ts";
import type { FerryClient, HashAlgorithm, Progress, TransferResult } from "../client/types.ts";
import { localError } from "../client/local_files.ts";
import type { ProgressDisplay } from "./progress.ts";
import { type Reconnector, withReconnect } from "./reconnect.ts";
import { formatSize, printable } from "./format.ts";
import { withHint } from "./hints.ts";
import { CONCURRENCY } from "./remote_tree.ts";
import {
  type FileJob,
  partialTarget,
  type Plan,
  planGet,
  planPut,
  type TransferFailure,
  type TransferFlags,
} from "./plan.ts";
import { RemoteIndex, type SkipReason, skipReason } from "./skip.ts";
import { KeptPartials } from "./kept_partials.ts";
import { inputSource, outputSink } from "./std_streams.ts";

export type { FileJob, TransferFailure, TransferFlags } from "./plan.ts";

/** What a `get`/`put` did. */
export interface TransferReport {
  /** Files moved. */
  files: {
    remote: string;
    local: string;
    bytes: number;
    /** The checksum algorithm of the connection, and the file's digest in it. */
    algorithm: HashAlgorithm;
    /** `null` for a file moved over several streams, checked in `ranges` ranges. */
    checksum: string | null;
    ranges?: number;
    resumed: number;
  }[];
  /** Files not moved because the destination already had them (`--update`, `--resume`). */
  skipped: { remote: string; local: string; bytes: number; reason: SkipReason }[];
  /** Directories created. */
  directories: number;
  /** Bytes moved in all. */
  bytes: number;
  /** Wall-clock seconds. */
  seconds: number;
  /** Failures, when some files could not be moved (the command then fails). */
  failed: TransferFailure[];
}

/**
 * Slots of the files in flight at once over the one connection: a small file takes one, so up
 * to 64 small files overlap (each costs little memory, and what bounds them is the round trip
 * and the fsyncs on both sides, which overlapping shares); a large one takes up to eight, so
 * eight large files move at once, as before.
 */
export const FILE_SLOTS = 64;
/** Bytes of a file per slot it takes. */
const SLOT_BYTES = 128 * 1024;

/** The slots `job` takes: one per {@linkcode SLOT_BYTES}, from 1 to a eighth of all of them. */
export function slotsOf(job: { size: number | null }): number {
  const most = FILE_SLOTS / CONCURRENCY;
  if (job.size === null) return most;
  return Math.min(most, Math.max(1, Math.ceil(job.size / SLOT_BYTES)));
}

/**
 * Runs `work` over `items` in order, with at most `capacity` slots taken at once (`weight` of
 * each item; an item heavier than all of them runs alone). `work` must not reject.
 */
export async function pool<T>(
  items: T[],
  capacity: number,
  weight: (item: T) => number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let used = 0;
  let running = 0;
  /** Wakes the loop below when a task ends (one waiter at most: the loop itself). */
  let wake: (() => void) | null = null;
  let allDone: (() => void) | null = null;
  /** What a `work` that broke its promise not to reject threw, rethrown once all ended. */
  const failures: unknown[] = [];
  const ended = (w: number) => {
    used -= w;
    running--;
    wake?.();
    if (running === 0) allDone?.();
  };
  for (const item of items) {
    const w = weight(item);
    // Not Promise.race over the running tasks: that subscribes to each of them once per file.
    while (running > 0 && used + w > capacity) {
      await new Promise<void>((resolve) => wake = resolve);
      wake = null;
    }
    used += w;
    running++;
    work(item).then(() => ended(w), (err) => {
      failures.push(err);
      ended(w);
    });
  }
  if (running > 0) await new Promise<void>((resolve) => allDone = resolve);
  if (failures.length > 0) throw failures[0];
}

/** Moves one file (or stream); `retrying` after an interruption (files resume then). */
function move(
  client: FerryClient,
  direction: "get" | "put",
  job: FileJob,
  flags: TransferFlags,
  retrying: boolean,
  onProgress: (p: Progress) => void,
): Promise<TransferResult> {
  if (job.stream !== undefined) {
    return job.stream === "stdin"
      ? client.upload(inputSource(), job.remote, { mtime: null, onProgress })
      : client.download(job.remote, outputSink(job.stream), { onProgress });
  }
  return direction === "get"
    ? client.download(job.remote, job.local, {
      resume: flags.resume || retrying,
      preserveTimes: flags.preserve,
      streams: flags.streams,
      onProgress,
    })
    : client.upload(job.local, job.remote, {
      resume: flags.resume || retrying,
      // Like scp: without -p the server's clock sets the time; with -p the local one.
      mtime: flags.preserve ? undefined : null,
      onProgress,
    });
}

/** Shared by `get` and `put`: moves the planned files and reports. */
async function execute(
  connection: Reconnector,
  plan: Plan,
  direction: "get" | "put",
  flags: TransferFlags,
  display: ProgressDisplay,
  failed: TransferFailure[],
  started: number,
): Promise<TransferReport> {
  const report: TransferReport = {
    files: [],
    skipped: [],
    directories: 0,
    bytes: 0,
    seconds: 0,
    failed,
  };
  if (plan.many && plan.files.length > 1) {
    display.setTotals(plan.files.length, plan.files.reduce((n, f) => n + (f.size ?? 0), 0));
  }
  // A tree's files are checked against one listing per directory; a file or two by STAT.
  const remoteIndex = new RemoteIndex(plan.files.length > 2);
  const partials = new KeptPartials(plan.files.length);
  let fatal: FerryError | null = null;
  await pool(plan.files, FILE_SLOTS, slotsOf, async (job) => {
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
      const what = `${direction} ${printable(job.label)}`;
      const notice = (text: string) => display.message(text);
      const verifying = () => bar.update({ bytes: 0, total: job.size, verifying: true });
      const skip = await withReconnect(
        connection,
        what,
        (c) => skipReason(c, direction, job, flags, remoteIndex, verifying),
        notice,
      );
      if (skip !== null) {
        bar.skip();
        report.skipped.push({
          remote: job.remote,
          local: job.local,
          bytes: job.size ?? 0,
          reason: skip,
        });
        return;
      }
      if (direction === "get" && !flags.resume && job.stream === undefined) {
        const kept = await partials.sizeFor(job.local);
        if (kept !== null) {
          display.message(
            `ferry: discarding the partial download of ${printable(job.local)} (${
              formatSize(kept)
            }); --resume would continue it`,
          );
        }
      }
      // A stream cannot be replayed: it moves once, and a lost connection ends it.
      const result = job.stream !== undefined
        ? await move((await connection.current()).client, direction, job, flags, false, onProgress)
        : await withReconnect(
          connection,
          what,
          (c, retrying) => move(c, direction, job, flags, retrying, onProgress),
          notice,
        );
      bar.done();
      report.files.push({
        remote: job.remote,
        local: job.local,
        bytes: result.bytes,
        algorithm: result.algorithm,
        checksum: result.checksum,
        ranges: result.ranges,
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
      if (isSessionFailure(e)) fatal = e;
    }
  });
  const byRemote = (a: { remote: string }, b: { remote: string }) =>
    a.remote < b.remote ? -1 : a.remote > b.remote ? 1 : 0;
  report.files.sort(byRemote);
  report.skipped.sort(byRemote);
  report.seconds = Math.round(performance.now() - started) / 1000;
  return report;
}

/**
 * `get [-r] [-p] [--resume] [-u [-c]] REMOTE... LOCAL` or `put … LOCAL... REMOTE`: plans,
 * creates the directories (parents first), moves the files and reports. `destGiven` tells an
 * explicit destination from the default one.
 */
export async function transferFiles(
  direction: "get" | "put",
  connection: Reconnector,
  sources: string[],
  dest: string,
  flags: TransferFlags,
  display: ProgressDisplay,
  destGiven = true,
): Promise<TransferReport> {
  const started = performance.now();
  const failed: TransferFailure[] = [];
  const warn = (text: string) => display.message(text);
  const { client } = await connection.current();
  if (direction === "put") {
    const plan = await planPut(client, sources, dest, flags, warn, failed, destGiven);
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
  if (failed.length === 0) await removeStalePartials(plan.trees);
  return report;
}

/**
 * Removes the hidden partial files left in the directories of a tree that was copied whole:
 * every file is in place now, so what an interrupted run left there is no longer needed.
 */
async function removeStalePartials(dirs: string[]): Promise<void> {
  for (const dir of dirs) {
    const stale: string[] = [];
    try {
      for await (const e of Deno.readDir(dir)) {
        if (e.isFile && partialTarget(e.name) !== null) stale.push(join(dir, e.name));
      }
      for (const path of stale) await Deno.remove(path);
    } catch (err) {
      throw localError(err, dir);
    }
  }
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
