/**
 * Uploads of the race-free storage, by descriptor. An upload holds its target's directory open
 * from the start, writes a hidden temporary there (created with `O_CREAT | O_EXCL` relative to
 * that descriptor, so never through a link), hashes while it streams, and only after the EOF's
 * size and digest match does it fsync the file, re-open the directory by its client path to
 * check that it is still the same directory at the same place inside the root, and replace the
 * target with `renameat2(RENAME_EXCHANGE)` relative to that descriptor (the old file, now
 * under the temporary's name, is then removed, so the size replaced is exact), then fsync the
 * directory (group commit: the commits into one directory at about the same time share fsyncs). A directory moved or swapped during the upload fails the commit (`NOT_FOUND`)
 * instead of committing into it.
 *
 * Temporary names, resumability and the order of concurrent commits are those of
 * `server/storage/staging.ts`; the key of a resumable upload is over its user, final name,
 * size and time (its directory is where the file lives, so it needs no key).
 *
 * @module
 */

import { UNKNOWN_SIZE } from "../../protocol/bytes.ts";
import { FerryError } from "../../protocol/errors.ts";
import { quoteName } from "../../common/names.ts";
import { BackgroundSync, createGroupSync, WRITE_BUFFER_SIZE } from "../../common/atomic_file.ts";
import { createHasher, type Hasher, hashPrefix } from "../../common/hash_file.ts";
import type { BeneathDirectory, BeneathFile, BeneathRoot } from "./beneath/mod.ts";
import { parsePath } from "./paths.ts";
import {
  checkReceived,
  checkStageRequest,
  claimFresh,
  claimKept,
  createKeyedLock,
  createTempRegistry,
  partialName,
  randomPartName,
  receiving,
  type StagingShared,
  UPLOAD_BUFFER_SIZE,
} from "./staging.ts";
import type { PrefixDigest, ResumeRequest, StagedUpload, StageRequest } from "./storage.ts";

/** The uploads of one race-free storage. */
export interface RaceFreeStaging {
  /** See `Storage.stage`. */
  stage(request: StageRequest): Promise<StagedUpload>;
  /** See `Storage.resume`. */
  resume(request: ResumeRequest): Promise<StagedUpload>;
  /** See `Storage.partialStatus`. */
  partialStatus(request: StageRequest, signal?: AbortSignal): Promise<PrefixDigest>;
  /** True while an upload writes the temporary `name` of the directory `dirId` (`dev:ino`). */
  isActive(dirId: string, name: string): boolean;
}

/** The target of an upload: its directory, held open, and what the name holds now. */
interface Target {
  /** The client path, as components. */
  readonly components: readonly string[];
  /** The directory, open for the upload's life. */
  readonly dir: BeneathDirectory;
  /** `dev:ino` of the directory. */
  readonly dirId: string;
  /** The final name. */
  readonly name: string;
  /** Size of the regular file the name holds now (0 for none). */
  readonly replacing: number;
}

/** Attempts at replacing a target that keeps changing kind under the commit. */
const MAX_REPLACE_ATTEMPTS = 8;

