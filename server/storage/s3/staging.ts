/**
 * Uploads into the bucket: `stage`, `resume` and `partialStatus` of the S3 storage. The bytes
 * and their life are {@linkcode S3Upload}'s; this file finds the target, decides whether an
 * upload is resumable, and reads what a kept upload holds.
 *
 * A kept upload is found by its checkpoint key, made from the user, the object key, the size and
 * the modification time (as the local storage names its partial file), so any server of the
 * bucket finds it. What it holds is what its checkpoint says, once checked against the store:
 * the parts (ListParts, ETags and sizes), then the tail (read with its ETag pinned). It can go on
 * from all of it, from inside its tail, or from 0; not from inside its parts, whose bytes the
 * store cannot give back before the upload completes (`BAD_ARGUMENT`, see PROTOCOL.md).
 *
 * @module
 */

import { UNKNOWN_SIZE } from "../../../protocol/bytes.ts";
import { FerryError } from "../../../protocol/errors.ts";
import { quoteName } from "../../../common/names.ts";
import { createHasher } from "../../../common/hash_file.ts";
import type { PrefixDigest, ResumeRequest, StagedUpload, StageRequest } from "../storage.ts";
import { checkStageRequest, createKeyedLock, receiving } from "../staging.ts";
import { deleteObject } from "./delete_object.ts";
import { getObject } from "./get_object.ts";
import { abortMultipartUpload } from "./multipart.ts";
import { ResumableSha256 } from "./resumable_sha256.ts";
import {
  keptBytes,
  loadCheckpoint,
  saveCheckpoint,
  type StoredCheckpoint,
  verifyCheckpoint,
} from "./upload_checkpoint.ts";
import type { Located } from "./layout.ts";
import type { Namespace } from "./namespace.ts";
import { isMissing, storeError } from "./store_errors.ts";
import { partSizeFor, S3Upload, type UploadHost, type UploadStart } from "./upload.ts";

/** The part size of uploads unless set otherwise: 8 MiB (S3 wants 5 MiB at least). */
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;

/** What a kept upload holds, checked against the store. */
interface Kept {
  /** Its checkpoint, as read. */
  readonly stored: StoredCheckpoint;
  /** Bytes in its parts. */
  readonly partBytes: number;
  /** The hash after its parts. */
  readonly hash: ResumableSha256;
  /** The bytes of its tail (empty when it has none, or the tail is not the one named). */
  readonly tail: Uint8Array;
}

/** A target, checked: where it is and what it replaces. */
interface Target {
  readonly at: Located;
  readonly replacing: number;
}

/** The uploads of one S3 storage. */
export class S3Staging {
  readonly #ns: Namespace;
  readonly #partSize: number;
  /** Checkpoint keys and upload ids in use by uploads of this storage (the cleanup spares them). */
  readonly #active = new Set<string>();
  readonly #host: UploadHost;

