/**
 * HeadObject: an object's size, ETag, time and user metadata, without its bytes.
 *
 * @module
 */

import type { S3Client } from "./client.ts";
import { type ObjectInfo, objectInfoFromHeaders, quotedEtag } from "./object_info.ts";

/** Options of {@linkcode headObject}. */
export interface HeadObjectOptions {
  /** Fail with `PreconditionFailed` unless the object's ETag is this one (with or without quotes). */
  readonly ifMatch?: string;
  /** Aborts the request. */
  readonly signal?: AbortSignal;
}

/**
 * Returns what the store keeps about `key`. Throws {@linkcode S3Error} `NotFound` (ferry code
 * `NOT_FOUND`) when there is no such object: a HEAD reply has no body to name `NoSuchKey`.
 */
export async function headObject(
  client: S3Client,
  key: string,
  options: HeadObjectOptions = {},
): Promise<ObjectInfo> {
  const headers: Record<string, string> = {};
  if (options.ifMatch !== undefined) headers["if-match"] = quotedEtag(options.ifMatch);
  const res = await client.send({
    method: "HEAD",
    key,
    headers,
    replayable: true,
    signal: options.signal,
  });
  await res.body?.cancel();
  return objectInfoFromHeaders(key, "HEAD", res);
}
