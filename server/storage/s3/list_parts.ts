/**
 * ListParts: the parts a multipart upload holds so far, page by page. This is what tells a
 * resumed upload how much of it the store already kept.
 *
 * @module
 */

import { FerryError } from "../../../protocol/errors.ts";
import { readXmlReply, type S3Client } from "./client.ts";
import { S3Error } from "./errors.ts";
import { bareEtag } from "./object_info.ts";
import { paginate } from "./paginate.ts";
import { xmlChildren, xmlText } from "./xml.ts";

/** A part the store holds. */
export interface UploadedPart {
  /** The part number. */
  readonly partNumber: number;
  /** Its ETag, without quotes. */
  readonly etag: string;
  /** Its size in bytes. */
  readonly size: number;
  /** When it was uploaded. */
  readonly lastModified: Date;
}

/** Options of {@linkcode listParts}. */
export interface ListPartsOptions {
  /** Parts per request, 1..1000 (default 1000). */
  readonly pageSize?: number;
  /** Aborts the request in flight. */
  readonly signal?: AbortSignal;
}

/**
 * Yields the parts of upload `uploadId` of `key` in part-number order. Throws
 * {@linkcode S3Error} `NoSuchUpload` (Ceph 16: `NoSuchKey`) when the upload is not there.
 */
export function listParts(
  client: S3Client,
  key: string,
  uploadId: string,
  options: ListPartsOptions = {},
): AsyncGenerator<UploadedPart, void, undefined> {
  const pageSize = options.pageSize ?? 1000;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) {
    throw new FerryError("BAD_ARGUMENT", `pageSize ${pageSize}: 1..1000`);
  }
  return paginate<UploadedPart, number>(undefined, async (marker) => {
    const res = await client.send({
      method: "GET",
      key,
      query: { uploadId, "max-parts": pageSize, "part-number-marker": marker },
      signal: options.signal,
    });
    const root = await readXmlReply(res, "GET", key);
    const items = xmlChildren(root, "Part").map((p) => {
      const part = {
        partNumber: Number(xmlText(p, "PartNumber")),
        etag: bareEtag(xmlText(p, "ETag") ?? ""),
        size: Number(xmlText(p, "Size")),
        lastModified: new Date(xmlText(p, "LastModified") ?? NaN),
      };
      if (!Number.isInteger(part.partNumber) || !Number.isSafeInteger(part.size)) {
        throw new S3Error(
          { s3Code: "InvalidResponse", status: res.status, method: "GET", key },
          "a listed part without PartNumber or Size",
        );
      }
      return part;
    });
    const truncated = xmlText(root, "IsTruncated") === "true";
    const next = Number(xmlText(root, "NextPartNumberMarker"));
    if (truncated && !Number.isInteger(next)) {
      throw new S3Error(
        { s3Code: "InvalidResponse", status: res.status, method: "GET", key },
        "a truncated part list without NextPartNumberMarker",
      );
    }
    return { items, next: truncated ? next : undefined };
  });
}
