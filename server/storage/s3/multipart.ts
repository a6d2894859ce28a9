/**
 * One multipart upload's life: create it, upload parts (each from 5 MiB, except the last, to
 * 5 GiB; numbers 1..10,000), complete it into the object, or abort it. UploadPartCopy fills a
 * part from a range of an existing object without moving the bytes through this process.
 *
 * Ceph 16 ignores `If-None-Match: *` on CompleteMultipartUpload (it replaces an existing key), so
 * completion cannot be made create-only there; and it answers it with an empty `<ETag>`.
 *
 * @module
 */

import { FerryError } from "../../../protocol/errors.ts";
import { readXmlReply, type S3Client } from "./client.ts";
import { S3Error } from "./errors.ts";
import { metadataHeaders, type ObjectMetadata } from "./metadata.ts";
import { bareEtag, quotedEtag } from "./object_info.ts";
import { escapeXml, xmlText } from "./xml.ts";

/** The smallest part S3 accepts, except for the last one. */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
/** The largest part S3 accepts. */
export const MAX_PART_SIZE = 5 * 1024 * 1024 * 1024;
/** The highest part number. */
export const MAX_PARTS = 10_000;

/** Options of {@linkcode createMultipartUpload}. */
export interface CreateMultipartUploadOptions {
  /** User metadata of the object to be (printable ASCII values). */
  readonly metadata?: ObjectMetadata;
  /** Its Content-Type. */
  readonly contentType?: string;
  /** Aborts the request. */
  readonly signal?: AbortSignal;
}

/** A part as CompleteMultipartUpload wants it. */
export interface CompletedPart {
  /** The part number, 1..10,000. */
  readonly partNumber: number;
  /** The ETag UploadPart returned for it (bare or quoted). */
  readonly etag: string;
}

/** Options with only an abort signal. */
export interface SignalOptions {
  /** Aborts the request. */
  readonly signal?: AbortSignal;
}

/** Starts a multipart upload to `key` and returns its upload id. */
export async function createMultipartUpload(
  client: S3Client,
  key: string,
  options: CreateMultipartUploadOptions = {},
): Promise<string> {
  const headers: Record<string, string> = Object.fromEntries(
    metadataHeaders(options.metadata ?? {}),
  );
  if (options.contentType) headers["content-type"] = options.contentType;
  const res = await client.send({
    method: "POST",
    key,
    query: { uploads: "" },
    headers,
    signal: options.signal,
  });
  const uploadId = xmlText(await readXmlReply(res, "POST", key), "UploadId");
  if (!uploadId) {
    throw new S3Error(
      { s3Code: "InvalidResponse", status: res.status, method: "POST", key },
      `POST ${key}?uploads: no UploadId in the reply`,
    );
  }
  return uploadId;
}

function checkPartNumber(partNumber: number): void {
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PARTS) {
    throw new FerryError("BAD_ARGUMENT", `part number ${partNumber}: 1..${MAX_PARTS}`);
  }
}

/** Options of {@linkcode uploadPart}. */
export interface UploadPartOptions extends SignalOptions {
  /** The hex SHA-256 of the body: the store verifies it (else the body is sent unsigned). */
  readonly payloadSha256?: string;
}

/**
 * Uploads part `partNumber` of an upload and returns its ETag (bare). Uploading a number again
 * replaces that part. A failed part may simply be sent again.
 */
export async function uploadPart(
  client: S3Client,
  key: string,
  uploadId: string,
  partNumber: number,
  body: Uint8Array,
  options: UploadPartOptions = {},
): Promise<{ readonly etag: string }> {
  checkPartNumber(partNumber);
  const res = await client.send({
    method: "PUT",
    key,
    query: { partNumber, uploadId },
    body,
    payloadSha256: options.payloadSha256,
    signal: options.signal,
  });
  await res.body?.cancel();
  return { etag: bareEtag(res.headers.get("etag") ?? "") };
}

