/**
 * The client's classes of error codes, kept in this one place: the connection-level errors after
 * which the server closes the connection, the failures that leave a transfer resumable, and the
 * failures after which no connection can be had at all.
 *
 * PROTOCOL.md defines the first two classes, so they are facts of the protocol; they are listed
 * here until `protocol/errors.ts` carries them.
 *
 * @module
 */

import { type ErrorCode, FerryError } from "../protocol/errors.ts";

/** Connection-level (id 0) errors after which the server closes the connection. */
export const CONNECTION_ENDING_ERRORS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  "BUSY",
  "TIMEOUT",
  "BAD_FRAME",
  "SHUTTING_DOWN",
]);

/** Failures of the connection rather than of the data: a transfer they stop can resume. */
export const INTERRUPTIONS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  "CONNECTION_CLOSED",
  "UNREACHABLE",
  "TIMEOUT",
  "SHUTTING_DOWN",
]);

/**
 * Failures after which no connection can be had: an interruption that reconnecting could not
 * mend, or a server that refuses the connection (`TLS`, `UNAUTHENTICATED`).
 */
export const CONNECTION_FAILURES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ...INTERRUPTIONS,
  "TLS",
  "UNAUTHENTICATED",
]);

/** True for failures that leave a transfer resumable: the connection, not the data, failed. */
export function isInterruption(err: unknown): boolean {
  return err instanceof FerryError && INTERRUPTIONS.has(err.code);
}
