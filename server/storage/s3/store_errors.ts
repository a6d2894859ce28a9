/**
 * Errors of the S3 storage as a client sees them: the code of the store's answer, and a message
 * that names the client's path only. An {@linkcode S3Error}'s own message names the bucket and
 * the key (prefix included), which are the server's business, so it is kept as the `cause` (for
 * the server's log) and never shown.
 *
 * @module
 */

import { FerryError } from "../../../protocol/errors.ts";
import { quoteName } from "../../../common/names.ts";
import { isS3Error } from "./errors.ts";

/** True when `err` says the object is not there (GET, HEAD, or a gone multipart upload). */
export function isMissing(err: unknown): boolean {
  return isS3Error(err) &&
    (err.s3Code === "NoSuchKey" || err.s3Code === "NotFound" || err.s3Code === "NoSuchUpload");
}

/**
 * Returns `err` as a {@linkcode FerryError} about `path`: a `FerryError` that is not an S3 error
 * passes unchanged (it was made for the client); an S3 error keeps its ferry code with a message
 * of its own; the reason of an aborted `signal` passes as it is.
 */
export function storeError(err: unknown, path: string, signal?: AbortSignal): unknown {
  if (signal?.aborted) return signal.reason;
  if (isS3Error(err)) {
    const what = err.s3Code === "NetworkError"
      ? "the object store could not be reached"
      : `the object store answered ${err.s3Code}${err.status ? ` (HTTP ${err.status})` : ""}`;
    return new FerryError(err.code, `${quoteName(path)}: ${what}`, { cause: err });
  }
  if (err instanceof FerryError) return err;
  return new FerryError("INTERNAL", `${quoteName(path)}: ${String(err)}`, { cause: err });
}