/** Creates the uploads of `root`; `shared` when other isolates serve the same root. */
export function createRaceFreeStaging(root: BeneathRoot, shared?: StagingShared): RaceFreeStaging {
  /**
   * Temporaries being written (by every isolate of the server), as `dev:ino/name`; claimed
   * before the first await.
   */
  const active = shared?.temps ?? createTempRegistry();
  /** Commits to one target (`dev:ino/name`) run one at a time. */
  const commits = shared?.commits ?? createKeyedLock();
  /** Directory fsyncs, by `dev:ino`, shared by the commits into one directory. */
  const directories = createGroupSync();

  /** Opens the target's directory and checks what the final name is now. */
  function openTarget(path: string): Target {
    const components = parsePath(path, "create");
    const { dir, name } = root.openParent(components);
    try {
      const self = dir.stat();
      let replacing = 0;
      const existing = dir.lstatIfAny(name);
      if (existing?.kind === "dir") {
        throw new FerryError("IS_A_DIRECTORY", `${quoteName(path)} is a directory`);
      }
      if (existing?.kind === "file") replacing = existing.size;
      return { components, dir, dirId: `${self.dev}:${self.ino}`, name, replacing };
    } catch (err) {
      dir.close();
      throw err;
    }
  }

  function partialOf(request: StageRequest, target: Target): string {
    return partialName([request.user, target.name, request.size, request.mtime]);
  }

  /** Creates `temp` in the target's directory; a stale kept partial of that name is replaced. */
  async function createTemp(target: Target, temp: string): Promise<BeneathFile> {
    try {
      return target.dir.createFile(temp, { read: true });
    } catch (err) {
      if (!(err instanceof FerryError && err.code === "ALREADY_EXISTS")) throw err;
    }
    // Nothing of this storage writes it (the name is reserved): a kept upload, replaced.
    if (target.dir.lstat(temp).kind !== "file") {
      throw new FerryError("INTERNAL", "a temporary file name is taken");
    }
    await target.dir.remove(temp);
    return target.dir.createFile(temp, { read: true });
  }

  /**
   * Puts the temporary `temp` in place of `name` in `dir`: exchanged with what is there (then
   * removed), or renamed when there is nothing. Returns the size of the file replaced.
   */
  async function replace(dir: BeneathDirectory, temp: string, name: string): Promise<number> {
    for (let attempt = 0; attempt < MAX_REPLACE_ATTEMPTS; attempt++) {
      const result = dir.exchange(temp, name);
      if (result === "exchanged") {
        const old = dir.lstat(temp);
        if (old.kind === "dir") {
          dir.exchange(temp, name); // a directory appeared: put it back
          throw new FerryError("IS_A_DIRECTORY", `${quoteName(name)} became a directory`);
        }
        await dir.remove(temp);
        return old.kind === "file" ? old.size : 0;
      }
      if (result === "unsupported") {
        let old = 0;
        try {
          const existing = dir.lstat(name);
          if (existing.kind === "file") old = existing.size;
        } catch (err) {
          if (!(err instanceof FerryError && err.code === "NOT_FOUND")) throw err;
        }
        await dir.rename(temp, name, { replace: true });
        return old;
      }
      try {
        await dir.rename(temp, name, { replace: false });
        return 0;
      } catch (err) {
        if (!(err instanceof FerryError && err.code === "ALREADY_EXISTS")) throw err;
      }
    }
    throw new FerryError("BUSY", `${quoteName(name)} keeps changing; try again`);
  }

  /** Wraps an open temporary as a staged upload; it holds `target.dir` until it ends. */
  function staged(
    target: Target,
    file: BeneathFile,
    temp: string,
    request: StageRequest,
    resumable: boolean,
    kept: { length: number; hasher: Hasher },
  ): StagedUpload {
    const key = `${target.dirId}/${temp}`;
    const path = request.path;
    const size = Math.max(1, Math.min(UPLOAD_BUFFER_SIZE, bufferSize(request, kept.length)));
    const hasher = kept.hasher;
    let length = kept.length;
    let position = kept.length;
    // The second buffer is allocated only once a write of the first is under way.
    let buffer: Uint8Array | null = new Uint8Array(size);
    let spare: Uint8Array | null = null;
    let fill = 0;
    let writing: Promise<void> = Promise.resolve();
    /** Writes the data back to disk as it grows, as the client's atomic file does. */
    const syncs = new BackgroundSync(() => file.syncData(), kept.length);
    let fileOpen = true;
    let ended = false;
    let committed = false;

    /** Starts writing the filled buffer, after the write before it, and switches buffers. */
    async function startWrite(): Promise<void> {
      if (fill === 0 || buffer === null) return;
      const full = buffer.subarray(0, fill);
      await writing;
      writing = file.writeAt(full, position);
      writing.catch(() => {}); // surfaced by the next write or flush
      position += fill;
      syncs.after(writing, position);
      const next = spare;
      spare = buffer;
      buffer = next;
      fill = 0;
    }

    async function flush(): Promise<void> {
      await startWrite();
      await writing;
    }

    async function closeFile(): Promise<void> {
      if (!fileOpen) return;
      fileOpen = false;
      await writing.catch(() => {});
      await syncs.settled();
      await file.close().catch(() => {});
    }

    function end(): void {
      if (ended) return;
      ended = true;
      active.release(key);
      target.dir.close();
    }

    async function discard(): Promise<void> {
      if (ended) return;
      await closeFile();
      if (!committed) await target.dir.remove(temp).catch(() => {});
      end();
    }

    return {
      resumable,
      replacing: target.replacing,
      get length() {
        return length;
      },
      async write(data) {
        hasher.update(data);
        length += data.length;
        for (let offset = 0; offset < data.length;) {
          buffer ??= new Uint8Array(size);
          const n = Math.min(data.length - offset, buffer.length - fill);
          buffer.set(data.subarray(offset, offset + n), fill);
          fill += n;
          offset += n;
          if (fill === buffer.length) await startWrite();
        }
      },
      async commit(expected) {
        checkReceived(expected, length, hasher);
        await flush();
        if (request.mtime !== null) file.setTimes(Date.now(), request.mtime);
        await syncs.check();
        await file.sync();
        // Nothing is in flight, and closing a file that keeps its name frees nothing.
        fileOpen = false;
        file.closeSync();
        const replacedBytes = await commits.run(`${target.dirId}/${target.name}`, async () => {
          // The directory by its path now: it must still be the one the temporary is in.
          const current = root.openParent(target.components);
          try {
            const self = current.dir.stat();
            if (`${self.dev}:${self.ino}` !== target.dirId) {
              throw new FerryError(
                "NOT_FOUND",
                `${quoteName(path)}: its directory was moved or replaced during the upload`,
              );
            }
            const replaced = await replace(current.dir, temp, current.name);
            committed = true;
            // Commits into one directory share its fsyncs (`current.dir` stays open until then).
            await directories.sync(target.dirId, () => current.dir.sync());
            return replaced;
          } finally {
            current.dir.close();
          }
        });
        end();
        return { replacedBytes };
      },
      async interrupted() {
        if (!resumable) return await discard();
        if (ended) return;
        await flush().catch(() => {});
        await closeFile();
        end();
      },
      discard,
    };
  }

  /** Rehashes the first `length` bytes of an open temporary. */
  async function rehash(
    file: BeneathFile,
    length: number,
    request: ResumeRequest,
  ): Promise<Hasher> {
    let position = 0;
    const source = {
      read: async (into: Uint8Array) => {
        const n = await file.readAt(into, position);
        position += n;
        return n;
      },
    };
    const hashed = await hashPrefix(source, {
      length,
      algorithm: request.algorithm,
      signal: request.signal,
      buffer: new Uint8Array(Math.max(1, Math.min(length, WRITE_BUFFER_SIZE))),
    });
    if (hashed.length < length) {
      throw new FerryError("INTERNAL", "the kept partial file shrank while resuming");
    }
    return hashed.hasher;
  }

  return {
    async stage(request) {
      checkStageRequest(request);
      const target = openTarget(request.path);
      let temp = request.size === UNKNOWN_SIZE ? null : partialOf(request, target);
      if (temp !== null && !active.claim(`${target.dirId}/${temp}`)) temp = null; // runs elsewhere
      const resumable = temp !== null;
      if (temp === null) {
        temp = randomPartName();
        try {
          claimFresh(active, `${target.dirId}/${temp}`);
        } catch (err) {
          target.dir.close();
          throw err;
        }
      }
      const key = `${target.dirId}/${temp}`;
      try {
        const file = await createTemp(target, temp);
        return staged(target, file, temp, request, resumable, {
          length: 0,
          hasher: createHasher(request.algorithm),
        });
      } catch (err) {
        active.release(key);
        target.dir.close();
        throw err;
      }
    },

    async resume(request) {
      checkStageRequest(request);
      if (request.offset > request.size) {
        throw new FerryError(
          "BAD_ARGUMENT",
          `offset ${request.offset} is past the size ${request.size}`,
        );
      }
      const target = openTarget(request.path);
      const temp = partialOf(request, target);
      const key = `${target.dirId}/${temp}`;
      try {
        claimKept(active, key, request);
      } catch (err) {
        target.dir.close();
        throw err;
      }
      let file: BeneathFile | null = null;
      try {
        try {
          file = target.dir.openFile(temp, { write: true });
        } catch (err) {
          if (!(err instanceof FerryError && err.code === "NOT_FOUND")) throw err;
          if (request.offset > 0) throw nothingKept(request);
          // Nothing kept and nothing asked to keep: a fresh resumable upload (§4.5a).
          file = await createTemp(target, temp);
          return staged(target, file, temp, request, true, {
            length: 0,
            hasher: createHasher(request.algorithm),
          });
        }
        const held = file.stat().size;
        if (held < request.offset) {
          throw new FerryError(
            "BAD_ARGUMENT",
            `the server holds ${held} bytes of this upload, not ${request.offset}`,
          );
        }
        await file.truncate(request.offset);
        const hasher = await rehash(file, request.offset, request);
        return staged(target, file, temp, request, true, { length: request.offset, hasher });
      } catch (err) {
        await file?.close().catch(() => {});
        active.release(key);
        target.dir.close();
        throw err;
      }
    },

    async partialStatus(request, signal) {
      checkStageRequest(request);
      const target = openTarget(request.path);
      try {
        const temp = partialOf(request, target);
        const none = { length: 0, digest: createHasher(request.algorithm).digest() };
        if (active.has(`${target.dirId}/${temp}`)) throw receiving(request);
        let file: BeneathFile;
        try {
          file = target.dir.openFile(temp);
        } catch (err) {
          if (err instanceof FerryError && err.code === "NOT_FOUND") return none;
          throw err;
        }
        try {
          const { length, hasher } = await hashPrefix(file, {
            signal,
            algorithm: request.algorithm,
          });
          return { length, digest: hasher.digest() };
        } finally {
          await file.close();
        }
      } finally {
        target.dir.close();
      }
    },

    isActive(dirId, name) {
      return active.has(`${dirId}/${name}`);
    },
  };
}

/** BAD_ARGUMENT for a resume at `offset` when nothing of the upload is kept. */
function nothingKept(request: ResumeRequest): FerryError {
  return new FerryError(
    "BAD_ARGUMENT",
    `the server holds 0 bytes of this upload, not ${request.offset}`,
  );
}

/** The write buffer of an upload with `received` bytes so far (small for small files). */
function bufferSize(request: StageRequest, received: number): number {
  return request.size === UNKNOWN_SIZE ? UPLOAD_BUFFER_SIZE : request.size - received;
}
