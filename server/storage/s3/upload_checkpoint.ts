/**
 * The checkpoint of a resumable multipart upload: a small object kept beside the upload that
 * says which parts the store holds and the SHA-256 state after them, so that any server (not
 * only the one that lost the connection, and after a restart too) can answer UPLOAD_STATUS with
 * the kept length and its hash, and go on hashing from there.
 *
 * The rules that make it sound:
 * 1. A checkpoint is written only after the store acknowledged every part it lists, so it never
 *    claims bytes the store lacks. Parts the store holds beyond it (uploaded, then the connection
 *    dropped before the checkpoint) are ignored and overwritten by number when the upload goes on.
 * 2. It is written by compare-and-swap: the first with `If-None-Match: *`, each next one with
 *    `If-Match` on the ETag of the one it replaces. Two servers that resume the same upload at
 *    once cannot both advance it: the slower one gets `BUSY` and stops.
 * 3. Before resuming, {@linkcode verifyCheckpoint} checks the store still holds each listed part
 *    with the same ETag and size (the upload was not aborted, swept or tampered with); if not, the
 *    upload starts over.
 * 4. The hash state belongs to the pinned hash-wasm version; one that does not load means
 *    starting over, never a wrong hash (and the client's whole-file SHA-256 is checked at the end).
 *
 * @module
 */

import { FerryError } from "../../../protocol/errors.ts";
import type { S3Client } from "./client.ts";
import { isS3Error } from "./errors.ts";
import { getObject } from "./get_object.ts";
import { listParts } from "./list_parts.ts";
import { putObject } from "./put_object.ts";
import { ResumableSha256 } from "./resumable_sha256.ts";

/** A part a checkpoint counts as kept. */
export interface CheckpointPart {
  /** The part number (1, 2, ... in order: a checkpoint's parts are consecutive). */
  readonly partNumber: number;
  /** The ETag the store gave it, without quotes. */
  readonly etag: string;
  /** Its size in bytes. */
  readonly size: number;
}

/** What a resumable multipart upload holds so far. */
export interface UploadCheckpoint {
  /** The key the upload will complete into. */
  readonly key: string;
  /** The multipart upload id. */
  readonly uploadId: string;
  /** The size the client declared for the whole file. */
  readonly size: number;
  /** The parts kept, consecutive from 1. */
  readonly parts: readonly CheckpointPart[];
  /** {@linkcode ResumableSha256.save} after exactly the bytes of `parts`. */
  readonly hashState: Uint8Array;
}

/** The most bytes a checkpoint object may have when read back. */
const MAX_CHECKPOINT_BYTES = 2 * 1024 * 1024;

/** Returns how many bytes the parts of `checkpoint` hold. */
export function keptBytes(checkpoint: UploadCheckpoint): number {
  return checkpoint.parts.reduce((n, p) => n + p.size, 0);
}

/** Encodes a checkpoint as the JSON bytes stored in its object. */
export function encodeCheckpoint(checkpoint: UploadCheckpoint): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({
    version: 1,
    key: checkpoint.key,
    uploadId: checkpoint.uploadId,
    size: checkpoint.size,
    parts: checkpoint.parts.map((p) => [p.partNumber, p.etag, p.size]),
    hashState: btoa(String.fromCharCode(...checkpoint.hashState)),
  }));
}

