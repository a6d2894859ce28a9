/**
 * Stable error codes, shared by the wire (as 16-bit numbers) and the library (as names), and
 * the {@linkcode FerryError} that carries them.
 *
 * @module
 */

/** Every error code with its wire number. Numbers never change once published. */
export const ERROR_CODES = {
  /** A frame could not be parsed: lengths that lie, a truncated header, trailing garbage. */
  BAD_FRAME: 1,
  /** The service (Service_Type, Service_Num) is unknown to this peer. */
  UNSUPPORTED: 2,
  /** The frame's Version is outside the range this peer speaks. */
  UNSUPPORTED_VERSION: 3,
  /** A payload field is out of range or inconsistent (an offset past the end, an inner length). */
  BAD_ARGUMENT: 4,
  /** A path is malformed: empty, control characters, backslashes, reserved or invalid UTF-8. */
  BAD_NAME: 5,
  /** A path leads outside the data root (`..`, absolute, or a symlink pointing out). */
  OUTSIDE_ROOT: 6,
  /** No such file or directory. */
  NOT_FOUND: 7,
  /** The target exists and may not be replaced. */
  ALREADY_EXISTS: 8,
  /** A file was expected but the path names a directory. */
  IS_A_DIRECTORY: 9,
  /** A directory was expected but the path names something else. */
  NOT_A_DIRECTORY: 10,
  /** A path component is longer than 255 bytes, or the path longer than 4096. */
  NAME_TOO_LONG: 11,
  /** No valid token was presented; nothing else works on this connection. */
  UNAUTHENTICATED: 12,
  /** The token is valid but lacks the right for this operation. */
  FORBIDDEN: 13,
  /** The declared or transferred size exceeds a limit. */
  TOO_LARGE: 14,
  /** The server's disk or quota is full. */
  NO_SPACE: 15,
  /** The SHA-256 of the transferred bytes did not match; the result was discarded. */
  CHECKSUM_MISMATCH: 16,
  /** The operation was cancelled by the client. */
  CANCELLED: 17,
  /** The server is at a connection or request limit; try again later. */
  BUSY: 18,
  /** A deadline passed (handshake, authentication, idle). */
  TIMEOUT: 19,
  /** A frame names a request id that is not in flight. */
  UNKNOWN_REQUEST: 20,
  /** A request reuses the id of a request still in flight. */
  DUPLICATE_REQUEST: 21,
  /** A directory to delete is not empty. */
  NOT_EMPTY: 22,
  /** The server is shutting down and accepts no new operations. */
  SHUTTING_DOWN: 23,
  /** The file system refused access. */
  PERMISSION_DENIED: 24,
  /** An unexpected failure on the peer; the message says more. */
  INTERNAL: 25,
  /** The connection closed or broke before the operation finished (never sent on the wire). */
  CONNECTION_CLOSED: 100,
  /** The server's certificate did not verify, or TLS failed (never sent on the wire). */
  TLS: 101,
  /** A local file could not be read or written (never sent on the wire). */
  LOCAL_IO: 102,
  /** The client was called with bad options (never sent on the wire). */
  USAGE: 103,
  /** The server could not be reached: refused, unresolvable, timed out (never sent on the wire). */
  UNREACHABLE: 104,
} as const;

/** The name of an error code, e.g. `"NOT_FOUND"`. */
export type ErrorCode = keyof typeof ERROR_CODES;

const NAMES_BY_NUMBER: ReadonlyMap<number, ErrorCode> = new Map(
  (Object.entries(ERROR_CODES) as [ErrorCode, number][]).map(([name, n]) => [n, name]),
);

/** Returns the name for a wire error number, or `"INTERNAL"` for a number this version does not know. */
export function errorCodeName(n: number): ErrorCode {
  return NAMES_BY_NUMBER.get(n) ?? "INTERNAL";
}

/** An error with a stable {@linkcode ErrorCode}; what every ferry API throws on failure. */
export class FerryError extends Error {
  /** The stable code; match on this, not on the message. */
  readonly code: ErrorCode;

  /** Creates an error with `code` and a human-readable `message`. */
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FerryError";
    this.code = code;
  }
}

/** Returns true when `err` is a {@linkcode FerryError}, optionally with the given code. */
export function isFerryError(err: unknown, code?: ErrorCode): err is FerryError {
  return err instanceof FerryError && (code === undefined || err.code === code);
}
