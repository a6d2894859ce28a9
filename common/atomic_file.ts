/**
 * Files that appear under their name only once complete: bytes go to a temporary file beside
 * the target, hashed as they are written, and {@linkcode AtomicFile.commit} then fsyncs it,
 * renames it over the target and fsyncs the directory, so after a crash the target holds either
 * its old contents or all of the new ones, never a mix. Both ends use it: the server for uploads
 * and its small files (certificates, the admin token, `users.json`), the client for downloads.
 *
 * A temporary file can be kept ({@linkcode AtomicFile.discard} with `keep`) and continued
 * later with {@linkcode resumeAtomicFile}, which re-hashes the bytes kept so that they can be
 * checked against the other side's before the transfer goes on.
 *
 * @module
 */

import { dirname } from "node:path";
import { FerryError } from "../protocol/errors.ts";
import { createHasher, type HashAlgorithm, type Hasher, hashPrefix } from "./hash_file.ts";

/**
 * Size of each of the two write buffers, unless a smaller one is asked for. 256 KiB, as the
 * server's uploads use: writing 1 GiB to the page cache from two 1 MiB buffers cost 0.6-1.0
 * system CPU-s on this project's test machine against 0.35-0.45 from 256 KiB ones (the copy
 * into the page cache reads a buffer that no longer fits the core's cache), whatever the
 * extra thread-pool hand-offs cost.
 */
export const WRITE_BUFFER_SIZE = 256 * 1024;

/**
 * Bytes after which a large file starts writing its data back to disk in the background
 * (`fdatasync`, one at a time, never waited for until the commit), so that the commit's fsync
 * finds little left to do: on this project's test machine it took 0.2-0.9 s for 1 GiB written
 * in one go, 0.07 s with these background syncs, at network pace.
 */
export const SYNC_EVERY = 64 * 1024 * 1024;

/**
 * Largest write made on the calling thread: a whole write buffer, so every write is. Creating,
 * renaming and looking up files and writing to the page cache take microseconds on a local disk,
 * while handing a call to the runtime's thread pool costs 50-100 µs of CPU, and a write there
 * copies the bytes into a fresh buffer of the runtime's first (measured here: 1 GiB in 256 KiB
 * writes, 0.5-0.6 CPU-s on the pool against 0.3-0.35 on this thread; a 1 GiB download's
 * receiver 0.3-0.4 CPU-s less). So metadata calls and writes run synchronously, fsyncs on the
 * pool (the background data syncs keep the dirty pages a write could wait behind few).
 */
export const SYNC_WRITE_MAX = WRITE_BUFFER_SIZE;

/**
 * The background data syncs of a file being written: one at a time, each started after the write
 * under way, once {@linkcode SYNC_EVERY} more bytes were written since the last, so that the
 * final fsync finds little left to do. The first failure is kept for the commit to throw: Linux
 * reports a writeback error to one fsync or fdatasync only, so the commit's own fsync could
 * succeed after it. Used by {@linkcode createAtomicFile}'s files and the server's race-free
 * uploads.
 */
export class BackgroundSync {
  readonly #syncData: () => Promise<void>;
  #syncing: Promise<void> | null = null;
  #syncedAt: number;
  #failure: unknown = null;

  /** Syncs with `syncData`, counting from `written` bytes already in the file. */
  constructor(syncData: () => Promise<void>, written = 0) {
    this.#syncData = syncData;
    this.#syncedAt = written;
  }