/** Decodes the bytes of a checkpoint object. Throws `BAD_ARGUMENT` for anything malformed. */
export function decodeCheckpoint(bytes: Uint8Array): UploadCheckpoint {
  const bad = (why: string) => new FerryError("BAD_ARGUMENT", `upload checkpoint: ${why}`);
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw bad("not JSON");
  }
  if (typeof raw !== "object" || raw === null) throw bad("not an object");
  const o = raw as Record<string, unknown>;
  if (o.version !== 1) throw bad(`version ${o.version}`);
  if (typeof o.key !== "string" || typeof o.uploadId !== "string") throw bad("key, uploadId");
  if (!Number.isSafeInteger(o.size) || (o.size as number) < 0) throw bad("size");
  if (!Array.isArray(o.parts) || typeof o.hashState !== "string") throw bad("parts, hashState");
  const parts = o.parts.map((p: unknown, i: number): CheckpointPart => {
    if (
      !Array.isArray(p) || p.length !== 3 || p[0] !== i + 1 || typeof p[1] !== "string" ||
      !Number.isSafeInteger(p[2]) || p[2] < 0
    ) {
      throw bad(`part ${i + 1}`);
    }
    return { partNumber: p[0], etag: p[1], size: p[2] };
  });
  let hashState: Uint8Array;
  try {
    hashState = Uint8Array.from(atob(o.hashState), (c) => c.charCodeAt(0));
  } catch {
    throw bad("hashState is not base64");
  }
  const checkpoint = { key: o.key, uploadId: o.uploadId, size: o.size as number, parts, hashState };
  if (keptBytes(checkpoint) > checkpoint.size) throw bad("more bytes kept than declared");
  return checkpoint;
}

/** A checkpoint as read, with the ETag to replace it by compare-and-swap. */
export interface StoredCheckpoint {
  /** The checkpoint. */
  readonly checkpoint: UploadCheckpoint;
  /** The ETag of its object. */
  readonly etag: string;
}

/** Reads the checkpoint at `checkpointKey`; undefined when there is none. */
export async function loadCheckpoint(
  client: S3Client,
  checkpointKey: string,
): Promise<StoredCheckpoint | undefined> {
  let got;
  try {
    got = await getObject(client, checkpointKey);
  } catch (err) {
    if (isS3Error(err, "NoSuchKey")) return undefined;
    throw err;
  }
  if (got.length > MAX_CHECKPOINT_BYTES) {
    await got.body.cancel();
    throw new FerryError("BAD_ARGUMENT", `upload checkpoint over ${MAX_CHECKPOINT_BYTES} bytes`);
  }
  const bytes = new Uint8Array(await new Response(got.body).arrayBuffer());
  return { checkpoint: decodeCheckpoint(bytes), etag: got.info.etag };
}

/**
 * Writes `checkpoint` at `checkpointKey`: create-only when `previousEtag` is undefined, else only
 * over the checkpoint with that ETag. Returns the new ETag. Throws `BUSY` when another writer got
 * there first (the upload is being resumed elsewhere).
 */
export async function saveCheckpoint(
  client: S3Client,
  checkpointKey: string,
  checkpoint: UploadCheckpoint,
  previousEtag: string | undefined,
): Promise<string> {
  try {
    const written = await putObject(
      client,
      checkpointKey,
      encodeCheckpoint(checkpoint),
      previousEtag === undefined ? { ifNoneMatch: "*" } : { ifMatch: previousEtag },
    );
    return written.etag;
  } catch (err) {
    if (isS3Error(err, "PreconditionFailed")) {
      throw new FerryError("BUSY", `upload ${checkpoint.key} is being written elsewhere`, {
        cause: err,
      });
    }
    throw err;
  }
}

/**
 * Checks that the store holds every part of `checkpoint` with the same ETag and size, and that its
 * hash state loads and covers exactly those bytes; returns the hash, ready to go on. Returns
 * undefined when the checkpoint cannot be resumed (the upload must start over).
 */
export async function verifyCheckpoint(
  client: S3Client,
  checkpoint: UploadCheckpoint,
): Promise<ResumableSha256 | undefined> {
  let hash: ResumableSha256;
  try {
    hash = await ResumableSha256.restore(checkpoint.hashState);
  } catch {
    return undefined;
  }
  if (hash.bytesHashed !== keptBytes(checkpoint)) return undefined;
  let i = 0;
  try {
    for await (const p of listParts(client, checkpoint.key, checkpoint.uploadId)) {
      if (i >= checkpoint.parts.length) break; // parts past the checkpoint are overwritten later
      const want = checkpoint.parts[i];
      if (p.partNumber !== want.partNumber || p.etag !== want.etag || p.size !== want.size) {
        return undefined;
      }
      i++;
    }
  } catch (err) {
    if (isS3Error(err, "NoSuchUpload") || isS3Error(err, "NoSuchKey")) return undefined;
    throw err;
  }
  return i === checkpoint.parts.length ? hash : undefined;
}
