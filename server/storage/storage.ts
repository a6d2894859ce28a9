/**
 * The storage layer: everything the server does with the files it serves goes through one
 * {@linkcode Storage}. Handlers speak protocol; a storage speaks files.
 *
 * The interface is shaped so that very different back ends fit it without change:
 * - the portable local disk (`server/storage/local.ts`), which resolves paths with
 *   `server/storage/paths.ts`;
 * - the race-free local disk (`server/storage/race_free.ts`, Linux 5.6+ with `--allow-ffi`),
 *   which opens every component relative to a directory descriptor (`openat2` with
 *   `RESOLVE_BENEATH`, `renameat2`, `unlinkat`) and has no absolute paths to give out;
 *   `server/storage/open.ts` chooses between the two at start-up;
 * - an object store (S3), where a listing is pages of a prefix and a delimiter, a read is a
 *   range GET, an upload is a single PUT or a multipart upload completed only once its hash
 *   matched, a rename is a copy and a delete, and directories do not really exist.
 *
 * Hence its rules:
 * - Every operation takes a client path as the client sent it, and validates it itself (the
 *   rules of `parsePath` in `server/storage/paths.ts` are the contract). Nothing handed back
 *   holds a server path or an open file: a reader reads bytes into the caller's buffer, a
 *   staged upload takes bytes.
 * - Errors are `FerryError`s with the codes of `protocol/errors.ts`; their messages
 *   quote the client's path (`quoteName`) and never contain a server path.
 * - Byte counts and offsets are plain numbers; sizes the client did not declare are
 *   `UNKNOWN_SIZE` (-1), as on the wire.
 * - Quota is not the storage's business: operations report the bytes they add or free, and
 *   the server's quota object does the accounting.
 *
 * @module
 */

import type { Entry } from "../../protocol/messages/mod.ts";
import type { HashAlgorithm } from "../../common/hash_file.ts";

export type { Entry };
export type { HashAlgorithm };

/** What a listing found. */
export interface Listing {
  /** The path itself, named by its last component (`.` for the root). */
  entry: Entry;
  /**
   * For a directory, its entries in no particular order, read as they are consumed (a huge
   * directory is never held in memory); the server's temporary files are left out, and names
   * are in their listed form (`server/storage/listed_names.ts`: bytes that are not UTF-8 as
   * `\xNN`, backslashes doubled). `null` for anything else. Iterating throws the signal's
   * reason once it is aborted.
   */
  entries: AsyncIterable<Entry> | null;
}

/** Options for {@linkcode Storage.list}. */
export interface ListingOptions {
  /** Only names and kinds are needed (default false: sizes and times too). */
  namesOnly?: boolean;
}

/** An open file, read from a byte offset on. */
export interface FileReader {
  /** The file's size in bytes when it was opened. */
  readonly size: number;
  /** Its modification time in ms since the epoch, or `null` when unknown. */
  readonly mtime: number | null;
  /**
   * Reads the next bytes into `into`, filling it unless the file ends first (so a reader can
   * read file data straight into a frame buffer); resolves to the count, 0 at the end.
   */
  read(into: Uint8Array): Promise<number>;
  /** Releases the file; safe to call twice. */
  close(): void;
}

/** A hash over the first bytes of a file. */
export interface PrefixDigest {
  /** Bytes hashed. */
  length: number;
  /** Their digest. */
  digest: Uint8Array;
}

