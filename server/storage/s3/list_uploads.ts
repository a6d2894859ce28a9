/**
 * ListMultipartUploads: the uploads begun and neither completed nor aborted, page by page; how
 * abandoned uploads are found and swept.
 *
 * @module
 */

import { FerryError } from "../../../protocol/errors.ts";
import { readXmlReply, type S3Client } from "./client.ts";
import { S3Error } from "./errors.ts";
import { decodeListValue } from "./keys.ts";
import { paginate } from "./paginate.ts";
import { xmlChildren, xmlText } from "./xml.ts";

/** An upload in progress. */
export interface MultipartUploadInfo {
  /** The key it will create. */
  readonly key: string;
  /** Its upload id. */
  readonly uploadId: string;
  /** When it was created. */
  readonly initiated: Date;
}

/** Options of {@linkcode listMultipartUploads}. */
export interface ListMultipartUploadsOptions {
  /** Only uploads to keys that start with this. */
  readonly prefix?: string;
  /** Uploads per request, 1..1000 (default 1000). */
  readonly pageSize?: number;
  /** Aborts the request in flight. */
  readonly signal?: AbortSignal;
}

interface Marker {
  readonly key: string;
  readonly uploadId: string;
}

/** Yields the uploads in progress in the bucket, by key then by creation. */
export function listMultipartUploads(
  client: S3Client,
  options: ListMultipartUploadsOptions = {},
): AsyncGenerator<MultipartUploadInfo, void, undefined> {
  const pageSize = options.pageSize ?? 1000;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) {
    throw new FerryError("BAD_ARGUMENT", `pageSize ${pageSize}: 1..1000`);
  }
  return paginate<MultipartUploadInfo, Marker>(undefined, async (marker) => {
    const res = await client.send({
      method: "GET",
      query: {
        uploads: "",
        "encoding-type": "url",
        "max-uploads": pageSize,
        prefix: options.prefix,
        "key-marker": marker?.key,
        "upload-id-marker": marker?.uploadId,
      },
      signal: options.signal,
    });
    const root = await readXmlReply(res, "GET");
    const decode = (s: string) => xmlText(root, "EncodingType") === "url" ? decodeListValue(s) : s;
    const items = xmlChildren(root, "Upload").map((u) => ({
      key: decode(xmlText(u, "Key") ?? ""),
      uploadId: xmlText(u, "UploadId") ?? "",
      initiated: new Date(xmlText(u, "Initiated") ?? NaN),
    }));
    const truncated = xmlText(root, "IsTruncated") === "true";
    const nextKey = xmlText(root, "NextKeyMarker");
    const nextId = xmlText(root, "NextUploadIdMarker");
    if (truncated && (!nextKey || nextId === undefined)) {
      throw new S3Error(
        { s3Code: "InvalidResponse", status: res.status, method: "GET", key: "" },
        "a truncated upload list without NextKeyMarker",
      );
    }
    return {
      items,
      next: truncated ? { key: decode(nextKey!), uploadId: nextId! } : undefined,
    };
  });
}
