/**
 * Which files a `get` or `put` need not move: with `--update`, those the destination already has
 * unchanged (same size and not older, as `cp -u` and `rclone copy --update` judge, which works
 * with and without `-p`; or, with `--checksum`, the same size and digest); with `--resume`,
 * those an interrupted run already completed (same size and digest, never the name alone).
 * Digests are in the connection's checksum algorithm (XXH3-128 unless the server or
 * `--checksum-choice` says SHA-256).
 *
 * @module
 */

import { FerryError } from "../protocol/errors.ts";
import type { Entry } from "../protocol/messages/mod.ts";
import type { FerryClient } from "../client/types.ts";
import { localError } from "../client/local_files.ts";
import { type HashAlgorithm, hashPrefix } from "../common/hash_file.ts";
import type { FileJob, TransferFlags } from "./plan.ts";

/** Why a file was not moved. */
export type SkipReason = "unchanged" | "complete";

/** Hex digest in `algorithm` (default SHA-256) of a local file of `size` bytes. */
export async function hashLocal(
  path: string,
  size: number,
  algorithm: HashAlgorithm = "sha256",
): Promise<string> {
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(path, { read: true });
    const { length, hasher } = await hashPrefix(file, { length: size, algorithm });
    if (length < size) throw new Error(`the file is shorter than ${size} bytes`);
    return hasher.digest().toHex();
  } catch (err) {
    throw localError(err, path);
  } finally {
    file?.close();
  }
}

/** What is known of one side of a file: its size and modification time. */
interface Side {
  size: number;
  mtime: number | null;
}

async function localSide(path: string): Promise<Side | null> {
  try {
    const info = await Deno.stat(path);
    return info.isFile ? { size: info.size, mtime: info.mtime?.getTime() ?? null } : null;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw localError(err, path);
  }
}

/**
 * Remote entries by directory, each directory listed once (a tree's files are checked against
 * one listing per directory, not one request per file).
 */
export class RemoteIndex {
  #listings = new Map<string, Promise<Map<string, Entry> | null>>();

  /** With `listing` false each entry is one STAT (for a file or two). */
  constructor(private readonly listing = true) {}

  /** The remote entry at `path`, or `null`, asked over `client` (the current connection). */
  async entry(client: FerryClient, path: string): Promise<Entry | null> {
    const notFound = (err: unknown) => {
      if (err instanceof FerryError && err.code === "NOT_FOUND") return null;
      throw err;
    };
    if (!this.listing) return await client.stat(path).catch(notFound);
    const slash = path.lastIndexOf("/");
    const dir = slash < 0 ? "." : path.slice(0, slash);
    const name = path.slice(slash + 1);
    let listing = this.#listings.get(dir);
    if (listing === undefined) {
      listing = client.list(dir).then((entries) => new Map(entries.map((e) => [e.name, e])))
        .catch(notFound);
      this.#listings.set(dir, listing);
      // A lost connection is not remembered: the next file asks again.
      listing.catch(() => this.#listings.delete(dir));
    }
    return (await listing)?.get(name) ?? null;
  }
}

/**
 * Whether `job` can be skipped, and why; `null` means it must move. `verifying` is called
 * before hashes are compared (which reads the whole file on both sides).
 */
export async function skipReason(
  client: FerryClient,
  direction: "get" | "put",
  job: FileJob,
  flags: TransferFlags,
  remote: RemoteIndex,
  verifying: () => void,
): Promise<SkipReason | null> {
  if (job.stream !== undefined || !(flags.update || flags.resume)) return null;
  let source: Side | null;
  let target: Side | null;
  if (direction === "get") {
    target = await localSide(job.local);
    if (target === null) return null;
    source = job.size !== null
      ? { size: job.size, mtime: job.mtime }
      : await remoteSide(client, job.remote);
  } else {
    source = job.size !== null ? { size: job.size, mtime: job.mtime } : await localSide(job.local);
    const entry = await remote.entry(client, job.remote);
    target = entry?.kind === "file" ? { size: entry.size, mtime: entry.mtime } : null;
  }
  if (source === null || target === null || source.size !== target.size) return null;
  if (
    flags.update && !flags.checksum && source.mtime !== null && target.mtime !== null &&
    target.mtime >= source.mtime
  ) {
    return "unchanged";
  }
  if (!flags.checksum && !flags.resume) return null;
  verifying();
  const algorithm = client.checksum;
  const [local, theirs] = await Promise.all([
    hashLocal(job.local, source.size, algorithm),
    client.hash(job.remote, { algorithm }),
  ]);
  if (local !== theirs) return null;
  return flags.update ? "unchanged" : "complete";
}

/** A remote file's size and time by one STAT (a file named alone, not found by a listing). */
async function remoteSide(client: FerryClient, path: string): Promise<Side | null> {
  const entry = await client.stat(path).catch(() => null);
  return entry?.kind === "file" ? { size: entry.size, mtime: entry.mtime } : null;
}
