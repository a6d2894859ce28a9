/**
 * One upload into the bucket, as a `StagedUpload`: bytes are gathered in a part buffer and
 * hashed as they arrive. A file that fits one part is stored by a single PUT at its commit (the
 * store checks the body's SHA-256 too); a larger one goes up part by part into a multipart upload
 * (the next part fills while the last one is sent: two buffers at most, which the client sends
 * without copying), which is completed only after the client's size and SHA-256 matched. Until then no reader sees anything of it: the old
 * version, if any, stays whole.
 *
 * The checksum is kept in the object's metadata (`ferry-sha256`), so HASH of a whole file needs no
 * read. A single PUT carries it; a multipart upload gets it by a copy of the completed object onto
 * itself, pinned to the ETag the parts make, so it never lands on another writer's version.
 *
 * A *resumable* upload (known size) also keeps a checkpoint (`upload_checkpoint.ts`) after each
 * part: the parts and the hash state after them. When the connection ends, the bytes after the
 * last part are stored in a tail object and the checkpoint names it; any server of the bucket
 * can then report and continue the upload. If another server claims the checkpoint meanwhile
 * (compare-and-swap), this upload goes on without one: it still completes, it is just no longer
 * resumable.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { equalBytes } from "../../../protocol/bytes.ts";
import { FerryError } from "../../../protocol/errors.ts";
import { quoteName } from "../../../common/names.ts";
import { createHasher, type Hasher } from "../../../common/hash_file.ts";
import type { ExpectedContent, StagedUpload } from "../storage.ts";
import type { KeyedLock } from "../staging.ts";
import type { S3Client } from "./client.ts";
import { copyWhole } from "./copy.ts";
import { deleteObject } from "./delete_object.ts";
import { headObject } from "./head_object.ts";
import type { ObjectMetadata } from "./metadata.ts";
import {
  abortMultipartUpload,
  completeMultipartUpload,
  createMultipartUpload,
  MAX_PARTS,
  uploadPart,
} from "./multipart.ts";
import { putObject } from "./put_object.ts";
import { ResumableSha256 } from "./resumable_sha256.ts";
import {
  type CheckpointPart,
  type CheckpointTail,
  loadCheckpoint,
  saveCheckpoint,
  type UploadCheckpoint,
} from "./upload_checkpoint.ts";
import { META } from "./layout.ts";
import { isMissing, storeError } from "./store_errors.ts";

/** The first buffer of an upload of unknown size; it doubles up to a part as the bytes come. */
const FIRST_BUFFER = 64 * 1024;

/** The uploads of one storage, as the uploads see them. */
export interface UploadHost {
  /** The bucket. */
  readonly client: S3Client;
  /** Names the upload's tail objects. */
  tailKey(checkpointKey: string): string;
  /** Marks a checkpoint key or upload id as in use here (the cleanup spares it). */
  hold(id: string): void;
  /** Ends {@linkcode hold}. */
  release(id: string): void;
  /** True while an upload of this storage holds `id`. */
  isActive(id: string): boolean;
  /**
   * Runs the commits to one object key one at a time, so that each learns exactly the size it
   * replaced (as the local storages' commits do; across servers the store's last write wins).
   */
  readonly commits: KeyedLock;
}

/** The checkpoint an upload keeps, and whether it still owns it. */
export interface CheckpointState {
  /** Its key. */
  readonly key: string;
  /** The ETag of the last write, for the next compare-and-swap; undefined before the first. */
  etag: string | undefined;
  /** False once another writer replaced it (or a write's outcome is unknown). */
  owned: boolean;
  /** The tail it names, if any. */
  tail: CheckpointTail | undefined;
}

/** Where an upload starts. */
export interface UploadStart {
  /** The client's path (for messages). */
  readonly path: string;
  /** The object key. */
  readonly key: string;
  /** The declared size, or `UNKNOWN_SIZE` (-1). */
  readonly size: number;
  /** The modification time to keep, or null. */
  readonly mtime: number | null;
  /** Size of the object it replaces, at staging. */
  readonly replacing: number;
  /** Bytes per part. */
  readonly partSize: number;
  /** The checkpoint of a resumable upload; undefined for one that is not. */
  readonly checkpoint?: CheckpointState;
  /** Kept parts (a resumed upload), consecutive from 1. */
  readonly parts?: readonly CheckpointPart[];
  /** Their multipart upload; undefined or `""` when there is none yet. */
  readonly uploadId?: string;
  /** Kept bytes after the parts (a resumed tail): buffered and hashed before any other. */
  readonly carried?: Uint8Array;
}

