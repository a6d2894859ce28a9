/**
 * Turns errors from Deno's file-system calls into {@linkcode FerryError}s whose messages name
 * the client's path (quoted, escaped) and never the server's absolute root.
 *
 * Deno's own messages embed the absolute path (`stat '/srv/data/x'`), so they are never copied
 * into a FerryError message; the original error is kept as `cause` for the server's log. Client
 * paths are quoted with `quoteName` from `common/names.ts`.
 *
 * @module
 */

import { type ErrorCode, FerryError } from "../../protocol/errors.ts";
import { quoteName } from "../../common/names.ts";

/** What a Deno error's `code` (an errno name) means for ferry, with a message template. */
const BY_ERRNO: Readonly<Record<string, readonly [ErrorCode, string]>> = {
  ENOENT: ["NOT_FOUND", "no such file or directory"],
  EACCES: ["PERMISSION_DENIED", "permission denied"],
  EPERM: ["PERMISSION_DENIED", "operation not permitted"],
  EROFS: ["PERMISSION_DENIED", "the server's file system is read-only"],
  EEXIST: ["ALREADY_EXISTS", "already exists"],
  EISDIR: ["IS_A_DIRECTORY", "is a directory"],
  ENOTDIR: ["NOT_A_DIRECTORY", "not a directory (or a component of the path is not)"],
  ELOOP: ["OUTSIDE_ROOT", "refused: too many levels of symbolic links"],
  ENOSPC: ["NO_SPACE", "no space left on the server's device"],
  EDQUOT: ["NO_SPACE", "the server's disk quota is exceeded"],
  EFBIG: ["TOO_LARGE", "file too large for the server's file system"],
  ENAMETOOLONG: ["NAME_TOO_LONG", "file name too long"],
  ENOTEMPTY: ["NOT_EMPTY", "directory not empty"],
  EINVAL: ["BAD_ARGUMENT", "invalid operation (for example, moving a directory into itself)"],
  EMFILE: ["BUSY", "the server has too many open files; try again later"],
  ENFILE: ["BUSY", "the server has too many open files; try again later"],
};

/** The same meanings, for errors recognised by their `Deno.errors` class. */
const BY_CLASS: ReadonlyArray<readonly [new (...args: never[]) => Error, string]> = [
  [Deno.errors.NotFound, "ENOENT"],
  [Deno.errors.PermissionDenied, "EACCES"],
  [Deno.errors.NotCapable, "EACCES"],
  [Deno.errors.AlreadyExists, "EEXIST"],
  [Deno.errors.IsADirectory, "EISDIR"],
  [Deno.errors.NotADirectory, "ENOTDIR"],
  [Deno.errors.FilesystemLoop, "ELOOP"],
];

/** Errno-like name of `err`: its `code`, else one derived from its class or message. */
function errnoOf(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as Error & { code?: unknown }).code;
  if (err instanceof TypeError && /\bNUL\b/.test(err.message)) return "NUL";
  if (typeof code === "string" && code in BY_ERRNO) return code;
  for (const [cls, errno] of BY_CLASS) {
    if (err instanceof cls) return errno;
  }
  if (/file name too long/i.test(err.message)) return "ENAMETOOLONG";
  if (/directory not empty/i.test(err.message)) return "ENOTEMPTY";
  return typeof code === "string" ? code : undefined;
}

/**
 * Maps any error thrown by a Deno file-system call to a {@linkcode FerryError}.
 *
 * `clientPath` is the path as the client sent it; the message quotes it with
 * {@linkcode quoteName} and never contains the server's absolute paths. A FerryError is
 * returned unchanged. The mapping, by errno (`err.code`) or `Deno.errors` class:
 *
 * | error | code |
 * |---|---|
 * | `NotFound` / ENOENT | `NOT_FOUND` |
 * | `PermissionDenied`, `NotCapable` / EACCES, EPERM, EROFS | `PERMISSION_DENIED` |
 * | `AlreadyExists` / EEXIST | `ALREADY_EXISTS` |
 * | `IsADirectory` / EISDIR | `IS_A_DIRECTORY` |
 * | `NotADirectory` / ENOTDIR | `NOT_A_DIRECTORY` |
 * | `FilesystemLoop` / ELOOP (a symlink loop, or a refused symlink) | `OUTSIDE_ROOT` |
 * | ENOSPC, EDQUOT (a plain `Error` in Deno) | `NO_SPACE` |
 * | EFBIG | `TOO_LARGE` |
 * | ENAMETOOLONG, "File name too long" | `NAME_TOO_LONG` |
 * | ENOTEMPTY, "Directory not empty" | `NOT_EMPTY` |
 * | EMFILE, ENFILE | `BUSY` |
 * | `TypeError` about a NUL byte | `BAD_NAME` |
 * | anything else | `INTERNAL` |
 *
 * @example Usage
 * ```ts
 * import { fsError } from "./fs_errors.ts";
 * try {
 *   await Deno.stat("/srv/data/missing.txt");
 * } catch (err) {
 *   const e = fsError(err, "missing.txt"); // e.code === "NOT_FOUND"
 * }
 * ```
 */
export function fsError(err: unknown, clientPath: string): FerryError {
  if (err instanceof FerryError) return err;
  const quoted = quoteName(clientPath);
  const errno = errnoOf(err);
  const options = { cause: err };
  if (errno === "NUL") {
    return new FerryError("BAD_NAME", `${quoted}: contains a NUL byte`, options);
  }
  const known = errno === undefined ? undefined : BY_ERRNO[errno];
  if (known !== undefined) {
    const [code, what] = known;
    return new FerryError(code, `${quoted}: ${what}`, options);
  }
  const detail = errno !== undefined && /^E[A-Z0-9]+$/.test(errno) ? ` (${errno})` : "";
  return new FerryError("INTERNAL", `${quoted}: file system error${detail}`, options);
}
