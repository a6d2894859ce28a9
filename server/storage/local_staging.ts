/**
 * Uploads on the local disk. An upload is written to a temporary file in the target's directory
 * (hidden from listings by its {@linkcode TEMP_PREFIX}), hashed while it streams, and only after
 * the EOF's size and digest match is it fsynced and renamed over the final name, and the
 * directory fsynced (`common/atomic_file.ts`); until then the previous version is untouched. A
 * failed or cancelled upload removes its temporary file.
 *
 * An upload of known size is *resumable*: its temporary file has a name derived from the user,
 * target, size and modification time (`.ferry-<key>.partial`, {@linkcode partialPath}). If the
 * connection drops, or the server is killed, that file stays; its length and digest can be
 * asked for, and it can be continued after its kept prefix is re-hashed. Other uploads use a
 * random name (`.ferry-<random>.part`). Stale ones are removed by the cleanup
 * (`server/storage/local_walk.ts`). Concurrent uploads to one name never share a temporary,
 * and their commits run one at a time (`server/storage/staging.ts`).
 *
 * @module
 */

import { UNKNOWN_SIZE } from "../../protocol/bytes.ts";
import { FerryError } from "../../protocol/errors.ts";
import { quoteName } from "../../common/names.ts";
import {
  type AtomicFile,
  createAtomicFile,
  createDirectorySync,
  resumeAtomicFile,
} from "../../common/atomic_file.ts";
import { createHasher, hashPrefix } from "../../common/hash_file.ts";
import { fsError } from "./fs_errors.ts";
import { type ResolvedName, resolveParent } from "./paths.ts";
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

/**
 * The resumable temporary file of an upload of `size` bytes to `dir/name` by `user`, where
 * `dir` is the real path of the target's directory.
 */
export function partialPath(
  user: string,
  dir: string,
  name: string,
  size: number,
  mtime: number | null,
): string {
  return `${dir}/${partialName([user, dir, name, size, mtime])}`;
}

/** The uploads of one local storage. */
export interface LocalStaging {
  /** See `Storage.stage`. */
  stage(request: StageRequest): Promise<StagedUpload>;
  /** See `Storage.resume`. */
  resume(request: ResumeRequest): Promise<StagedUpload>;
  /** See `Storage.partialStatus`. */
  partialStatus(request: StageRequest, signal?: AbortSignal): Promise<PrefixDigest>;
  /** True while an upload writes the temporary file `absolute` (the cleanup leaves it alone). */
  isActive(absolute: string): boolean;
}

/** A target of an upload: where it goes, and the size of the file it replaces. */
interface Target extends ResolvedName {
  replacing: number;
}

/**
 * Creates the staging of uploads into `root`, an absolute, real path; `shared` when other
 * isolates serve the same root.
 */