/** Returns the part size for an upload of `size` bytes: `base`, or more if 10,000 parts need it. */
export function partSizeFor(size: number, base: number): number {
  if (size < 0) return base;
  const MiB = 1024 * 1024;
  return Math.max(base, Math.ceil(size / MAX_PARTS / MiB) * MiB);
}

/** The ETag S3 gives an object made of `parts`: MD5 of their MD5s, then `-` and their count. */
export function multipartEtag(parts: readonly CheckpointPart[]): string {
  const md5 = createHash("md5");
  for (const p of parts) md5.update(Uint8Array.fromHex(p.etag));
  return `${md5.digest("hex")}-${parts.length}`;
}

/** An upload into the bucket. */
export class S3Upload implements StagedUpload {
  /** True when {@linkcode interrupted} keeps the bytes for a later resume. */
  readonly resumable: boolean;
  /** Size of the object this upload replaces, when it was staged. */
  readonly replacing: number;
  readonly #host: UploadHost;
  readonly #start: UploadStart;
  readonly #hash: ResumableSha256 | Hasher;
  readonly #abort = new AbortController();
  readonly #checkpoint: CheckpointState | undefined;
  #length: number;
  #uploadId: string | undefined;
  #parts: CheckpointPart[];
  /** The hash state after exactly the bytes of `#parts` (resumable uploads). */
  #stateAfterParts: Uint8Array | undefined;
  #buffer: Uint8Array;
  #filled = 0;
  #spare: Uint8Array | undefined;
  #inflight: Promise<void> | undefined;
  #failure: unknown;
  #ended = false;
  #discarded = false;
  /** Checkpoint keys and upload ids this upload holds with its host. */
  readonly #held = new Set<string>();