/** Options for {@linkcode Storage.hash}. */
export interface HashOptions {
  /** Bytes to hash from the start; `UNKNOWN_SIZE` (-1) for the whole file. */
  length: number;
  /** Hash algorithm (default SHA-256). */
  algorithm?: HashAlgorithm;
  /** Stops the work; the call then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * An upload about to be staged. Uploads of a known size are resumable: the same user, path,
 * size and modification time find the same kept bytes again.
 */
export interface StageRequest {
  /** The user uploading; a kept upload belongs to one user. */
  user: string;
  /** Target path, as the client sent it. */
  path: string;
  /** Declared size in bytes, or `UNKNOWN_SIZE` (-1). */
  size: number;
  /** Modification time to give the file, in ms since the epoch, or `null` for "now". */
  mtime: number | null;
  /** Hash the upload is checked with at commit (default SHA-256). */
  algorithm?: HashAlgorithm;
}

/** A kept upload to continue. */
export interface ResumeRequest extends StageRequest {
  /** Bytes of the kept upload to keep; the client sends the rest. */
  offset: number;
  /** Stops the re-hash of the kept bytes. */
  signal?: AbortSignal;
}

/** What the client expects a staged upload to hold, from its EOF. */
export interface ExpectedContent {
  /** Byte count. */
  size: number;
  /** Digest in the staged upload's algorithm. */
  digest: Uint8Array;
}

/**
 * An upload being received: it owns its temporary (a file, a multipart upload), its hash and
 * its buffers. Exactly one of {@linkcode commit}, {@linkcode interrupted} and
 * {@linkcode discard} ends it (`discard` may follow a failed `commit`).
 */
export interface StagedUpload {
  /** True when {@linkcode interrupted} keeps the bytes for a later resume. */
  readonly resumable: boolean;
  /** Size of the file this upload replaces, when it was staged (0 for a new file). */
  readonly replacing: number;
  /** Bytes held so far: a kept prefix plus everything written. */
  readonly length: number;
  /** Appends bytes (copied before this resolves; written to the temporary in large writes). */
  write(data: Uint8Array): Promise<void>;
  /**
   * Verifies that exactly `expected.size` bytes with `expected.digest` arrived, makes them
   * durable and puts them in place of the target, atomically: before it resolves, readers see
   * the old version, after it the new one.
   *
   * @returns The size of the file replaced (0 when the target was new).
   * @throws {FerryError} `CHECKSUM_MISMATCH` when size or digest differ (nothing is replaced;
   * the temporary is still there for {@linkcode discard}); storage errors as elsewhere.
   */
  commit(expected: ExpectedContent): Promise<{ replacedBytes: number }>;
  /** The connection ended: keeps what arrived when resumable, removes it otherwise. */
  interrupted(): Promise<void>;
  /** Removes the temporary; safe to call twice. */
  discard(): Promise<void>;
}

/** Options for {@linkcode Storage.cleanup}. */
export interface CleanupOptions {
  /** Kept uploads untouched for longer than this are removed, in ms. */
  ttlMs: number;
  /** The current time, in ms since the epoch (default `Date.now()`). */
  now?: number;
  /** Stops the walk early. */
  signal?: AbortSignal;
}

/** What a cleanup pass removed. */
export interface CleanupResult {
  /** Temporaries removed, as paths relative to the root. */
  removed: string[];
  /** Directories visited. */
  directories: number;
}

/**
 * The files one server serves. Every method takes client paths (validated inside) and rejects
 * with a `FerryError` whose message names only client paths.
 */
export interface Storage {
  /**
   * The hash algorithms {@linkcode Storage.hash}, {@linkcode Storage.stage},
   * {@linkcode Storage.resume} and {@linkcode Storage.partialStatus} take, most preferred
   * first; SHA-256 alone when absent. The server offers clients only these.
   */
  readonly checksums?: readonly HashAlgorithm[];
  /** Describes a path (symlinks inside the root followed), named by its last component. */
  stat(path: string): Promise<Entry>;
  /**
   * Describes a path and, when it is a directory, streams its entries. With
   * `options.namesOnly` the entries need only their names and kinds: a storage may then give
   * any entry size 0 and an unknown time instead of looking them up (a directory's entries
   * then cost no stat each); the path's own entry is always complete.
   */
  list(path: string, signal: AbortSignal, options?: ListingOptions): Promise<Listing>;
  /**
   * Opens a regular file for reading from `offset` on. `signal` aborts the opening and, for
   * back ends whose reads are requests, the reads in flight (a reader's caller still checks
   * it between reads).
   *
   * @throws {FerryError} `IS_A_DIRECTORY`, or `BAD_ARGUMENT` for anything that is not a
   * regular file (a FIFO is refused before it is opened) or an offset past the end.
   */
  openRead(path: string, offset: number, signal?: AbortSignal): Promise<FileReader>;
  /** Hashes the first bytes of a regular file; fewer than asked when the file is shorter. */
  hash(path: string, options: HashOptions): Promise<PrefixDigest>;
  /**
   * Removes a file, a symlink (never its target) or an empty directory.
   *
   * @returns The bytes freed: the size of a regular file, 0 otherwise.
   */
  remove(path: string): Promise<{ freedBytes: number }>;
  /** Creates a directory, or with `parents` every missing one on the way (`mkdir -p`). */
  mkdir(path: string, options: { parents: boolean }): Promise<void>;
  /**
   * Moves a file, symlink or directory. An existing target is replaced only with `replace`,
   * and never when it is a directory.
   */
  rename(from: string, to: string, options: { replace: boolean }): Promise<void>;
  /**
   * Starts an upload into a temporary beside `path`. It is resumable when its size is known
   * and no other upload of the same user, path, size and time is being received. Uploads to
   * one name may run at once: none fails because of another, and the name ends up holding the
   * one whose commit came last, whole.
   *
   * @throws {FerryError} `IS_A_DIRECTORY` when the target is a directory; `BAD_ARGUMENT` for a
   * modification time outside 0..8.64e15 ms; path errors.
   */
  stage(request: StageRequest): Promise<StagedUpload>;
  /**
   * Continues a kept upload after its first `offset` bytes (re-hashed, so its digest goes on).
   * With `offset` 0 and nothing kept, it starts a fresh resumable upload.
   *
   * @throws {FerryError} `BAD_ARGUMENT` when `offset` is past the size or past what is kept;
   * `BUSY` while that upload is being received.
   */
  resume(request: ResumeRequest): Promise<StagedUpload>;
  /** Length and digest of the kept upload for `request`; length 0 when none is kept. */
  partialStatus(request: StageRequest, signal?: AbortSignal): Promise<PrefixDigest>;
  /** Bytes held by the files below the root (for the quota at start-up). */
  usage(signal?: AbortSignal): Promise<number>;
  /**
   * Removes stale temporaries: those no upload of this storage is writing that are not
   * resumable (left by a crash), and resumable ones untouched for longer than `ttlMs`.
   */
  cleanup(options: CleanupOptions): Promise<CleanupResult>;
}
