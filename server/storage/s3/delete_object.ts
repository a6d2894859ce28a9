/**
 * DeleteObject and DeleteObjects (up to 1,000 keys in one request).
 *
 * Neither takes a condition: Ceph 16 ignores `If-Match` on DELETE (it deletes anyway), so a
 * conditional delete cannot be relied on.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { FerryError } from "../../../protocol/errors.ts";
import { readXmlReply, type S3Client } from "./client.ts";
import { checkKey } from "./keys.ts";
import { escapeXml, isXmlText, xmlChildren, xmlText } from "./xml.ts";

/** Options of the delete functions. */
export interface DeleteOptions {
  /** Aborts the request. */
  readonly signal?: AbortSignal;
}

/** Deletes `key`. Deleting a key that does not exist succeeds, as S3 defines it. */
export async function deleteObject(
  client: S3Client,
  key: string,
  options: DeleteOptions = {},
): Promise<void> {
  const res = await client.send({ method: "DELETE", key, signal: options.signal });
  await res.body?.cancel();
}

/** A key that {@linkcode deleteObjects} could not delete. */
export interface DeleteFailure {
  /** The key. */
  readonly key: string;
  /** The S3 error code. */
  readonly s3Code: string;
  /** The store's message. */
  readonly message: string;
}

/** The most keys one DeleteObjects request may name. */
export const MAX_DELETE_KEYS = 1000;

/**
 * Deletes up to 1,000 keys in one request and returns the ones that failed (keys that did not
 * exist count as deleted). A key that XML cannot carry (a control character, U+FFFF) cannot be
 * named in the request body (the store refuses the whole request): such keys are deleted one
 * by one with DeleteObject. Throws `BAD_ARGUMENT` for more than 1,000 keys.
 */
export async function deleteObjects(
  client: S3Client,
  keys: readonly string[],
  options: DeleteOptions = {},
): Promise<DeleteFailure[]> {
  if (keys.length > MAX_DELETE_KEYS) {
    throw new FerryError("BAD_ARGUMENT", `at most ${MAX_DELETE_KEYS} keys per DeleteObjects`);
  }
  for (const key of keys) checkKey(key);
  for (const key of keys.filter((k) => !isXmlText(k))) await deleteObject(client, key, options);
  const safe = keys.filter(isXmlText);
  if (safe.length === 0) return [];
  const body = `<Delete><Quiet>true</Quiet>${
    safe.map((k) => `<Object><Key>${escapeXml(k)}</Key></Object>`).join("")
  }</Delete>`;
  const res = await client.send({
    method: "POST",
    query: { delete: "" },
    // S3 requires a body checksum on DeleteObjects; Content-MD5 is the one every store knows
    headers: { "content-md5": createHash("md5").update(body).digest("base64") },
    body,
    replayable: true, // deleting twice is deleting
    signal: options.signal,
  });
  const root = await readXmlReply(res, "POST");
  return xmlChildren(root, "Error").map((e) => ({
    key: xmlText(e, "Key") ?? "",
    s3Code: xmlText(e, "Code") ?? "",
    message: xmlText(e, "Message") ?? "",
  }));
}
