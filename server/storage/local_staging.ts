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
 * (`server/storage/local_walk.ts`).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { equalBytes, UNKNOWN_SIZE } from "../../protocol/bytes.ts";
import { FerryError } from "../../protocol/errors.ts";
import { quoteName } from "../../common/names.ts";
import {
  type AtomicFile,
  createAtomicFile,
  createDirectorySync,
  resumeAtomicFile,
} from "../../common/atomic_file.ts";
import { createHasher, type HashAlgorithm, hashPrefix } from "../../common/hash_file.ts";
import { fsError } from "./fs_errors.ts";
import { type ResolvedName, resolveParent, TEMP_PREFIX } from "./paths.ts";
import type { PrefixDigest, ResumeRequest, StagedUpload, StageRequest } from "./storage.ts";

/**
 * Each of an upload's two write buffers, at most: the server holds up to two of them for each
 * upload in flight (100 concurrent uploads: 50 MiB, where 1 MiB buffers made it 200 MiB). Four
 * data frames; disk writes of this size cost no more per byte than 1 MiB ones.
 */
export const UPLOAD_BUFFER_SIZE = 256 * 1024;

/** Suffix of a resumable upload's temporary file. */
export const PARTIAL_SUFFIX = ".partial";
/** Suffix of a non-resumable upload's temporary file (size unknown, or its partial is busy). */
export const PART_SUFFIX = ".part";

/** How each algorithm is named in messages. */
const ALGORITHM_NAMES: Readonly<Record<HashAlgorithm, string>> = { sha256: "SHA-256" };

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
  const key = createHash("sha256").update(`${user}\0${dir}\0${name}\0${size}\0${mtime ?? ""}`)
    .digest("hex").slice(0, 32);
  return `${dir}/${TEMP_PREFIX}${key}${PARTIAL_SUFFIX}`;
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

/** Creates the staging of uploads into `root`, an absolute, real path. */
export function createLocalStaging(root: string): LocalStaging {
  /**
   * Temporary files being written right now by this storage: a resumable partial is never
   * opened twice, and the cleanup never removes one of these.
   */
  const active = new Set<string>();
  /** Directory fsyncs of commits, shared so that concurrent commits share them. */
  const directorySync = createDirectorySync();

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
    active.add(file.temp);
    const { path, mtime } = request;
    const algorithm = request.algorithm ?? "sha256";
    const end = () => active.delete(file.temp);
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
        if (expected.size !== file.length) {
          throw new FerryError(
            "CHECKSUM_MISMATCH",
            `EOF says ${expected.size} bytes, ${file.length} arrived`,
          );
        }
        try {
          await file.flush();
          if (!equalBytes(file.hasher.copy().digest(), expected.digest)) {
            throw new FerryError(
              "CHECKSUM_MISMATCH",
              `${
                ALGORITHM_NAMES[algorithm]
              } of the received bytes does not match the client's; the upload was discarded`,
            );
          }
          const { replacedSize } = await file.commit({
            mtime: mtime === null ? null : new Date(mtime),
          });
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

  return {
    async stage(request) {
      const target = await prepareTarget(request.path);
      let temp = request.size === UNKNOWN_SIZE ? null : partialOf(request, target);
      if (temp !== null && active.has(temp)) temp = null; // the same upload runs elsewhere
      const resumable = temp !== null;
      temp ??= `${target.dir}/${TEMP_PREFIX}${randomSuffix()}${PART_SUFFIX}`;
      let file: AtomicFile;
      try {
        file = await createAtomicFile({
          target: target.absolute,
          temp,
          mode: 0o644,
          bufferSize: bufferSize(request, 0),
          algorithm: request.algorithm,
          directorySync,
        });
      } catch (err) {
        throw fsError(err, request.path);
      }
      return staged(file, request, target, resumable);
    },

    async resume(request) {
      const target = await prepareTarget(request.path);
      if (request.offset > request.size) {
        throw new FerryError(
          "BAD_ARGUMENT",
          `offset ${request.offset} is past the size ${request.size}`,
        );
      }
      const temp = partialOf(request, target);
      if (active.has(temp)) {
        throw new FerryError("BUSY", `an upload of ${quoteName(request.path)} is running`);
      }
      const info = await Deno.lstat(temp).catch(() => null);
      if (!info?.isFile || info.size < request.offset) {
        throw new FerryError(
          "BAD_ARGUMENT",
          `the server holds ${
            info?.isFile ? info.size : 0
          } bytes of this upload, not ${request.offset}`,
        );
      }
      let file: AtomicFile;
      try {
        file = await resumeAtomicFile({
          target: target.absolute,
          temp,
          keep: request.offset,
          signal: request.signal,
          mode: 0o644,
          bufferSize: bufferSize(request, request.offset),
          algorithm: request.algorithm,
          directorySync,
        });
      } catch (err) {
        throw fsError(err, request.path);
      }
      return staged(file, request, target, true);
    },

    async partialStatus(request, signal) {
      const target = await prepareTarget(request.path);
      const temp = partialOf(request, target);
      const info = active.has(temp) ? null : await Deno.lstat(temp).catch(() => null);
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

function randomSuffix(): string {
  return crypto.getRandomValues(new Uint8Array(12)).toHex();
}
