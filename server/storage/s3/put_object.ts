/**
 * PutObject: stores a body of known length under a key, with user metadata, optionally only if
 * the key does not exist yet (`If-None-Match: *`) or still has a given ETag (`If-Match`).
 *
 * ## If-Match on Ceph 16
 * HTTP (RFC 9110) writes an entity tag in quotes, and AWS S3, MinIO and R2 compare it so.
 * Ceph 16's RGW compares the header text with the bare ETag: the quoted form never matches (412
 * every time) and the bare form works. `putObject` sends the quoted form first; on a 412 it
 * HEADs the key, and only if the ETag there is still the expected one (so the 412 cannot have
 * been a real mismatch) it sends the bare form. The answer is kept in
 * {@linkcode S3Client.quirks}, so later writes go straight to the form that works. A genuine
 * mismatch costs one HEAD the first time and nothing after. A store that accepts both forms
 * is never asked the second.
 *
 * @module
 */

import { FerryError } from "../../../protocol/errors.ts";
import type { S3Client } from "./client.ts";
import { isS3Error } from "./errors.ts";
import { headObject } from "./head_object.ts";
import { metadataHeaders, type ObjectMetadata } from "./metadata.ts";
import { bareEtag, quotedEtag } from "./object_info.ts";

/** Options of {@linkcode putObject}. */
export interface PutObjectOptions {
  /** User metadata to store with the object (printable ASCII values). */
  readonly metadata?: ObjectMetadata;
  /** The Content-Type to store (default: the store's, usually `binary/octet-stream`). */
  readonly contentType?: string;
  /** `"*"`: write only if the key does not exist; else `PreconditionFailed`. */
  readonly ifNoneMatch?: "*";
  /** Write only if the key exists with this ETag (bare or quoted); else `PreconditionFailed`. */
  readonly ifMatch?: string;
  /** The hex SHA-256 of the body: the store verifies it (else the body is sent unsigned). */
  readonly payloadSha256?: string;
  /** Aborts the request. */
  readonly signal?: AbortSignal;
}

/** The result of a write. */
export interface PutObjectResult {
  /** The new object's ETag, without quotes. */
  readonly etag: string;
}

/**
 * Stores `body` under `key`, replacing what is there unless a condition says otherwise. A
 * condition that fails throws {@linkcode S3Error} `PreconditionFailed` (ferry code
 * `ALREADY_EXISTS`). S3 allows up to 5 GiB in one PUT; use multipart beyond that.
 */
export async function putObject(
  client: S3Client,
  key: string,
  body: Uint8Array | string,
  options: PutObjectOptions = {},
): Promise<PutObjectResult> {
  if (options.ifMatch !== undefined && options.ifNoneMatch !== undefined) {
    throw new FerryError("BAD_ARGUMENT", "putObject: ifMatch and ifNoneMatch exclude each other");
  }
  const headers: Record<string, string> = Object.fromEntries(
    metadataHeaders(options.metadata ?? {}),
  );
  if (options.contentType) headers["content-type"] = options.contentType;
  if (options.ifNoneMatch) headers["if-none-match"] = options.ifNoneMatch;
  const send = async (ifMatch?: string): Promise<PutObjectResult> => {
    const res = await client.send({
      method: "PUT",
      key,
      headers: ifMatch === undefined ? headers : { ...headers, "if-match": ifMatch },
      body,
      payloadSha256: options.payloadSha256,
      signal: options.signal,
    });
    await res.body?.cancel();
    return { etag: bareEtag(res.headers.get("etag") ?? "") };
  };
  if (options.ifMatch === undefined) return await send();

  const expected = bareEtag(options.ifMatch);
  if (client.quirks.putIfMatch === "unquoted") return await send(expected);
  try {
    const result = await send(quotedEtag(expected));
    client.quirks.putIfMatch = "quoted";
    return result;
  } catch (err) {
    if (client.quirks.putIfMatch !== "unknown" || !isS3Error(err, "PreconditionFailed")) throw err;
    // Was the 412 real, or Ceph 16 refusing the quoted form? Only an unchanged object can tell.
    const current = await headObject(client, key, { signal: options.signal }).catch(() => null);
    if (current?.etag !== expected) throw err;
    const result = await send(expected);
    client.quirks.putIfMatch = "unquoted";
    return result;
  }
}