  /** Starts an upload; `start.carried` bytes (a resumed tail) are hashed and buffered first. */
  constructor(host: UploadHost, start: UploadStart, hash: ResumableSha256 | Hasher) {
    this.#host = host;
    this.#start = start;
    this.#hash = hash;
    this.#checkpoint = start.checkpoint;
    this.resumable = start.checkpoint !== undefined;
    this.replacing = start.replacing;
    this.#parts = [...(start.parts ?? [])];
    this.#uploadId = start.uploadId || undefined;
    const kept = this.#parts.reduce((n, p) => n + p.size, 0);
    this.#length = kept;
    if (hash instanceof ResumableSha256) this.#stateAfterParts = hash.save();
    const first = start.size < 0 ? FIRST_BUFFER : Math.max(1, start.size - kept);
    this.#buffer = new Uint8Array(Math.min(start.partSize, first));
    if (start.checkpoint !== undefined) this.#hold(start.checkpoint.key);
    if (this.#uploadId !== undefined) this.#hold(this.#uploadId);
    if (start.carried !== undefined && start.carried.length > 0) this.#take(start.carried);
  }

  /** A hasher for an upload that is not resumable (node:crypto, the fast one). */
  static plainHash(): Hasher {
    return createHasher("sha256");
  }

  /** Bytes held so far: kept parts, a carried tail, and everything written. */
  get length(): number {
    return this.#length;
  }

  /** Appends bytes (copied into the part buffer before this resolves). */
  async write(data: Uint8Array): Promise<void> {
    this.#checkUsable();
    let at = 0;
    while (at < data.length) {
      if (this.#filled === this.#buffer.length) await this.#makeRoom();
      at += this.#take(data.subarray(at));
    }
  }

  /** Verifies size and SHA-256, then stores the object in one step (PUT or completion). */
  async commit(expected: ExpectedContent): Promise<{ replacedBytes: number }> {
    this.#checkUsable();
    try {
      await this.#settle();
      if (expected.size !== this.#length) {
        throw new FerryError(
          "CHECKSUM_MISMATCH",
          `EOF says ${expected.size} bytes, ${this.#length} arrived`,
        );
      }
      const digest = this.#hash instanceof ResumableSha256
        ? this.#hash.digestSoFar()
        : this.#hash.copy().digest();
      if (!equalBytes(digest, expected.digest)) {
        throw new FerryError(
          "CHECKSUM_MISMATCH",
          "SHA-256 of the received bytes does not match the client's; the upload was discarded",
        );
      }
      const sha256 = digest.toHex();
      const metadata: ObjectMetadata = { ...this.#mtimeMetadata(), [META.sha256]: sha256 };
      const replaced = await this.#host.commits.run(this.#start.key, async () => {
        const replaced = await this.#replacedSize();
        if (this.#uploadId === undefined && this.#parts.length === 0) {
          await putObject(
            this.#host.client,
            this.#start.key,
            this.#buffered(),
            {
              metadata,
              payloadSha256: sha256,
              signal: this.#abort.signal,
            },
          );
        } else {
          await this.#completeParts(metadata);
        }
        return replaced;
      });
      this.#ended = true;
      this.#dropBuffers();
      await this.#forgetCheckpoint();
      this.#releaseAll();
      return { replacedBytes: replaced };
    } catch (err) {
      throw storeError(err, this.#start.path);
    }
  }

  /** The connection ended: keeps what arrived when resumable, removes it otherwise. */
  async interrupted(): Promise<void> {
    const checkpoint = this.#checkpoint;
    if (checkpoint === undefined) return await this.discard();
    if (this.#ended) return;
    this.#ended = true;
    try {
      // After a failed part, the buffer does not follow the kept parts: keep the checkpoint as
      // it was (it never names bytes the store lacks).
      const failed = await this.#settle().then(() => false, () => true);
      if (!checkpoint.owned) return await this.#abandon();
      if (failed) return;
      const before = checkpoint.tail;
      let tail: CheckpointTail | undefined;
      if (this.#filled > 0) {
        const key = this.#host.tailKey(checkpoint.key);
        const { etag } = await putObject(
          this.#host.client,
          key,
          this.#buffered(),
        );
        tail = { key, etag, size: this.#filled };
      }
      const unchanged = checkpoint.etag !== undefined && tail === undefined &&
        before === undefined;
      if (!unchanged && (this.#parts.length > 0 || tail !== undefined)) {
        await this.#saveCheckpoint(tail);
      }
      if (!checkpoint.owned) {
        if (tail !== undefined) await this.#deleteQuietly(tail.key);
        return await this.#abandon();
      }
      if (before !== undefined && before.key !== checkpoint.tail?.key) {
        await this.#deleteQuietly(before.key);
      }
    } finally {
      this.#dropBuffers();
      this.#releaseAll();
    }
  }

  /** Removes the multipart upload, the checkpoint and its tail; safe to call twice. */
  async discard(): Promise<void> {
    if (this.#discarded) return;
    this.#discarded = true;
    this.#ended = true;
    this.#abort.abort(new FerryError("CANCELLED", "upload discarded"));
    try {
      await this.#settle().catch(() => {});
      this.#dropBuffers();
      await this.#forgetCheckpoint();
      await this.#abandon();
    } finally {
      this.#releaseAll();
    }
  }

  // --- bytes in ---------------------------------------------------------------------------

  /** Copies as much of `data` as fits into the buffer, hashing it; returns the count. */
  #take(data: Uint8Array): number {
    const n = Math.min(data.length, this.#buffer.length - this.#filled);
    const chunk = data.subarray(0, n);
    this.#buffer.set(chunk, this.#filled);
    this.#hash.update(chunk);
    this.#filled += n;
    this.#length += n;
    return n;
  }

  /** The buffer is full and more bytes come: grow it (unknown size) or send it as a part. */
  async #makeRoom(): Promise<void> {
    if (this.#buffer.length < this.#start.partSize) {
      const grown = new Uint8Array(Math.min(this.#start.partSize, this.#buffer.length * 2));
      grown.set(this.#buffer);
      this.#buffer = grown;
      return;
    }
    await this.#settle();
    this.#checkUsable(); // discarded meanwhile
    if (this.#parts.length + 1 >= MAX_PARTS) { // the last part comes at the commit
      throw new FerryError(
        "TOO_LARGE",
        `${
          quoteName(this.#start.path)
        }: more than ${MAX_PARTS} parts of ${this.#start.partSize} bytes`,
      );
    }
    const body = this.#buffer;
    const partNumber = this.#parts.length + 1;
    const state = this.#hash instanceof ResumableSha256 ? this.#hash.save() : undefined;
    this.#buffer = this.#spare ?? new Uint8Array(this.#start.partSize);
    this.#spare = undefined;
    this.#filled = 0;
    const sending = (async () => {
      const uploadId = await this.#multipartUpload();
      const { etag } = await uploadPart(
        this.#host.client,
        this.#start.key,
        uploadId,
        partNumber,
        body,
        {
          signal: this.#abort.signal,
        },
      );
      this.#parts.push({ partNumber, etag, size: body.length });
      this.#spare = body;
      if (state !== undefined && this.#checkpoint?.owned) {
        this.#stateAfterParts = state;
        const before = this.#checkpoint.tail;
        await this.#saveCheckpoint(undefined);
        if (before !== undefined && this.#checkpoint.owned) await this.#deleteQuietly(before.key);
      }
    })();
    this.#inflight = sending.catch((err) => {
      this.#failure ??= err;
    });
  }

  /**
   * Lets the part buffers go once the upload has ended: the connection may keep this object a
   * while longer, and under load the buffers of many ended uploads add up until it lets go.
   */
  #dropBuffers(): void {
    this.#buffer = new Uint8Array(0);
    this.#filled = 0;
    this.#spare = undefined;
  }

  /** The buffered bytes (a view: the buffer must not change until they are sent). */
  #buffered(): Uint8Array {
    return this.#buffer.subarray(0, this.#filled);
  }

  /** Waits for the part in flight; throws what it failed with. */
  async #settle(): Promise<void> {
    await this.#inflight;
    this.#inflight = undefined;
    if (this.#failure !== undefined) throw this.#failure;
  }

  #checkUsable(): void {
    if (this.#ended) throw new FerryError("INTERNAL", "the upload has ended");
    if (this.#failure !== undefined) throw storeError(this.#failure, this.#start.path);
  }

  // --- the store --------------------------------------------------------------------------

  #mtimeMetadata(): ObjectMetadata {
    return this.#start.mtime === null ? {} : { [META.mtime]: String(this.#start.mtime) };
  }

  /** The multipart upload, created on the first part. */
  async #multipartUpload(): Promise<string> {
    if (this.#uploadId !== undefined) return this.#uploadId;
    // Not aborted by a discard: its id must be known to be aborted in turn.
    const uploadId = await createMultipartUpload(this.#host.client, this.#start.key, {
      metadata: this.#mtimeMetadata(),
    });
    this.#hold(uploadId);
    if (this.#discarded) {
      await abortMultipartUpload(this.#host.client, this.#start.key, uploadId).catch(() => {});
      this.#releaseAll();
      throw new FerryError("CANCELLED", "upload discarded");
    }
    this.#uploadId = uploadId;
    return uploadId;
  }

  /** The size of the object this commit replaces (0 when there is none). */
  async #replacedSize(): Promise<number> {
    try {
      return (await headObject(this.#host.client, this.#start.key, {
        signal: this.#abort.signal,
      })).size;
    } catch (err) {
      if (isMissing(err)) return 0;
      throw err;
    }
  }

  /** Sends the last part, completes the upload, and puts the checksum in its metadata. */
  async #completeParts(metadata: ObjectMetadata): Promise<void> {
    const client = this.#host.client;
    const { key } = this.#start;
    const uploadId = await this.#multipartUpload();
    if (this.#filled > 0) {
      const partNumber = this.#parts.length + 1;
      const { etag } = await uploadPart(
        client,
        key,
        uploadId,
        partNumber,
        this.#buffered(),
        { signal: this.#abort.signal },
      );
      this.#parts.push({ partNumber, etag, size: this.#filled });
    }
    await completeMultipartUpload(client, key, uploadId, this.#parts, {
      signal: this.#abort.signal,
    });
    this.#uploadId = undefined;
    try {
      await copyWhole(client, key, key, {
        size: this.#length,
        ifSourceMatch: multipartEtag(this.#parts),
        metadata,
        signal: this.#abort.signal,
      });
    } catch (err) {
      // PreconditionFailed: another writer replaced the object since (its version stands, with
      // its own checksum). Otherwise the object is in place without a kept checksum, and a HASH
      // of it reads it: the upload succeeded all the same.
      if (this.#abort.signal.aborted) throw err;
    }
  }

  /** Writes the checkpoint (parts, hash state, `tail`); on any failure, gives up owning it. */
  async #saveCheckpoint(tail: CheckpointTail | undefined): Promise<void> {
    const checkpoint = this.#checkpoint;
    if (checkpoint === undefined || !checkpoint.owned || this.#stateAfterParts === undefined) {
      return;
    }
    const content = {
      key: this.#start.key,
      uploadId: this.#uploadId ?? "",
      size: this.#start.size,
      parts: [...this.#parts],
      hashState: this.#stateAfterParts,
      ...(tail === undefined ? {} : { tail }),
      claim: crypto.randomUUID(),
    };
    const client = this.#host.client;
    try {
      try {
        checkpoint.etag = await saveCheckpoint(client, checkpoint.key, content, checkpoint.etag);
      } catch (err) {
        if (checkpoint.etag !== undefined || !(err instanceof FerryError && err.code === "BUSY")) {
          throw err;
        }
        // A checkpoint of an earlier upload of the same file: this new upload replaces it.
        const previous = await loadCheckpoint(client, checkpoint.key).catch(() => undefined);
        checkpoint.etag = await saveCheckpoint(client, checkpoint.key, content, previous?.etag);
        if (previous !== undefined) await this.#dropReplaced(previous.checkpoint);
      }
      checkpoint.tail = tail;
    } catch {
      checkpoint.owned = false;
    }
  }

  /**
   * Removes what the kept upload this one replaced held: its tail, and its multipart upload
   * unless an upload of this storage uses it. (If another server was still receiving that
   * upload, it can no longer complete it: the newer upload of the same file wins, as the newer
   * partial file does on a disk.)
   */
  async #dropReplaced(replaced: UploadCheckpoint): Promise<void> {
    if (replaced.tail !== undefined) await this.#deleteQuietly(replaced.tail.key);
    const { uploadId } = replaced;
    if (uploadId !== "" && uploadId !== this.#uploadId && !this.#host.isActive(uploadId)) {
      await abortMultipartUpload(this.#host.client, replaced.key, uploadId).catch(() => {});
    }
  }

  /** After a commit or a discard: removes the checkpoint and its tail, if this upload owns them. */
  async #forgetCheckpoint(): Promise<void> {
    const checkpoint = this.#checkpoint;
    if (checkpoint === undefined || !checkpoint.owned) return;
    checkpoint.owned = false;
    if (checkpoint.etag === undefined) {
      // Never written: one that is there belongs to an earlier kept upload of the same file,
      // which this upload replaced (as a new upload truncates the partial file on a disk).
      const previous = await loadCheckpoint(this.#host.client, checkpoint.key)
        .catch(() => undefined);
      if (previous === undefined) return;
      await this.#dropReplaced(previous.checkpoint);
      await this.#deleteQuietly(checkpoint.key);
      return;
    }
    if (checkpoint.tail !== undefined) await this.#deleteQuietly(checkpoint.tail.key);
    await this.#deleteQuietly(checkpoint.key);
  }

  /**
   * Aborts this upload's multipart upload, unless the checkpoint another server now owns names
   * it (that server goes on with it).
   */
  async #abandon(): Promise<void> {
    const uploadId = this.#uploadId;
    if (uploadId === undefined) return;
    this.#uploadId = undefined;
    const checkpoint = this.#checkpoint;
    if (checkpoint !== undefined && !checkpoint.owned) {
      const current = await loadCheckpoint(this.#host.client, checkpoint.key).catch(() =>
        undefined
      );
      if (current?.checkpoint.uploadId === uploadId) return;
    }
    await abortMultipartUpload(this.#host.client, this.#start.key, uploadId).catch(() => {});
  }

  async #deleteQuietly(key: string): Promise<void> {
    await deleteObject(this.#host.client, key).catch(() => {});
  }

  #hold(id: string): void {
    this.#held.add(id);
    this.#host.hold(id);
  }

  #releaseAll(): void {
    for (const id of this.#held) this.#host.release(id);
    this.#held.clear();
  }
}