export function createLocalStaging(root: string, shared?: StagingShared): LocalStaging {
  /**
   * Temporary files being written right now by this storage (by every isolate of the server):
   * a resumable partial is never opened twice, and the cleanup never removes one of these.
   */
  const active = shared?.temps ?? createTempRegistry();
  /** Directory fsyncs of commits, shared so that concurrent commits share them. */
  const directorySync = createDirectorySync();
  /** Commits to one target run one at a time: the last to commit is what the name holds. */
  const commits = shared?.commits ?? createKeyedLock();

  /** Locates the target's directory and checks what the target is now. */
  async function prepareTarget(path: string): Promise<Target> {
    const target = await resolveParent(root, path, "create");
    let replacing = 0;
    try {
      const existing = await Deno.lstat(target.absolute);
      if (existing.isDirectory) {
        throw new FerryError("IS_A_DIRECTORY", `${quoteName(path)} is a directory`);
      }
      if (existing.isFile) replacing = existing.size;
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw fsError(err, path);
    }
    return { ...target, replacing };
  }

  function partialOf(request: StageRequest, target: Target): string {
    return partialPath(request.user, target.dir, target.name, request.size, request.mtime);
  }

  /** Wraps an open temporary file as a staged upload; it is active until it ends. */
  function staged(
    file: AtomicFile,
    request: StageRequest,
    target: Target,
    resumable: boolean,
  ): StagedUpload {
    const { path, mtime } = request;
    const end = () => active.release(file.temp);
    const discard = async () => {
      await file.discard();
      end();
    };
    return {
      resumable,
      replacing: target.replacing,
      get length() {
        return file.length;
      },
      async write(data) {
        try {
          await file.write(data);
        } catch (err) {
          throw fsError(err, path);
        }
      },
      async commit(expected) {
        checkReceived(expected, file.length, file.hasher);
        try {
          const { replacedSize } = await commits.run(
            file.target,
            () => file.commit({ mtime: mtime === null ? null : new Date(mtime) }),
          );
          end();
          return { replacedBytes: replacedSize };
        } catch (err) {
          throw fsError(err, path);
        }
      },
      async interrupted() {
        if (!resumable) return await discard();
        await file.discard(true);
        end();
      },
      discard,
    };
  }

  /** The write buffer of an upload with `remaining` bytes to come (small for small files). */
  function bufferSize(request: StageRequest, received: number): number {
    return request.size === UNKNOWN_SIZE
      ? UPLOAD_BUFFER_SIZE
      : Math.max(1, Math.min(UPLOAD_BUFFER_SIZE, request.size - received));
  }

  /** Creates the temporary `temp`, reserved by the caller; the reservation ends on failure. */
  async function create(
    request: StageRequest,
    target: Target,
    temp: string,
    resumable: boolean,
  ): Promise<StagedUpload> {
    try {
      const file = await createAtomicFile({
        target: target.absolute,
        temp,
        mode: 0o644,
        bufferSize: bufferSize(request, 0),
        algorithm: request.algorithm,
        directorySync,
      });
      return staged(file, request, target, resumable);
    } catch (err) {
      active.release(temp);
      throw fsError(err, request.path);
    }
  }

  return {
    async stage(request) {
      checkStageRequest(request);
      const target = await prepareTarget(request.path);
      let temp = request.size === UNKNOWN_SIZE ? null : partialOf(request, target);
      // Claimed before any await: no other upload can take it.
      if (temp !== null && !active.claim(temp)) temp = null; // the same upload runs elsewhere
      const resumable = temp !== null;
      if (temp === null) {
        temp = `${target.dir}/${randomPartName()}`;
        claimFresh(active, temp);
      }
      return await create(request, target, temp, resumable);
    },

    async resume(request) {
      checkStageRequest(request);
      const target = await prepareTarget(request.path);
      if (request.offset > request.size) {
        throw new FerryError(
          "BAD_ARGUMENT",
          `offset ${request.offset} is past the size ${request.size}`,
        );
      }
      const temp = partialOf(request, target);
      claimKept(active, temp, request);
      const info = await Deno.lstat(temp).catch(() => null);
      if (info === null && request.offset === 0) {
        // Nothing kept and nothing asked to keep: a fresh resumable upload (§4.5a).
        return await create(request, target, temp, true);
      }
      if (!info?.isFile || info.size < request.offset) {
        active.release(temp);
        throw new FerryError(
          "BAD_ARGUMENT",
          `the server holds ${
            info?.isFile ? info.size : 0
          } bytes of this upload, not ${request.offset}`,
        );
      }
      try {
        const file = await resumeAtomicFile({
          target: target.absolute,
          temp,
          keep: request.offset,
          signal: request.signal,
          mode: 0o644,
          bufferSize: bufferSize(request, request.offset),
          algorithm: request.algorithm,
          directorySync,
        });
        return staged(file, request, target, true);
      } catch (err) {
        active.release(temp);
        throw fsError(err, request.path);
      }
    },

    async partialStatus(request, signal) {
      checkStageRequest(request);
      const target = await prepareTarget(request.path);
      const temp = partialOf(request, target);
      if (active.has(temp)) throw receiving(request);
      const info = await Deno.lstat(temp).catch(() => null);
      if (!info?.isFile) return { length: 0, digest: createHasher(request.algorithm).digest() };
      let file: Deno.FsFile;
      try {
        file = await Deno.open(temp, { read: true });
      } catch (err) {
        throw fsError(err, request.path);
      }
      try {
        const { length, hasher } = await hashPrefix(file, { signal, algorithm: request.algorithm });
        return { length, digest: hasher.digest() };
      } catch (err) {
        throw signal?.aborted ? err : fsError(err, request.path);
      } finally {
        file.close();
      }
    },

    isActive(absolute) {
      return active.has(absolute);
    },
  };
}
