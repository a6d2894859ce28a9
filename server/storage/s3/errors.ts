/**
 * Typed errors for the S3 client: every failure is an {@linkcode S3Error}, a
 * {@linkcode FerryError} that also carries the S3 error code (`NoSuchKey`, `PreconditionFailed`,
 * ...), the HTTP status and the request id the store gave.
 *
 * @module
 */

import { type ErrorCode, FerryError } from "../../../protocol/errors.ts";

// Re-exported so that users of this module see the base class of every error it throws.
export { ERROR_CODES, type ErrorCode, FerryError } from "../../../protocol/errors.ts";

/**
 * The ferry code for each S3 error code this client expects to meet; anything else is `INTERNAL`.
 * `PreconditionFailed` becomes `ALREADY_EXISTS`: a conditional write lost because the key exists
 * (`If-None-Match: *`) or changed (`If-Match`).
 */
const FERRY_CODES: Readonly<Record<string, ErrorCode>> = {
  NoSuchKey: "NOT_FOUND",
  NoSuchBucket: "NOT_FOUND",
  NoSuchUpload: "NOT_FOUND",
  NotFound: "NOT_FOUND",
  PreconditionFailed: "ALREADY_EXISTS",
  AccessDenied: "PERMISSION_DENIED",
  InvalidAccessKeyId: "PERMISSION_DENIED",
  SignatureDoesNotMatch: "PERMISSION_DENIED",
  RequestTimeTooSkewed: "PERMISSION_DENIED",
  AllAccessDisabled: "PERMISSION_DENIED",
  EntityTooLarge: "TOO_LARGE",
  QuotaExceeded: "NO_SPACE",
  SlowDown: "BUSY",
  ServiceUnavailable: "BUSY",
  TooManyRequests: "BUSY",
  RequestTimeout: "TIMEOUT",
  InvalidRange: "BAD_ARGUMENT",
  KeyTooLongError: "NAME_TOO_LONG",
};

/** The S3 code assumed for an error reply without a body (HEAD, or a proxy in between). */
const CODES_BY_STATUS: Readonly<Record<number, string>> = {
  304: "NotModified",
  400: "BadRequest",
  403: "AccessDenied",
  404: "NotFound",
  409: "Conflict",
  411: "MissingContentLength",
  412: "PreconditionFailed",
  416: "InvalidRange",
  429: "TooManyRequests",
  500: "InternalError",
  503: "ServiceUnavailable",
};

/** Where an {@linkcode S3Error} came from: the request and what the store said about it. */
export interface S3ErrorDetails {
  /** The S3 error code (`NoSuchKey`, ...), or `NetworkError` / `InvalidResponse` from this client. */
  readonly s3Code: string;
  /** The HTTP status, or 0 when no reply came. */
  readonly status: number;
  /** The HTTP method of the failed request. */
  readonly method: string;
  /** The object key, or `""` for a request on the bucket. */
  readonly key: string;
  /** The store's request id (`x-amz-request-id`), when it sent one. */
  readonly requestId?: string;
}

/** A failed S3 request. {@linkcode FerryError.code} is the ferry code, {@linkcode s3Code} the store's. */
export class S3Error extends FerryError {
  /** The S3 error code, e.g. `NoSuchKey`; `NetworkError` when no reply came. */
  readonly s3Code: string;
  /** The HTTP status, or 0 when no reply came. */
  readonly status: number;
  /** The object key, or `""` for a request on the bucket. */
  readonly key: string;
  /** The store's request id, when it sent one. */
  readonly requestId?: string;

  /** Creates an error from `details`; the ferry code follows from the S3 code. */
  constructor(details: S3ErrorDetails, message: string, options?: ErrorOptions) {
    super(FERRY_CODES[details.s3Code] ?? "INTERNAL", message, options);
    this.name = "S3Error";
    this.s3Code = details.s3Code;
    this.status = details.status;
    this.key = details.key;
    this.requestId = details.requestId;
  }
}

/** Returns true when `err` is an {@linkcode S3Error}, optionally with the given S3 code. */
export function isS3Error(err: unknown, s3Code?: string): err is S3Error {
  return err instanceof S3Error && (s3Code === undefined || err.s3Code === s3Code);
}

/** The S3 code to assume for an HTTP status when the reply has no `<Error>` body. */
export function s3CodeForStatus(status: number): string {
  return CODES_BY_STATUS[status] ?? (status >= 500 ? "InternalError" : `Http${status}`);
}
