/**
 * GetObject: an object's bytes, whole or a range, as a web `ReadableStream`.
 *
 * @module
 */

import { FerryError } from "../../../protocol/errors.ts";
import type { S3Client } from "./client.ts";
import { S3Error } from "./errors.ts";
import { headObject } from "./head_object.ts";
import { type ObjectInfo, objectInfoFromHeaders, quotedEtag } from "./object_info.ts";

/** Options of {@linkcode getObject}. */
export interface GetObjectOptions {
  /** The first byte to read (default 0). */
  readonly offset?: number;
  /** How many bytes to read (default: to the end). The store may send fewer if the object is shorter. */
  readonly length?: number;
  /** Fail with `PreconditionFailed` unless the object's ETag is this one: pins one version across reads. */
  readonly ifMatch?: string;
  /** Aborts the request and the body. */
  readonly signal?: AbortSignal;
}

/** The reply of {@linkcode getObject}. */
export interface GetObjectResult {
  /** The object (its `size` is the whole object's, not the range's). */
  readonly info: ObjectInfo;
  /** The offset of the body's first byte in the object. */
  readonly offset: number;
  /** How many bytes the body holds. */
  readonly length: number;
  /** The bytes; read it to the end or cancel it, else the connection is not reused. */
  readonly body: ReadableStream<Uint8Array>;
}

/**
 * Reads `key`, or `length` bytes of it from `offset`. An offset at or past the end of a non-empty
 * object is `InvalidRange` (ferry code `BAD_ARGUMENT`); `length: 0` costs a HEAD and returns an
 * empty body. Throws {@linkcode S3Error} `NoSuchKey` when there is no such object.
 */
export async function getObject(
  client: S3Client,
  key: string,
  options: GetObjectOptions = {},
): Promise<GetObjectResult> {
  const offset = options.offset ?? 0;
  const length = options.length;
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new FerryError("BAD_ARGUMENT", `offset ${offset} is not a byte offset`);
  }
  if (length !== undefined && (!Number.isSafeInteger(length) || length < 0)) {
    throw new FerryError("BAD_ARGUMENT", `length ${length} is not a byte count`);
  }
  if (length === 0) {
    const info = await headObject(client, key, options);
    return { info, offset, length: 0, body: new ReadableStream({ start: (c) => c.close() }) };
  }
  const headers: Record<string, string> = {};
  // No Range for a whole object: "bytes=0-" on an empty object is a 416 on some stores.
  if (offset > 0 || length !== undefined) {
    headers.range = `bytes=${offset}-${length === undefined ? "" : offset + length - 1}`;
  }
  if (options.ifMatch !== undefined) headers["if-match"] = quotedEtag(options.ifMatch);
  const res = await client.send({
    method: "GET",
    key,
    headers,
    replayable: true,
    signal: options.signal,
  });
  const info = objectInfoFromHeaders(key, "GET", res);
  let bodyOffset = 0;
  let bodyLength = info.size;
  if (res.status === 206) {
    const m = /^bytes (\d+)-(\d+)\//.exec(res.headers.get("content-range") ?? "")!;
    bodyOffset = Number(m[1]);
    bodyLength = Number(m[2]) - bodyOffset + 1;
  }
  if (bodyOffset !== offset || !res.body) {
    await res.body?.cancel();
    throw new S3Error(
      { s3Code: "InvalidResponse", status: res.status, method: "GET", key },
      `GET ${key}: asked for bytes from ${offset}, the store sent from ${bodyOffset}`,
    );
  }
  return { info, offset, length: bodyLength, body: res.body };
}
