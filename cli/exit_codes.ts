/**
 * Stable exit statuses of the `ferry` CLI, one per class of error.
 *
 * @module
 */

import type { ErrorCode } from "../protocol/errors.ts";

/** Exit status for each error code; anything unlisted exits 1. */
export const EXIT_CODES: Readonly<Partial<Record<ErrorCode, number>>> = {
  USAGE: 2,
  UNREACHABLE: 3,
  CONNECTION_CLOSED: 3,
  TIMEOUT: 3,
  BUSY: 3,
  SHUTTING_DOWN: 3,
  TLS: 4,
  UNAUTHENTICATED: 5,
  FORBIDDEN: 5,
  NOT_FOUND: 6,
  IS_A_DIRECTORY: 6,
  NOT_A_DIRECTORY: 6,
  ALREADY_EXISTS: 6,
  NOT_EMPTY: 6,
  PERMISSION_DENIED: 6,
  BAD_NAME: 7,
  OUTSIDE_ROOT: 7,
  NAME_TOO_LONG: 7,
  BAD_ARGUMENT: 7,
  CHECKSUM_MISMATCH: 8,
  NO_SPACE: 9,
  TOO_LARGE: 9,
  LOCAL_IO: 10,
  BAD_FRAME: 11,
  UNSUPPORTED: 11,
  UNSUPPORTED_VERSION: 11,
  UNKNOWN_REQUEST: 11,
  DUPLICATE_REQUEST: 11,
  CANCELLED: 12,
};

/** The exit status for an error code. */
export function exitCodeFor(code: ErrorCode): number {
  return EXIT_CODES[code] ?? 1;
}