  /** Starts a sync after `write` ends, if none runs and `written` is far enough along. */
  after(write: Promise<void>, written: number): void {
    if (this.#syncing !== null || written - this.#syncedAt < SYNC_EVERY) return;
    this.#syncedAt = written;
    this.#syncing = write.then(this.#syncData)
      .catch((err) => void (this.#failure ??= err))
      .finally(() => this.#syncing = null);
  }

  /** Waits for the sync under way, if any (this never rejects: a failure is kept). */
  async settled(): Promise<void> {
    await this.#syncing;
  }

  /** Waits for the sync under way, then throws the first sync's failure, if one failed. */
  async check(): Promise<void> {
    await this.#syncing;
    if (this.#failure !== null) throw this.#failure;
  }

  /** Counts from `written` bytes again (the file was cut back). */
  restart(written: number): void {
    this.#syncedAt = written;
  }
}

// ---------------------------------------------------------------------------------------------
// Directory fsync with group commit

/**
 * Group commit of fsyncs: concurrent callers that need one object (a directory) flushed share
 * fsyncs. Per key at most one fsync runs and one waits behind it, which every caller arriving
 * meanwhile joins: an fsync that starts after a caller's change covers it.
 */
export interface GroupSync {
  /**
   * Resolves once a flush of `key` that started after this call has finished. `flush` is this
   * caller's way of running it, used when its call is the one that starts the next flush (so
   * whatever it flushes, an open descriptor say, must stay valid until this resolves).
   */
  sync(key: string, flush: () => Promise<void>): Promise<void>;
}

/**
 * A {@linkcode GroupSync}. The state lives on the returned object: two servers in one process
 * share nothing.
 *
 * @example Usage
 * ```ts ignore
 * import { createGroupSync } from "./atomic_file.ts";
 * const syncs = createGroupSync();
 * await syncs.sync(`${dev}:${ino}`, () => directory.sync());
 * ```
 */
export function createGroupSync(): GroupSync {
  /** Per key: the flush running, and the one queued behind it. */
  const syncs = new Map<string, { running: Promise<void>; next: Promise<void> | null }>();

  function advance(key: string): void {
    const current = syncs.get(key);
    if (current === undefined) return;
    if (current.next === null) {
      syncs.delete(key);
      return;
    }
    const running = current.next.finally(() => advance(key));
    running.catch(() => {}); // its waiters hold `next` and get the error
    syncs.set(key, { running, next: null });
  }

  return {
    sync(key, flush) {
      const current = syncs.get(key);
      if (current === undefined) {
        const running = flush().finally(() => advance(key));
        running.catch(() => {}); // the caller gets the error; the chain must not be unhandled
        syncs.set(key, { running, next: null });
        return running;
      }
      // The running flush may have started before this caller's change: join the next one.
      current.next ??= current.running.catch(() => {}).then(flush);
      return current.next;
    },
  };
}

/** Makes renames into a directory durable. */
export interface DirectorySync {
  /**
   * Resolves once an fsync of `dir` that started after this call has finished, so every
   * rename into `dir` made before the call is on disk. A no-op on Windows, whose directories
   * cannot be opened.
   */
  sync(dir: string): Promise<void>;
}

/**
 * A {@linkcode DirectorySync} with group commit ({@linkcode GroupSync}): an fsync that starts
 * after a rename covers it, so concurrent commits into one directory share fsyncs. The state
 * lives on the returned object: two servers in one process share nothing.
 *
 * @example Usage
 * ```ts ignore
 * import { createDirectorySync } from "./atomic_file.ts";
 * const directories = createDirectorySync();
 * await Deno.rename("dir/.tmp", "dir/file");
 * await directories.sync("dir");
 * ```
 */
export function createDirectorySync(): DirectorySync {
  const group = createGroupSync();
  return {
    sync(dir) {
      if (Deno.build.os === "windows") return Promise.resolve();
      return group.sync(dir, () => fsyncDirectory(dir));
    },
  };
}

async function fsyncDirectory(dir: string): Promise<void> {
  const handle = Deno.openSync(dir, { read: true });
  try {
    await handle.sync();
  } finally {
    handle.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The atomic file

/** Where an {@linkcode AtomicFile} goes, and how it is written. */
export interface AtomicFileOptions {
  /** The name the file gets on commit. */
  target: string;
  /** The temporary file, in the target's directory (a rename must not cross file systems). */
  temp: string;
  /** Permissions of a new temporary file (default `0o644`, narrowed by the umask). */
  mode?: number;
  /** Set `mode` exactly on commit, whatever the umask (for keys and tokens). */
  exactMode?: boolean;
  /** Size of each write buffer (default {@linkcode WRITE_BUFFER_SIZE}); small files want less. */
  bufferSize?: number;
  /** Hash of the contents (default SHA-256). */
  algorithm?: HashAlgorithm;
  /** Shared directory fsyncs; a private one by default. */
  directorySync?: DirectorySync;
}

/** Options for {@linkcode resumeAtomicFile}. */
export interface ResumeOptions extends AtomicFileOptions {
  /** Bytes of the kept file to keep (the rest is cut off); all of them when unset. */
  keep?: number;
  /** Stops the re-hash of the kept bytes. */
  signal?: AbortSignal;
}

/** A file being written under a temporary name. */
export interface AtomicFile {
  /** The temporary file's path. */
  readonly temp: string;
  /** The target's path. */
  readonly target: string;
  /** Bytes that were kept from before when it was opened (0 for a new file). */
  readonly existing: number;
  /** Bytes in the file: the kept ones plus every one written. */
  readonly length: number;
  /** The hash of those bytes; {@linkcode Hasher.copy} it to digest a prefix and go on. */
  readonly hasher: Hasher;
  /**
   * Appends bytes. They are copied into a buffer before this resolves, and written to the file
   * in large writes: on the calling thread ({@linkcode SYNC_WRITE_MAX}), or, for buffers larger
   * than that, on the pool, overlapping with the caller's next bytes (two buffers take turns).
   */
  write(data: Uint8Array): Promise<void>;
  /**
   * Says how many bytes the file will hold in all, the kept ones included, so that its write
   * buffer is no larger than the bytes still to come (a small file then costs a small buffer,
   * not {@linkcode WRITE_BUFFER_SIZE}). Only a hint: more bytes are still written whole.
   */
  expect(length: number): void;
  /** Writes out every buffered byte and waits until they are written. */
  flush(): Promise<void>;
  /** Drops every byte, kept ones included, and starts over (the other side's did not match). */
  restart(): Promise<void>;
  /**
   * Flushes, sets the modification time (when given), fsyncs and closes the file, renames it
   * over the target and fsyncs the directory. Resolves with the size (lstat) of what the rename
   * replaced, 0 when the target did not exist.
   */
  commit(options?: { mtime?: Date | null }): Promise<{ replacedSize: number }>;
  /**
   * Closes the file. With `keep`, it first writes out what is buffered and keeps the file for a
   * later {@linkcode resumeAtomicFile}; otherwise it removes it. Safe to call twice, and after
   * a commit (which it then leaves alone).
   */
  discard(keep?: boolean): Promise<void>;
}

/**
 * Creates the temporary file exclusively (`O_CREAT|O_EXCL`, which never follows a symlink).
 * A leftover regular file of that name (a stale partial) is replaced.
 *
 * @throws what `Deno.open` throws; `FerryError` `INTERNAL` when the temporary name is taken by
 * something that is not a regular file.
 */
export function createAtomicFile(options: AtomicFileOptions): Promise<AtomicFile> {
  try {
    const file = createExclusive(options.temp, options.mode ?? 0o644);
    return Promise.resolve(atomicFile(file, options, createHasher(options.algorithm), 0));
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * Opens a kept temporary file to go on writing it: cuts it to `keep` bytes (when given),
 * hashes those, and appends after them.
 *
 * @throws what `Deno.lstat` or `Deno.open` throw (`NotFound` when nothing was kept);
 * `FerryError` `INTERNAL` when what is kept is not a regular file or is shorter than `keep`.
 */
export async function resumeAtomicFile(options: ResumeOptions): Promise<AtomicFile> {
  const info = await Deno.lstat(options.temp);
  if (!info.isFile) throw new FerryError("INTERNAL", "a temporary file name is taken");
  const file = await Deno.open(options.temp, { read: true, write: true });
  try {
    const { size } = await file.stat();
    const keep = options.keep ?? size;
    if (size < keep) throw shrank();
    await file.truncate(keep);
    const { length, hasher } = await hashPrefix(file, {
      length: keep,
      algorithm: options.algorithm,
      signal: options.signal,
      buffer: new Uint8Array(Math.min(keep, WRITE_BUFFER_SIZE)),
    });
    if (length < keep) throw shrank();
    await file.seek(keep, Deno.SeekMode.Start);
    return atomicFile(file, options, hasher, keep);
  } catch (err) {
    file.close();
    throw err;
  }
}

/** Options for {@linkcode openAtomicFile}. */
export interface OpenOptions extends AtomicFileOptions {
  /** Go on with a kept temporary file when there is one (all of its bytes, re-hashed). */
  resume?: boolean;
  /** Stops the re-hash of the kept bytes. */
  signal?: AbortSignal;
}

/**
 * Opens the temporary file of a transfer to `target`: with `resume`, a kept regular file is
 * continued ({@linkcode resumeAtomicFile}, all of it); otherwise, or when none is kept, a new
 * one is created ({@linkcode createAtomicFile}). This is a download's way in: check the kept
 * bytes against the other side's digest of as many bytes, and {@linkcode AtomicFile.restart}
 * when they differ.
 *
 * @example A download that resumes what an earlier attempt kept
 * ```ts ignore
 * import { openAtomicFile } from "./atomic_file.ts";
 * const file = await openAtomicFile({ target, temp: `${dir}/.${name}.ferry-partial`, resume: true });
 * if (file.existing > 0) {
 *   const theirs = await client.hash(remote, { length: file.existing });
 *   if (theirs !== file.hasher.copy().digest().toHex()) await file.restart();
 * }
 * try {
 *   for await (const chunk of receive(file.length)) await file.write(chunk);
 *   await file.commit({ mtime });
 * } catch (err) {
 *   await file.discard(isInterruption(err)); // keep it for the next attempt
 *   throw err;
 * }
 * ```
 *
 * @throws what {@linkcode createAtomicFile} and {@linkcode resumeAtomicFile} throw.
 */
export async function openAtomicFile(options: OpenOptions): Promise<AtomicFile> {
  if (options.resume) {
    const kept = await Deno.lstat(options.temp).catch(() => null);
    if (kept?.isFile) return await resumeAtomicFile(options);
  }
  return await createAtomicFile(options);
}

function shrank(): FerryError {
  return new FerryError("INTERNAL", "the kept partial file shrank while resuming");
}

/** Creates `path` exclusively (synchronously: see {@linkcode SYNC_WRITE_MAX}). */
function createExclusive(path: string, mode: number): Deno.FsFile {
  try {
    return Deno.openSync(path, { write: true, createNew: true, mode });
  } catch (err) {
    if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
  }
  const info = Deno.lstatSync(path);
  if (!info.isFile) throw new FerryError("INTERNAL", "a temporary file name is taken");
  Deno.removeSync(path);
  return Deno.openSync(path, { write: true, createNew: true, mode });
}

function atomicFile(
  file: Deno.FsFile,
  options: AtomicFileOptions,
  initialHasher: Hasher,
  kept: number,
): AtomicFile {
  const { temp, target } = options;
  const size = Math.max(1, options.bufferSize ?? WRITE_BUFFER_SIZE);
  let hasher = initialHasher;
  let existing = kept;
  let length = kept;
  /** The length the file is expected to reach, when told ({@linkcode AtomicFile.expect}). */
  let expected: number | null = null;
  /**
   * The buffer being filled, and the other one; each is allocated when first needed, sized to
   * the bytes still expected, so a small file never costs two large buffers.
   */
  let buffer: Uint8Array | null = null;
  let spare: Uint8Array | null = null;
  let fill = 0;
  /** The write to disk under way, if any: its error surfaces at the next flush or commit. */
  let writing: Promise<void> = Promise.resolve();
  /** Writes the data back to disk as it grows (its failure fails the commit). */
  const syncs = new BackgroundSync(() => file.syncData(), kept);
  let open = true;
  let committed = false;

  function newBuffer(): Uint8Array {
    const still = expected === null ? size : expected - length;
    return new Uint8Array(Math.max(1, Math.min(size, still)));
  }

  /**
   * Writes all of `bytes`: on this thread up to {@linkcode SYNC_WRITE_MAX} (a default buffer),
   * on the pool beyond (a larger `bufferSize`).
   */
  async function writeAll(bytes: Uint8Array): Promise<void> {
    if (bytes.length <= SYNC_WRITE_MAX) {
      for (let offset = 0; offset < bytes.length;) {
        offset += file.writeSync(bytes.subarray(offset));
      }
      return;
    }
    for (let offset = 0; offset < bytes.length;) {
      offset += await file.write(bytes.subarray(offset));
    }
  }

  /**
   * Starts writing the filled buffer, once the write before it ended; the next buffer is the
   * one that write used (free now), or a new one when first needed.
   */
  async function startWrite(): Promise<void> {
    if (fill === 0 || buffer === null) return;
    const full = buffer.subarray(0, fill);
    await writing;
    writing = writeAll(full);
    writing.catch(() => {}); // awaited by the next write or flush
    syncs.after(writing, length);
    const next = spare;
    spare = buffer;
    buffer = next;
    fill = 0;
  }

  async function flush(): Promise<void> {
    await startWrite();
    await writing;
  }

  function close(): void {
    if (!open) return;
    open = false;
    try {
      file.close();
    } catch {
      // already closed
    }
  }

  return {
    temp,
    target,
    get existing() {
      return existing;
    },
    get length() {
      return length;
    },
    get hasher() {
      return hasher;
    },
    async write(data) {
      hasher.update(data);
      for (let offset = 0; offset < data.length;) {
        buffer ??= newBuffer();
        const n = Math.min(data.length - offset, buffer.length - fill);
        buffer.set(data.subarray(offset, offset + n), fill);
        fill += n;
        offset += n;
        length += n;
        if (fill === buffer.length) await startWrite();
      }
    },
    expect(total) {
      expected = total;
    },
    flush,
    async restart() {
      await writing;
      await syncs.settled();
      syncs.restart(0);
      fill = 0;
      await file.truncate(0);
      await file.seek(0, Deno.SeekMode.Start);
      hasher = createHasher(options.algorithm);
      existing = 0;
      length = 0;
    },
    async commit(commitOptions = {}) {
      await flush();
      const { mtime } = commitOptions;
      if (mtime) file.utimeSync(new Date(), mtime);
      await syncs.check();
      await file.sync();
      close();
      if (options.exactMode && Deno.build.os !== "windows") {
        Deno.chmodSync(temp, options.mode ?? 0o644);
      }
      const replacedSize = sizeOf(target);
      Deno.renameSync(temp, target);
      committed = true;
      await (options.directorySync ?? createDirectorySync()).sync(dirname(target));
      return { replacedSize };
    },
    async discard(keep = false) {
      if (open) {
        if (keep) await flush().catch(() => {});
        else await writing.catch(() => {});
        await syncs.settled();
        close();
      }
      if (!committed && !keep) await Deno.remove(temp).catch(() => {});
    },
  };
}

/** The size of what `path` names (not followed), 0 when nothing is there. */
function sizeOf(path: string): number {
  try {
    return Deno.lstatSync(path).size;
  } catch {
    return 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Small files

/** Options for {@linkcode writeFileAtomic}. */
export interface WriteFileAtomicOptions {
  /** The file's permissions, set exactly (default `0o644`). */
  mode?: number;
  /** Shared directory fsyncs; a private one by default. */
  directorySync?: DirectorySync;
}

/**
 * Writes `data` to `path` atomically: a temporary file beside it (`<path>.<random>.tmp`,
 * created exclusively with `mode`), fsynced, given `mode` exactly, renamed over `path`, and
 * the directory fsynced. A failure removes the temporary file and leaves `path` as it was.
 *
 * @example Usage
 * ```ts ignore
 * import { writeFileAtomic } from "./atomic_file.ts";
 * await writeFileAtomic("certs/token", "secret\n", { mode: 0o600 });
 * ```
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: WriteFileAtomicOptions = {},
): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const random = crypto.getRandomValues(new Uint8Array(6)).toHex();
  const file = await createAtomicFile({
    target: path,
    temp: `${path}.${random}.tmp`,
    mode: options.mode ?? 0o644,
    exactMode: true,
    bufferSize: bytes.length,
    directorySync: options.directorySync,
  });
  try {
    await file.write(bytes);
    await file.commit();
  } catch (err) {
    await file.discard();
    throw err;
  }
}
