/**
 * CopyObject: a server-side copy of an object (up to 5 GiB) within the bucket, keeping its
 * metadata or replacing it. With a delete after it, this is how a key is renamed.
 *
 * ## The source condition on Ceph 16
 * S3 names the condition on the source `x-amz-copy-source-if-match`; Ceph 16's RGW ignores that
 * header and reads `x-amz-copy-if-match` instead (it then accepts the ETag quoted or not).
 * {@linkcode copyObject} sends both, so the condition holds on either kind of store.
 *
 * @module
 */

import { readXmlReply, type S3Client } from "./client.ts";
import { metadataHeaders, type ObjectMetadata } from "./metadata.ts";
import { bareEtag, quotedEtag } from "./object_info.ts";
import { xmlText } from "./xml.ts";

/** Options of {@linkcode copyObject}. */
export interface CopyObjectOptions {
  /** Replace the metadata with this (else the source's is kept, and its Content-Type). */
  readonly metadata?: ObjectMetadata;
  /** With `metadata`: the Content-Type of the copy. */
  readonly contentType?: string;
  /** Copy only if the source's ETag is this one; else `PreconditionFailed`. */
  readonly ifSourceMatch?: string;
  /** Aborts the request. */
  readonly signal?: AbortSignal;
}

/**
 * Copies `source` to `target` in the client's bucket and returns the copy's ETag. Throws
 * {@linkcode S3Error} `NoSuchKey` when the source does not exist.
 */
export async function copyObject(
  client: S3Client,
  source: string,
  target: string,
  options: CopyObjectOptions = {},
): Promise<{ readonly etag: string }> {
  const headers: Record<string, string> = { "x-amz-copy-source": client.copySource(source) };
  if (options.metadata !== undefined) {
    headers["x-amz-metadata-directive"] = "REPLACE";
    Object.assign(headers, Object.fromEntries(metadataHeaders(options.metadata)));
    if (options.contentType) headers["content-type"] = options.contentType;
  }
  if (options.ifSourceMatch !== undefined) {
    const etag = quotedEtag(options.ifSourceMatch);
    headers["x-amz-copy-source-if-match"] = etag; // S3
    headers["x-amz-copy-if-match"] = etag; // Ceph 16
  }
  const res = await client.send({ method: "PUT", key: target, headers, signal: options.signal });
  // a copy can fail after the 200 went out: the error is then the body
  const root = await readXmlReply(res, "PUT", target);
  return { etag: bareEtag(xmlText(root, "ETag") ?? "") };
}
