/**
 * ListObjectsV2: the keys under a prefix, and with a delimiter the "directories" one level down,
 * page by page, as an async iterator that holds at most two pages (2,000 entries) at a time.
 *
 * Requests ask for `encoding-type=url`, so keys that XML 1.0 cannot carry (control characters)
 * come back intact.
 *
 * @module
 */

import { FerryError } from "../../../protocol/errors.ts";
import { readXmlReply, type S3Client } from "./client.ts";
import { S3Error } from "./errors.ts";
import { compareKeys, decodeListValue } from "./keys.ts";
import { bareEtag } from "./object_info.ts";
import type { Limiter } from "./limiter.ts";
import { paginate } from "./paginate.ts";
import { xmlChild, xmlChildren, type XmlElement, xmlText } from "./xml.ts";

/** An object in a listing. */
export interface ListedObject {
  /** Discriminates from {@linkcode ListedPrefix}. */
  readonly kind: "object";
  /** The full key. */
  readonly key: string;
  /** Its size in bytes. */
  readonly size: number;
  /** Its ETag, without quotes. */
  readonly etag: string;
  /** When it was last written. */
  readonly lastModified: Date;
}

/** A common prefix in a listing with a delimiter: a "directory" (ends with the delimiter). */
export interface ListedPrefix {
  /** Discriminates from {@linkcode ListedObject}. */
  readonly kind: "prefix";
  /** The prefix, e.g. `docs/sub/` under prefix `docs/` with delimiter `/`. */
  readonly prefix: string;
}

/** One entry of a listing. */
export type ListEntry = ListedObject | ListedPrefix;

/** Options of {@linkcode listObjects}. */
export interface ListObjectsOptions {
  /** Only keys that start with this. */
  readonly prefix?: string;
  /** Roll keys up to the first delimiter after the prefix into one {@linkcode ListedPrefix}. */
  readonly delimiter?: string;
  /** Only keys after this one. */
  readonly startAfter?: string;
  /** Entries per request, 1..1000 (default 1000, S3's maximum). */
  readonly pageSize?: number;
  /** Aborts the request in flight. */
  readonly signal?: AbortSignal;
  /**
   * Runs each page (its request, and the reading and parsing of the reply) through this limiter:
   * a reply's text and its parsed tree live only while the page is read, and with many listings
   * at once (each reply of 1,000 entries is some 250 KB of text) bounding how many are read at
   * once bounds the memory they take.
   */
  readonly pages?: Limiter;
}

/** One page of a listing. */
export interface ListObjectsPage {
  /** Objects and prefixes merged in key order. */
  readonly entries: ListEntry[];
  /** The token for the next page; undefined on the last page. */
  readonly continuationToken?: string;
}

/** Fetches one page of a listing; `continuationToken` comes from the page before. */
export function listObjectsPage(
  client: S3Client,
  options: ListObjectsOptions & { readonly continuationToken?: string } = {},
): Promise<ListObjectsPage> {
  const pages = options.pages;
  return pages === undefined
    ? readPage(client, options)
    : pages.run(() => readPage(client, options));
}

/** {@linkcode listObjectsPage} without the limiter. */
async function readPage(
  client: S3Client,
  options: ListObjectsOptions & { readonly continuationToken?: string },
): Promise<ListObjectsPage> {
  const pageSize = options.pageSize ?? 1000;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) {
    throw new FerryError("BAD_ARGUMENT", `pageSize ${pageSize}: 1..1000`);
  }
  const res = await client.send({
    method: "GET",
    query: {
      "list-type": 2,
      "encoding-type": "url",
      "max-keys": pageSize,
      prefix: options.prefix,
      delimiter: options.delimiter,
      "start-after": options.continuationToken === undefined ? options.startAfter : undefined,
      "continuation-token": options.continuationToken,
    },
    signal: options.signal,
  });
  const root = await readXmlReply(res, "GET");
  const encoded = xmlText(root, "EncodingType") === "url";
  const decode = (s: string) => (encoded ? decodeListValue(s) : s);
  const objects: ListedObject[] = xmlChildren(root, "Contents").map((c) => listedObject(c, decode));
  const prefixes: ListedPrefix[] = xmlChildren(root, "CommonPrefixes").map((p) => ({
    kind: "prefix",
    prefix: decode(xmlText(p, "Prefix") ?? ""),
  }));
  const truncated = xmlText(root, "IsTruncated") === "true";
  const token = xmlText(root, "NextContinuationToken");
  if (truncated && !token) {
    throw new S3Error(
      { s3Code: "InvalidResponse", status: res.status, method: "GET", key: "" },
      "a truncated listing without NextContinuationToken",
    );
  }
  return {
    entries: mergeByKey(objects, prefixes),
    continuationToken: truncated ? token : undefined,
  };
}

/**
 * Yields every object (and, with a delimiter, every common prefix) that matches `options`, in
 * key order (S3's: by UTF-8 bytes). Pages are fetched as needed, one ahead.
 */
export function listObjects(
  client: S3Client,
  options: ListObjectsOptions = {},
): AsyncGenerator<ListEntry, void, undefined> {
  return paginate<ListEntry, string>(undefined, async (continuationToken) => {
    const page = await listObjectsPage(client, { ...options, continuationToken });
    return { items: page.entries, next: page.continuationToken };
  });
}

function listedObject(c: XmlElement, decode: (s: string) => string): ListedObject {
  const key = xmlText(c, "Key");
  const size = Number(xmlText(c, "Size"));
  if (key === undefined || !Number.isSafeInteger(size)) {
    throw new S3Error(
      { s3Code: "InvalidResponse", status: 200, method: "GET", key: "" },
      "a listed object without Key or Size",
    );
  }
  return {
    kind: "object",
    key: decode(key),
    size,
    etag: bareEtag(xmlText(c, "ETag") ?? ""),
    lastModified: new Date(xmlChild(c, "LastModified")?.text ?? NaN),
  };
}

/** Merges two lists that are each in key order into one. */
function mergeByKey(objects: ListedObject[], prefixes: ListedPrefix[]): ListEntry[] {
  if (prefixes.length === 0) return objects;
  if (objects.length === 0) return prefixes;
  const out: ListEntry[] = [];
  let i = 0, j = 0;
  while (i < objects.length && j < prefixes.length) {
    out.push(
      compareKeys(objects[i].key, prefixes[j].prefix) <= 0 ? objects[i++] : prefixes[j++],
    );
  }
  while (i < objects.length) out.push(objects[i++]);
  while (j < prefixes.length) out.push(prefixes[j++]);
  return out;
}
