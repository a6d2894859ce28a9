/**
 * A server-side copy of a whole object of any size: one CopyObject up to 5 GiB (S3's limit for
 * it), a multipart upload of UploadPartCopy ranges beyond. Either way the bytes never pass
 * through this process, and every range is read from the same version of the source (its ETag).
 *
 * @module
 */

import type { S3Client } from "./client.ts";
import { copyObject } from "./copy_object.ts";
import { headObject } from "./head_object.ts";
import type { ObjectMetadata } from "./metadata.ts";
import {
  abortMultipartUpload,
  completeMultipartUpload,
  createMultipartUpload,
  MAX_PARTS,
  uploadPartCopy,
} from "./multipart.ts";

/** The largest object one CopyObject may copy. */
export const MAX_SINGLE_COPY = 5 * 1024 * 1024 * 1024;

/** Options of {@linkcode copyWhole}. */
export interface CopyWholeOptions {
  /** The source's size in bytes. */
  readonly size: number;
  /** The source's ETag: the copy fails with `PreconditionFailed` if the source changed. */
  readonly ifSourceMatch: string;
  /** The copy's user metadata; undefined keeps the source's. */
  readonly metadata?: ObjectMetadata;
  /** Copies larger than this go in parts (default {@linkcode MAX_SINGLE_COPY}). */
  readonly singleCopyLimit?: number;
  /** The smallest part of a copy in parts (default 1 GiB; more when 10,000 parts do not do). */
  readonly partSize?: number;
  /** Told the upload id of a copy in parts while it runs (so a cleanup can spare it). */
  readonly onUpload?: (uploadId: string | undefined) => void;
  /** Aborts the requests. */
  readonly signal?: AbortSignal;
}

/** Copies `source` to `target` within the bucket. */
export async function copyWhole(
  client: S3Client,
  source: string,
  target: string,
  options: CopyWholeOptions,
): Promise<void> {
  const { size, ifSourceMatch, signal } = options;
  if (size <= (options.singleCopyLimit ?? MAX_SINGLE_COPY)) {
    await copyObject(client, source, target, { metadata: options.metadata, ifSourceMatch, signal });
    return;
  }
  const partSize = Math.max(options.partSize ?? 1024 ** 3, Math.ceil(size / MAX_PARTS));
  // a multipart upload does not take the source's metadata by itself
  const metadata = options.metadata ??
    (await headObject(client, source, { ifMatch: ifSourceMatch, signal })).metadata;
  const uploadId = await createMultipartUpload(client, target, { metadata, signal });
  options.onUpload?.(uploadId);
  try {
    const parts = [];
    for (let offset = 0, partNumber = 1; offset < size; offset += partSize, partNumber++) {
      const length = Math.min(partSize, size - offset);
      const { etag } = await uploadPartCopy(client, target, uploadId, partNumber, source, {
        offset,
        length,
        ifSourceMatch,
        signal,
      });
      parts.push({ partNumber, etag });
    }
    await completeMultipartUpload(client, target, uploadId, parts, { signal });
  } catch (err) {
    await abortMultipartUpload(client, target, uploadId).catch(() => {});
    throw err;
  } finally {
    options.onUpload?.(undefined);
  }
}