  /** Uploads through `ns`, in parts of `partSize` bytes (default {@linkcode DEFAULT_PART_SIZE}). */
  constructor(ns: Namespace, partSize = DEFAULT_PART_SIZE) {
    this.#ns = ns;
    this.#partSize = partSize;
    const active = this.#active;
    this.#host = {
      client: ns.client,
      tailKey: (checkpointKey) => ns.layout.tailKey(checkpointKey),
      hold: (id) => active.add(id),
      release: (id) => active.delete(id),
      isActive: (id) => active.has(id),
      commits: createKeyedLock(),
    };
  }

  /** True while an upload here uses this checkpoint key or multipart upload id. */
  isActive(id: string): boolean {
    return this.#active.has(id);
  }

  /** See `Storage.stage`. */
  async stage(request: StageRequest): Promise<StagedUpload> {
    checkStageRequest(request);
    const target = await this.#prepare(request.path);
    const checkpointKey = request.size === UNKNOWN_SIZE
      ? undefined
      : this.#checkpointKey(request, target);
    const start = this.#start(request, target);
    if (checkpointKey === undefined || this.#active.has(checkpointKey)) {
      return new S3Upload(this.#host, start, S3Upload.plainHash());
    }
    // taken before the next await, so that of uploads staged at once only one is resumable
    this.#active.add(checkpointKey);
    try {
      return this.#fresh(start, checkpointKey, undefined, await ResumableSha256.create());
    } catch (err) {
      this.#active.delete(checkpointKey);
      throw err;
    }
  }

  /** See `Storage.resume`. */
  async resume(request: ResumeRequest): Promise<StagedUpload> {
    checkStageRequest(request);
    const target = await this.#prepare(request.path);
    if (request.offset > request.size) {
      throw new FerryError(
        "BAD_ARGUMENT",
        `offset ${request.offset} is past the size ${request.size}`,
      );
    }
    const checkpointKey = this.#checkpointKey(request, target);
    if (this.#active.has(checkpointKey)) throw receiving(request);
    this.#active.add(checkpointKey);
    try {
      const kept = await this.#inspect(checkpointKey, request.path, request.signal);
      if (kept === undefined && request.offset === 0) {
        // nothing kept: a fresh resumable upload, whose first checkpoint is created only if
        // no other server made one meanwhile
        const hash = await ResumableSha256.create();
        return this.#fresh(this.#start(request, target), checkpointKey, undefined, hash);
      }
      const held = kept === undefined ? 0 : kept.partBytes + kept.tail.length;
      if (kept === undefined || held < request.offset) {
        throw new FerryError(
          "BAD_ARGUMENT",
          `the server holds ${held} bytes of this upload, not ${request.offset}`,
        );
      }
      if (request.offset > 0 && request.offset < kept.partBytes) {
        throw new FerryError(
          "BAD_ARGUMENT",
          `the object store keeps this upload in parts: it can go on from ${held} bytes ` +
            `(or start over from 0), not from ${request.offset}`,
        );
      }
      // Claim the upload: another server that writes its checkpoint now gets BUSY.
      const { checkpoint } = kept.stored;
      let etag: string;
      try {
        etag = await saveCheckpoint(this.#ns.client, checkpointKey, {
          ...checkpoint,
          claim: crypto.randomUUID(),
        }, kept.stored.etag);
      } catch (err) {
        if (err instanceof FerryError && err.code === "BUSY") {
          throw new FerryError("BUSY", `an upload of ${quoteName(request.path)} is running`);
        }
        throw err;
      }
      const start = this.#start(request, target);
      if (request.offset === 0) {
        await this.#dropKept(kept);
        return this.#fresh(start, checkpointKey, etag, await ResumableSha256.create());
      }
      return new S3Upload(
        this.#host,
        {
          ...start,
          checkpoint: { key: checkpointKey, etag, owned: true, tail: checkpoint.tail },
          parts: checkpoint.parts,
          uploadId: checkpoint.uploadId,
          carried: kept.tail.subarray(0, request.offset - kept.partBytes),
        },
        kept.hash,
      );
    } catch (err) {
      this.#active.delete(checkpointKey); // (an upload, once made, holds it until it ends)
      throw storeError(err, request.path, request.signal);
    }
  }

  /** See `Storage.partialStatus`. */
  async partialStatus(request: StageRequest, signal?: AbortSignal): Promise<PrefixDigest> {
    const none = { length: 0, digest: createHasher(request.algorithm).digest() };
    if (request.size === UNKNOWN_SIZE) return none;
    const target = await this.#prepare(request.path);
    const checkpointKey = this.#checkpointKey(request, target);
    // Being received right now (on this server): BUSY, as on a disk (PROTOCOL.md §4.5a).
    if (this.#active.has(checkpointKey)) throw receiving(request);
    try {
      const kept = await this.#inspect(checkpointKey, request.path, signal);
      if (kept === undefined) return none;
      kept.hash.update(kept.tail);
      return { length: kept.partBytes + kept.tail.length, digest: kept.hash.digest() };
    } catch (err) {
      throw storeError(err, request.path, signal);
    }
  }

  // ---------------------------------------------------------------------------------------

  /** Checks the target: its parent is a directory, it is not one; and what it replaces. */
  async #prepare(path: string): Promise<Target> {
    const at = this.#ns.layout.locate(path, "create");
    if (at.components.length === 0) {
      throw new FerryError("BAD_NAME", `${quoteName(path)}: names the root itself`);
    }
    // three questions at once; the parent's verdict comes first
    const existing = this.#ns.head(at.key, path);
    const below = this.#ns.anyBelow(at.dirPrefix, path);
    existing.catch(() => {});
    below.catch(() => {});
    await this.#ns.requireParent(at);
    const info = await existing;
    if (info === undefined && await below) {
      throw new FerryError("IS_A_DIRECTORY", `${quoteName(path)} is a directory`);
    }
    return { at, replacing: info?.size ?? 0 };
  }

  /** A resumable upload from its first byte, keeping its checkpoint at `checkpointKey`. */
  #fresh(
    start: UploadStart,
    checkpointKey: string,
    etag: string | undefined,
    hash: ResumableSha256,
  ): S3Upload {
    return new S3Upload(
      this.#host,
      { ...start, checkpoint: { key: checkpointKey, etag, owned: true, tail: undefined } },
      hash,
    );
  }

  #checkpointKey(request: StageRequest, target: Target): string {
    return this.#ns.layout.checkpointKey(request.user, target.at.key, request.size, request.mtime);
  }

  #start(request: StageRequest, target: Target) {
    return {
      path: request.path,
      key: target.at.key,
      size: request.size,
      mtime: request.mtime,
      replacing: target.replacing,
      partSize: partSizeFor(request.size, this.#partSize),
    };
  }

  /**
   * Reads and checks the kept upload at `checkpointKey`: undefined when there is none or it
   * cannot go on (a part gone or changed, a state that does not load, a foreign checkpoint).
   */
  async #inspect(
    checkpointKey: string,
    path: string,
    signal?: AbortSignal,
  ): Promise<Kept | undefined> {
    signal?.throwIfAborted();
    let stored: StoredCheckpoint | undefined;
    try {
      stored = await loadCheckpoint(this.#ns.client, checkpointKey);
    } catch (err) {
      if (err instanceof FerryError && err.code === "BAD_ARGUMENT") return undefined;
      throw err;
    }
    if (stored === undefined) return undefined;
    const hash = await verifyCheckpoint(this.#ns.client, stored.checkpoint);
    if (hash === undefined) return undefined;
    const tail = await this.#readTail(stored, path, signal);
    return { stored, partBytes: keptBytes(stored.checkpoint), hash, tail };
  }

  /** The first bytes of the checkpoint's tail that belong to it; none when it changed. */
  async #readTail(stored: StoredCheckpoint, path: string, signal?: AbortSignal) {
    const tail = stored.checkpoint.tail;
    if (tail === undefined || tail.size === 0) return new Uint8Array(0);
    try {
      const got = await getObject(this.#ns.client, tail.key, {
        length: tail.size,
        ifMatch: tail.etag,
        signal,
      });
      const bytes = new Uint8Array(await new Response(got.body).arrayBuffer());
      return bytes.length === tail.size ? bytes : new Uint8Array(0);
    } catch (err) {
      if (isMissing(err) || (err instanceof FerryError && err.code === "ALREADY_EXISTS")) {
        return new Uint8Array(0); // gone, or another version (PreconditionFailed)
      }
      throw storeError(err, path, signal);
    }
  }

  /** Removes what a kept upload holds in the store (its parts and tail), not its checkpoint. */
  async #dropKept(kept: Kept): Promise<void> {
    const { checkpoint } = kept.stored;
    if (checkpoint.uploadId !== "") {
      await abortMultipartUpload(this.#ns.client, checkpoint.key, checkpoint.uploadId)
        .catch(() => {});
    }
    if (checkpoint.tail !== undefined) {
      await deleteObject(this.#ns.client, checkpoint.tail.key).catch(() => {});
    }
  }
}
