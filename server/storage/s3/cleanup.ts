/**
 * The cleanup of the S3 storage: kept uploads and abandoned multipart uploads, removed like the
 * local storage's stale partial files.
 *
 * - A checkpoint (a kept, resumable upload) untouched for the time to live is removed with what
 *   it names: its multipart upload (aborted, so its parts go) and its tail object.
 * - A tail object that no remaining checkpoint names, older than the time to live, is removed.
 * - A multipart upload below the prefix that no remaining checkpoint names (an upload of unknown
 *   size, or one whose server died) and that began longer ago than the time to live is aborted.
 *
 * Whatever an upload of this server is using is spared. Uploads of *other* servers on the bucket
 * are told apart by age only: their checkpoints are rewritten after every part, but an upload of
 * unknown size that runs longer than the time to live on another server would be aborted, so the
 * time to live must be longer than any one upload takes (the default is 24 hours).
 *
 * @module
 */

import type { CleanupOptions, CleanupResult } from "../storage.ts";
import { deleteObject } from "./delete_object.ts";
import { listObjects } from "./list_objects.ts";
import { listMultipartUploads } from "./list_uploads.ts";
import { abortMultipartUpload } from "./multipart.ts";
import { loadCheckpoint } from "./upload_checkpoint.ts";
import type { Namespace } from "./namespace.ts";

/**
 * Removes stale kept uploads, orphaned tails and abandoned multipart uploads below the storage's
 * prefix, sparing the checkpoint keys and upload ids for which `isActive` is true.
 */
export async function cleanS3Uploads(
  ns: Namespace,
  isActive: (id: string) => boolean,
  options: CleanupOptions,
): Promise<CleanupResult> {
  const { client, layout } = ns;
  const { signal } = options;
  const now = options.now ?? Date.now();
  const stale = (time: Date) => now - time.getTime() >= options.ttlMs;
  const removed: string[] = [];
  const liveUploads = new Set<string>();
  /** Tails named by a checkpoint that stays (or that went with their checkpoint). */
  const liveTails = new Set<string>();
  const tails: { key: string; lastModified: Date }[] = [];

  for await (const entry of listObjects(client, { prefix: layout.uploadsPrefix, signal })) {
    if (entry.kind !== "object") continue;
    if (!layout.isCheckpointKey(entry.key)) {
      if (entry.key.endsWith(".tail")) tails.push(entry);
      continue;
    }
    const stored = await loadCheckpoint(client, entry.key).catch(() => undefined);
    const checkpoint = stored?.checkpoint;
    if (isActive(entry.key) || !stale(entry.lastModified)) {
      if (checkpoint?.uploadId) liveUploads.add(checkpoint.uploadId);
      if (checkpoint?.tail) liveTails.add(checkpoint.tail.key);
      continue;
    }
    if (checkpoint?.uploadId) {
      await abortMultipartUpload(client, checkpoint.key, checkpoint.uploadId, { signal })
        .catch(() => {});
    }
    if (checkpoint?.tail) {
      await deleteObject(client, checkpoint.tail.key, { signal });
      liveTails.add(checkpoint.tail.key); // gone with its checkpoint, not counted twice
    }
    await deleteObject(client, entry.key, { signal });
    removed.push(layout.relative(entry.key));
  }

  for (const tail of tails) {
    if (liveTails.has(tail.key) || !stale(tail.lastModified)) continue;
    await deleteObject(client, tail.key, { signal });
    removed.push(layout.relative(tail.key));
  }

  for await (const upload of listMultipartUploads(client, { prefix: layout.prefix, signal })) {
    if (isActive(upload.uploadId) || liveUploads.has(upload.uploadId)) continue;
    if (!stale(upload.initiated)) continue;
    try {
      await abortMultipartUpload(client, upload.key, upload.uploadId, { signal });
      removed.push(`${layout.relative(upload.key)} (multipart upload ${upload.uploadId})`);
    } catch {
      // completed or aborted meanwhile
    }
  }
  return { removed, directories: 1 };
}
