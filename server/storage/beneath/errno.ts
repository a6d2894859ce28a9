/**
 * Linux errno numbers (the same on x86_64 and aarch64) and their meaning for ferry.
 * {@linkcode errnoError} turns a failed call into a {@linkcode FerryError} whose message quotes
 * the client's path and never a server path.
 *
 * @module
 */

import { type ErrorCode, FerryError } from "../../../protocol/errors.ts";

/** The errno values this layer tells apart. */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  EBADF: 9,
  EAGAIN: 11,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ETXTBSY: 26,
  EFBIG: 27,
  ENOSPC: 28,
  EROFS: 30,
  EMLINK: 31,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  EOVERFLOW: 75,
  EOPNOTSUPP: 95,
  EDQUOT: 122,
} as const;

/** Name of an errno value, e.g. `"ENOENT"`, or `"errno N"` for one not listed above. */
export function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(ERRNO)) {
    if (value === errno) return name;
  }
  return `errno ${errno}`;
}

/**
 * What a call was doing when it failed. The same errno means different things: EXDEV from a
 * lookup (`RESOLVE_BENEATH`) is an escape, from `renameat2` a move across file systems.
 */
export type CallKind = "lookup" | "rename" | "other";

const BY_ERRNO: ReadonlyMap<number, readonly [ErrorCode, string]> = new Map([
  [ERRNO.ENOENT, ["NOT_FOUND", "no such file or directory"]],
  [ERRNO.EACCES, ["PERMISSION_DENIED", "permission denied"]],
  [ERRNO.EPERM, ["PERMISSION_DENIED", "operation not permitted"]],
  [ERRNO.EROFS, ["PERMISSION_DENIED", "the server's file system is read-only"]],
  [ERRNO.ETXTBSY, ["PERMISSION_DENIED", "the file is busy"]],
  [ERRNO.EBUSY, ["PERMISSION_DENIED", "the file is in use (a mount point?)"]],
  [ERRNO.EEXIST, ["ALREADY_EXISTS", "already exists"]],
  [ERRNO.EISDIR, ["IS_A_DIRECTORY", "is a directory"]],
  [ERRNO.ENOTDIR, ["NOT_A_DIRECTORY", "not a directory (or a component of the path is not)"]],
  [ERRNO.ELOOP, ["OUTSIDE_ROOT", "refused: too many levels of symbolic links"]],
  [ERRNO.ENOSPC, ["NO_SPACE", "no space left on the server's device"]],
  [ERRNO.EDQUOT, ["NO_SPACE", "the server's disk quota is exceeded"]],
  [ERRNO.EFBIG, ["TOO_LARGE", "file too large for the server's file system"]],
  [ERRNO.EOVERFLOW, ["TOO_LARGE", "file too large"]],
  [ERRNO.ENAMETOOLONG, ["NAME_TOO_LONG", "file name too long"]],
  [ERRNO.ENOTEMPTY, ["NOT_EMPTY", "directory not empty"]],
  [ERRNO.EMLINK, ["NO_SPACE", "too many entries in the directory"]],
  [ERRNO.EINVAL, [
    "BAD_ARGUMENT",
    "invalid operation (for example, moving a directory into itself)",
  ]],
  [ERRNO.EMFILE, ["BUSY", "the server has too many open files; try again later"]],
  [ERRNO.ENFILE, ["BUSY", "the server has too many open files; try again later"]],
  [ERRNO.EAGAIN, ["BUSY", "the file system was busy; try again"]],
]);

/** Returns the {@linkcode ErrorCode} for `errno` raised by a call of `kind`. */
export function errnoCode(errno: number, kind: CallKind): ErrorCode {
  if (errno === ERRNO.EXDEV) return kind === "rename" ? "BAD_ARGUMENT" : "OUTSIDE_ROOT";
  return BY_ERRNO.get(errno)?.[0] ?? "INTERNAL";
}

/**
 * A {@linkcode FerryError} for `errno`, raised by a call of `kind` on the client path
 * `shown` (already quoted for printing). The errno name is kept in the message only for
 * unexpected codes (`INTERNAL`), never a server path.
 */
export function errnoError(errno: number, kind: CallKind, shown: string): FerryError {
  if (errno === ERRNO.EXDEV) {
    return kind === "rename"
      ? new FerryError("BAD_ARGUMENT", `${shown}: cannot move across file systems`)
      : new FerryError("OUTSIDE_ROOT", `${shown}: leads outside the data root`);
  }
  const known = BY_ERRNO.get(errno);
  if (known !== undefined) return new FerryError(known[0], `${shown}: ${known[1]}`);
  return new FerryError("INTERNAL", `${shown}: file system error (${errnoName(errno)})`);
}