/** Options of {@linkcode uploadPartCopy}. */
export interface UploadPartCopyOptions extends SignalOptions {
  /** The first byte of the source to copy (default 0). */
  readonly offset?: number;
  /** How many bytes (default: to the end of the source). */
  readonly length?: number;
  /** Copy only if the source's ETag is this one. */
  readonly ifSourceMatch?: string;
}

/**
 * Fills part `partNumber` with (a range of) the object `source`, copied inside the store, and
 * returns the part's ETag. This is how an object over 5 GiB is copied.
 */
export async function uploadPartCopy(
  client: S3Client,
  key: string,
  uploadId: string,
  partNumber: number,
  source: string,
  options: UploadPartCopyOptions = {},
): Promise<{ readonly etag: string }> {
  checkPartNumber(partNumber);
  const headers: Record<string, string> = { "x-amz-copy-source": client.copySource(source) };
  if (options.offset !== undefined || options.length !== undefined) {
    const first = options.offset ?? 0;
    if (options.length === undefined || options.length < 1) {
      throw new FerryError("BAD_ARGUMENT", "uploadPartCopy: a range needs a length of 1 or more");
    }
    headers["x-amz-copy-source-range"] = `bytes=${first}-${first + options.length - 1}`;
  }
  if (options.ifSourceMatch !== undefined) {
    const etag = quotedEtag(options.ifSourceMatch);
    headers["x-amz-copy-source-if-match"] = etag;
    headers["x-amz-copy-if-match"] = etag; // Ceph 16 reads this name; see copy_object.ts
  }
  const res = await client.send({
    method: "PUT",
    key,
    query: { partNumber, uploadId },
    headers,
    signal: options.signal,
  });
  const root = await readXmlReply(res, "PUT", key);
  return { etag: bareEtag(xmlText(root, "ETag") ?? "") };
}

/**
 * Completes an upload: the parts, in ascending number order, become the object `key`.
 * Returns the object's ETag, or undefined when the store does not say (Ceph 16).
 * Throws {@linkcode S3Error} `NoSuchUpload` for an unknown upload, `InvalidPart` /
 * `EntityTooSmall` for parts the store does not have or that are too small.
 *
 * Completing an upload that is already complete fails: `NoSuchUpload` on AWS, but a 500
 * `InternalError` ("This multipart completion is already in progress") on Ceph 16. So after a
 * completion whose reply was lost, HEAD the key (an ETag ending in `-<number of parts>` and the
 * expected size) rather than completing again.
 */
export async function completeMultipartUpload(
  client: S3Client,
  key: string,
  uploadId: string,
  parts: readonly CompletedPart[],
  options: SignalOptions = {},
): Promise<{ readonly etag?: string }> {
  if (parts.length === 0) {
    throw new FerryError("BAD_ARGUMENT", "completeMultipartUpload: at least one part");
  }
  let last = 0;
  for (const p of parts) {
    checkPartNumber(p.partNumber);
    if (p.partNumber <= last) {
      throw new FerryError("BAD_ARGUMENT", "completeMultipartUpload: parts in ascending order");
    }
    last = p.partNumber;
  }
  const body = `<CompleteMultipartUpload>${
    parts.map((p) =>
      `<Part><PartNumber>${p.partNumber}</PartNumber><ETag>${
        escapeXml(quotedEtag(p.etag))
      }</ETag></Part>`
    ).join("")
  }</CompleteMultipartUpload>`;
  const res = await client.send({
    method: "POST",
    key,
    query: { uploadId },
    body,
    signal: options.signal,
  });
  // the store may answer 200 and then report a failure in the body
  const etag = bareEtag(xmlText(await readXmlReply(res, "POST", key), "ETag") ?? "");
  return { etag: etag || undefined };
}

/**
 * Aborts an upload: its parts are deleted. Throws {@linkcode S3Error} `NoSuchUpload` for an
 * unknown (or already completed or aborted) upload.
 */
export async function abortMultipartUpload(
  client: S3Client,
  key: string,
  uploadId: string,
  options: SignalOptions = {},
): Promise<void> {
  const res = await client.send({
    method: "DELETE",
    key,
    query: { uploadId },
    signal: options.signal,
  });
  await res.body?.cancel();
}
