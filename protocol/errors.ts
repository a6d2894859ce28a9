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
  /** A path component is longer than 255 bytes, or the path longer than 4095. */
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

/**
 * Classes of error codes, as data. Each class is a fact one part of ferry decides on; the
 * predicates below read these lists, so a class is written once.
 */
export const ERROR_CLASSES = {
  /**
   * Sent with request id 0, these end the connection (PROTOCOL.md §2.2): the server closes it
   * after sending one, and a client fails every request in flight with it. Other id-0 errors
   * (a frame too short to carry an id) leave requests alone.
   */
  endsConnection: ["BUSY", "TIMEOUT", "BAD_FRAME", "SHUTTING_DOWN"],
  /**
   * The connection, not the data, failed: a transfer that fails with one of these is resumable,
   * and a client may reconnect and retry.
   */
  interruption: ["CONNECTION_CLOSED", "UNREACHABLE", "TIMEOUT", "SHUTTING_DOWN"],
  /**
   * The client cannot go on with this server: an interruption (that reconnecting did not mend),
   * a TLS failure, or a refused token. A multi-file transfer stops at the first of these instead
   * of trying the remaining files.
   */
  sessionFailure: [
    "CONNECTION_CLOSED",
    "UNREACHABLE",
    "TIMEOUT",
    "SHUTTING_DOWN",
    "TLS",
    "UNAUTHENTICATED",
  ],
  /**
   * Refusals that only a broken or hostile client provokes; the server charges each to the
   * connection's flood budget. Outcomes of real work (NOT_FOUND, NOT_EMPTY...) are not in it.
   */
  refusal: [
    "BAD_FRAME",
    "UNSUPPORTED",
    "UNSUPPORTED_VERSION",
    "BAD_ARGUMENT",
    "BAD_NAME",
    "OUTSIDE_ROOT",
    "NAME_TOO_LONG",
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "UNKNOWN_REQUEST",
    "DUPLICATE_REQUEST",
  ],
} as const satisfies Record<string, readonly ErrorCode[]>;

/** The name of a class of error codes in {@linkcode ERROR_CLASSES}. */
export type ErrorClass = keyof typeof ERROR_CLASSES;

const CLASS_SETS: { readonly [C in ErrorClass]: ReadonlySet<ErrorCode> } = {
  endsConnection: new Set(ERROR_CLASSES.endsConnection),
  interruption: new Set(ERROR_CLASSES.interruption),
  sessionFailure: new Set(ERROR_CLASSES.sessionFailure),
  refusal: new Set(ERROR_CLASSES.refusal),
};

/** Returns true when `code` belongs to the class `cls` of {@linkcode ERROR_CLASSES}. */
export function inClass(cls: ErrorClass, code: ErrorCode): boolean {
  return CLASS_SETS[cls].has(code);
}

/**
 * Returns true when an ERROR frame ends the connection: request id 0 and a code of the
 * `endsConnection` class (PROTOCOL.md §2.2).
 */
export function endsConnection(error: { readonly id: number; readonly code: ErrorCode }): boolean {
  return error.id === 0 && inClass("endsConnection", error.code);
}

/**
 * Returns true when `err` is a {@linkcode FerryError} of the `interruption` class: the
 * connection failed, not the data, so the transfer can be resumed.
 */
export function isInterruption(err: unknown): boolean {
  return err instanceof FerryError && inClass("interruption", err.code);
}

/**
 * Returns true when `err` is a {@linkcode FerryError} of the `sessionFailure` class: the client
 * cannot go on with this server.
 */
export function isSessionFailure(err: unknown): boolean {
  return err instanceof FerryError && inClass("sessionFailure", err.code);
}

/** Returns true when a request refused with `code` counts against the flood budget. */
export function isRefusal(code: ErrorCode): boolean {
  return inClass("refusal", code);
}

/** The message of `err` when it is an `Error`, else `err` as a string. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
