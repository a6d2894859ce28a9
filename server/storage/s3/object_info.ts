/**
 * What a HEAD or GET reply says about an object: {@linkcode ObjectInfo}, and the ETag helpers
 * (stores quote ETags in headers and list replies, and not always in other XML replies).
 *
 * @module
 */

import { S3Error } from "./errors.ts";
import { metadataFromHeaders, type ObjectMetadata } from "./metadata.ts";

/** An object's size, version tag, time and user metadata. */
export interface ObjectInfo {
  /** The key. */
  readonly key: string;
  /** The size of the whole object in bytes. */
  readonly size: number;
  /** The ETag without quotes (an MD5 for a simple PUT, `<md5>-<parts>` after multipart). */
  readonly etag: string;
  /** When the object was last written. */
  readonly lastModified: Date;
  /** The Content-Type it was stored with, if any. */
  readonly contentType?: string;
  /** User metadata: lower-case names without `x-amz-meta-`. */
  readonly metadata: ObjectMetadata;
}

/** Returns an ETag without its quotes or weak prefix: `W/"abc"` → `abc`. */
export function bareEtag(etag: string): string {
  return etag.trim().replace(/^W\//, "").replace(/^"(.*)"$/, "$1");
}

/** Returns an ETag quoted as HTTP wants it in `If-Match`: `abc` → `"abc"`. */
export function quotedEtag(etag: string): string {
  return `"${bareEtag(etag)}"`;
}

/**
 * Reads {@linkcode ObjectInfo} from a HEAD or GET reply. `size` is the whole object's: from
 * `Content-Range` on a 206, else `Content-Length`.
 */
export function objectInfoFromHeaders(key: string, method: string, res: Response): ObjectInfo {
  const h = res.headers;
  let size: number;
  const range = h.get("content-range");
  if (res.status === 206) {
    const m = /^bytes \d+-\d+\/(\d+)$/.exec(range ?? "");
    if (!m) throw invalid(key, method, res, `Content-Range ${range}`);
    size = Number(m[1]);
  } else {
    size = Number(h.get("content-length") ?? NaN);
  }
  if (!Number.isSafeInteger(size) || size < 0) throw invalid(key, method, res, "no object size");
  const etag = h.get("etag");
  if (!etag) throw invalid(key, method, res, "no ETag");
  const modified = new Date(h.get("last-modified") ?? NaN);
  return {
    key,
    size,
    etag: bareEtag(etag),
    lastModified: modified,
    contentType: h.get("content-type") ?? undefined,
    metadata: metadataFromHeaders(h),
  };
}

function invalid(key: string, method: string, res: Response, what: string): S3Error {
  return new S3Error(
    {
      s3Code: "InvalidResponse",
      status: res.status,
      method,
      key,
      requestId: res.headers.get("x-amz-request-id") ?? undefined,
    },
    `${method} ${key}: the store's reply has ${what}`,
  );
}
