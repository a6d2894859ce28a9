/**
 * What the two local storages' uploads share (`local_staging.ts` by path, `race_free_staging.ts`
 * by descriptor): the names of temporaries, the checks of a request before anything is
 * created, the check of what arrived against the EOF, and the lock that makes the commits to
 * one name happen one after the other.
 *
 * Concurrent uploads to one name each write their own temporary: a resumable upload takes the
 * name keyed on its user, target, size and time (`.ferry-<key>.partial`) only when no upload
 * of this storage holds that key, and the key is reserved synchronously, before the first
 * `await`, so two uploads can never both take it; the others write a random `.ferry-<hex>.part`
 * and are not resumable. Commits to one target then run one at a time, each replacing the
 * file whole: the last to commit is what the name holds, and the size it replaced is exact.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { equalBytes, UNKNOWN_SIZE } from "../../protocol/bytes.ts";
import { FerryError } from "../../protocol/errors.ts";
import type { HashAlgorithm, Hasher } from "../../common/hash_file.ts";
import { TEMP_PREFIX } from "./paths.ts";
import { quoteName } from "../../common/names.ts";
import type { ExpectedContent, StageRequest } from "./storage.ts";

/**
 * Each of an upload's two write buffers, at most: the server holds up to two of them for each
 * upload in flight (100 concurrent uploads: 50 MiB, where 1 MiB buffers made it 200 MiB). Four
 * data frames; disk writes of this size cost no more per byte than 1 MiB ones. Both storages'
 * staging use it.
 */
export const UPLOAD_BUFFER_SIZE = 256 * 1024;

/** Suffix of a resumable upload's temporary file. */
export const PARTIAL_SUFFIX = ".partial";
/** Suffix of a non-resumable upload's temporary file (size unknown, or its partial is busy). */
export const PART_SUFFIX = ".part";

/**
 * Largest modification time a file can be given, in ms either side of the epoch: the range of
 * a JavaScript `Date` (±8.64e15 ms, about 275,000 years). The wire's u64 cannot carry negative
 * times, so an UPLOAD's mtime must be 0 to this.
 */
export const MAX_MTIME_MS = 8.64e15;

/** How each algorithm is named in messages. */
const ALGORITHM_NAMES: Readonly<Record<HashAlgorithm, string>> = {
  sha256: "SHA-256",
  xxh128: "XXH3-128",
};

/**
 * The name of the resumable temporary of an upload (in the target's directory): a key over
 * `parts` (the user, the target and the upload's size and time).
 */
export function partialName(parts: readonly (string | number | null)[]): string {
  const key = createHash("sha256").update(parts.map((p) => p ?? "").join("\0"))
    .digest("hex").slice(0, 32);
  return `${TEMP_PREFIX}${key}${PARTIAL_SUFFIX}`;
}

/** A fresh random name for a non-resumable temporary. */
export function randomPartName(): string {
  return `${TEMP_PREFIX}${crypto.getRandomValues(new Uint8Array(12)).toHex()}${PART_SUFFIX}`;
}

/**
 * Checks the fields of an upload request that no storage can honour.
 *
 * @throws {FerryError} `BAD_ARGUMENT` for a modification time outside 0..{@linkcode MAX_MTIME_MS}
 * (it would be stored as 1970 or fail late) or a size that is not a count.
 */
export function checkStageRequest(request: StageRequest): void {
  const { mtime, size } = request;
  if (mtime !== null && !(Number.isSafeInteger(mtime) && mtime >= 0 && mtime <= MAX_MTIME_MS)) {
    throw new FerryError(
      "BAD_ARGUMENT",
      `modification time ${mtime} ms is outside the representable range 0..${MAX_MTIME_MS}`,
    );
  }
  if (size !== UNKNOWN_SIZE && !(Number.isSafeInteger(size) && size >= 0)) {
    throw new FerryError("BAD_ARGUMENT", `size ${size} is not a byte count`);
  }
}

/**
 * Checks what arrived against the EOF: `length` bytes whose hash is in `hasher` (not consumed).
 *
 * @throws {FerryError} `CHECKSUM_MISMATCH` when the size or the digest differ.
 */
export function checkReceived(
  expected: ExpectedContent,
  length: number,
  hasher: Hasher,
): void {
  if (expected.size !== length) {
    throw new FerryError("CHECKSUM_MISMATCH", `EOF says ${expected.size} bytes, ${length} arrived`);
  }
  if (!equalBytes(hasher.copy().digest(), expected.digest)) {
    throw new FerryError(
      "CHECKSUM_MISMATCH",
      `${
        ALGORITHM_NAMES[hasher.algorithm]
      } of the received bytes does not match the client's; the upload was discarded`,
    );
  }
}

/** Runs work for one key at a time, in the order it was asked for. */
export interface KeyedLock {
  /** Runs `work` once every earlier `run` for `key` has ended; resolves or rejects as it does. */
  run<T>(key: string, work: () => Promise<T>): Promise<T>;
  /** Keys with work running or waiting (for tests). */
  readonly size: number;
}

/**
 * A {@linkcode KeyedLock}: per key, a chain of promises; the chain is dropped once it drains,
 * so the map holds only keys in use.
 *
 * @example Usage
 * ```ts
 * import { createKeyedLock } from "./staging.ts";
 * const lock = createKeyedLock();
 * const order: number[] = [];
 * await Promise.all([1, 2].map((n) => lock.run("a", async () => void order.push(n))));
 * order; // => [1, 2]
 * ```
 */
export function createKeyedLock(): KeyedLock {
  const tails = new Map<string, Promise<unknown>>();
  return {
    run(key, work) {
      const before = tails.get(key) ?? Promise.resolve();
      const result = before.catch(() => {}).then(work);
      const tail = result.catch(() => {});
      tails.set(key, tail);
      tail.then(() => {
        if (tails.get(key) === tail) tails.delete(key);
      });
      return result;
    },
    get size() {
      return tails.size;
    },
  };
}

/**
 * The temporaries being written, by key: a resumable temporary is never written by two uploads
 * at once, and the cleanup spares them. One server's isolates share one
 * (`server/workers/shared_state.ts`); a single isolate uses {@linkcode createTempRegistry}.
 */
export interface TempRegistry {
  /** Marks `key` as being written; false when it already is (or no more can be tracked). */
  claim(key: string): boolean;
  /** `key` is no longer being written. */
  release(key: string): void;
  /** True while `key` is being written. */
  has(key: string): boolean;
}

/** A {@linkcode TempRegistry} of one isolate, over a `Set`. */
export function createTempRegistry(): TempRegistry {
  const keys = new Set<string>();
  return {
    claim(key) {
      if (keys.has(key)) return false;
      keys.add(key);
      return true;
    },
    release: (key) => void keys.delete(key),
    has: (key) => keys.has(key),
  };
}

/**
 * What the uploads of every storage over one root must share, when several isolates serve it:
 * the temporaries being written and the lock that orders commits to one name.
 */
export interface StagingShared {
  /** Temporaries being written. */
  readonly temps: TempRegistry;
  /** Commits to one target, one at a time. */
  readonly commits: KeyedLock;
}

/** Claims the random temporary `key`, which nobody else can hold. */
export function claimFresh(temps: TempRegistry, key: string): void {
  if (!temps.claim(key)) throw tooManyUploads();
}

/**
 * Claims the kept temporary `key` of `request`'s upload for a resume: `BUSY` because another
 * upload is receiving it, or because no more temporaries can be tracked (a full shared table).
 */
export function claimKept(temps: TempRegistry, key: string, request: { path: string }): void {
  if (temps.has(key)) throw receiving(request);
  if (!temps.claim(key)) throw tooManyUploads();
}

function tooManyUploads(): FerryError {
  return new FerryError("BUSY", "too many uploads at once; try again later");
}

/**
 * The error for a kept upload that another upload is receiving right now: UPLOAD_STATUS and
 * UPLOAD_RESUME of it are `BUSY` until that upload stops (PROTOCOL.md §4.5a).
 */
export function receiving(request: { path: string }): FerryError {
  return new FerryError(
    "BUSY",
    `an upload of ${quoteName(request.path)} is being received; try again once it has stopped`,
  );
}
