/**
 * Race-free lookup of a client path below the root's directory descriptor.
 *
 * Every step is an `openat2(2)` relative to a descriptor already known to be inside the root,
 * with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`: the kernel itself
 * refuses to leave the descriptor, and no symbolic link is ever followed by the kernel. So
 * whatever a local user renames, exchanges or replaces meanwhile, a lookup either ends on an
 * object that was below the root when it was reached, or fails.
 *
 * - **Fast path**: the whole path in one `openat2`. It succeeds whenever no component is a
 *   symbolic link, which is the common case (one system call).
 * - **Walk**: when the fast path meets a symbolic link (ELOOP), the path is walked one
 *   component at a time. A link is read with `readlinkat` and its target spliced into the
 *   remaining components; `..` returns to the descriptor of the directory walked before, so
 *   it can never climb above the root (an attempt is `OUTSIDE_ROOT`, even to come back in).
 *   An absolute target is followed only when it names the root's real path (recorded when
 *   the root was opened) or a path below it; the rest of it is then walked from the root
 *   descriptor, never from `/`. Names reached through a link that fall in the hidden
 *   namespace (the server's temporary files) are `NOT_FOUND`.
 *
 * These are the semantics of `server/paths.ts`'s `resolveExisting`, enforced by the kernel at
 * each step instead of checked on a path that is later reopened.
 *
 * @module
 */

import { FerryError } from "../../../protocol/errors.ts";
import { ERRNO, errnoError } from "./errno.ts";
import { type Libc, RESOLVE } from "./libc.ts";

/** Symbolic links followed in one lookup before it is refused (Linux's `MAXSYMLINKS`). */
export const MAX_LINKS = 40;

/** Retries of one `openat2` that the kernel answers with EAGAIN (a concurrent rename). */
const MAX_EAGAIN = 16;

/** Decodes link targets; stateless between calls (no streaming), so one serves every lookup. */
const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** The resolve flags of every lookup. */
export const RESOLVE_FLAGS = RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS;

/** What a lookup needs to know about its root. */
export interface LookupRoot {
  /** The C library of the calling thread. */
  readonly libc: Libc;
  /** Descriptor of the root directory. */
  readonly fd: number;
  /** Real absolute path of the root when it was opened, for absolute symbolic links only. */
  readonly realPath: string;
  /** Names that must not be reached through a symbolic link (the temporary namespace). */
  readonly isHidden: (name: string) => boolean;
}

/**
 * Quotes a client path for messages: its components joined with `/` (`.` for the root) as a
 * JSON string, with DEL, C1 and format characters escaped too.
 */
export function showPath(components: readonly string[]): string {
  const text = components.length === 0 ? "." : components.join("/");
  return JSON.stringify(text).replace(
    /[\u007f-\u009f\p{Cf}\u2028\u2029]/gu,
    (c) => `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, "0")}`,
  );
}

/**
 * Checks that each component is one plain name: not empty, not `.` or `..`, without `/` or
 * NUL. Client paths arrive here already parsed; this is the layer's own guard.
 *
 * @throws {FerryError} `BAD_NAME` otherwise.
 */
export function checkComponents(components: readonly string[]): void {
  for (const c of components) {
    if (c === "" || c === "." || c === ".." || c.includes("/") || c.includes("\0")) {
      throw new FerryError("BAD_NAME", `${showPath(components)}: not a plain relative path`);
    }
  }
}

/** `openat2` with the lookup's resolve flags, retried while the kernel answers EAGAIN. */
function openStep(root: LookupRoot, dirfd: number, path: string, flags: number, mode: number) {
  let fd = -ERRNO.EAGAIN;
  for (let i = 0; i < MAX_EAGAIN && fd === -ERRNO.EAGAIN; i++) {
    fd = root.libc.openat2(dirfd, path, flags | root.libc.flags.O_CLOEXEC, mode, RESOLVE_FLAGS);
  }
  return fd;
}

/** One component still to walk, and whether it came out of a symbolic link's target. */
interface Pending {
  readonly name: string;
  readonly viaLink: boolean;
}

/** Components of `target` below `realRoot`, `[]` for the root, or undefined when outside. */
function belowRoot(realRoot: string, target: string): string[] | undefined {
  const parts = target.split("/").filter((p) => p !== "" && p !== ".");
  const rootParts = realRoot.split("/").filter((p) => p !== "");
  if (parts.length < rootParts.length) return undefined;
  for (let i = 0; i < rootParts.length; i++) {
    if (parts[i] !== rootParts[i]) return undefined;
  }
  return parts.slice(rootParts.length);
}

/**
 * Opens `components` below `root`, following symbolic links that stay inside, and returns the
 * new descriptor (the caller closes it). `flags` and `mode` apply to the final object: pass
 * `O_PATH` for a lookup, `O_RDONLY | O_DIRECTORY` for a directory, `O_RDONLY` for a file.
 * `O_CLOEXEC` is always added.
 *
 * @throws {FerryError} `OUTSIDE_ROOT` when the path leads out of the root (by a link, `..` in a
 * link, an absolute link elsewhere, or a link loop); `NOT_FOUND`; `NOT_A_DIRECTORY` when a
 * middle component is not a directory; `BAD_NAME` for components that are not plain names;
 * others from the final open (`IS_A_DIRECTORY`, `PERMISSION_DENIED`...).
 */
export function openBeneath(
  root: LookupRoot,
  components: readonly string[],
  flags: number,
  mode = 0,
): number {
  checkComponents(components);
  const path = components.length === 0 ? "." : components.join("/");
  const fd = openStep(root, root.fd, path, flags, mode);
  if (fd >= 0) return fd;
  if (fd !== -ERRNO.ELOOP) throw errnoError(-fd, "lookup", showPath(components));
  return walk(root, components, flags, mode);
}

/** The component-by-component walk, for paths that meet a symbolic link. */
function walk(
  root: LookupRoot,
  components: readonly string[],
  flags: number,
  mode: number,
): number {
  const shown = showPath(components);
  const { libc } = root;
  const dirs: number[] = []; // descriptors of the directories walked, innermost last
  const pending: Pending[] = components.map((name) => ({ name, viaLink: false })).reverse();
  let links = 0;
  const current = () => dirs.at(-1) ?? root.fd;
  const closeAll = () => {
    for (const d of dirs.splice(0)) libc.close(d);
  };

  /** Splices the target of the link `name` (in the current directory) into `pending`. */
  const expand = (name: string): void => {
    if (++links > MAX_LINKS) {
      throw new FerryError("OUTSIDE_ROOT", `${shown}: too many levels of symbolic links`);
    }
    const target = libc.readlinkat(current(), name);
    if (target === -ERRNO.EINVAL) {
      // No longer a link (replaced meanwhile): look the name up again.
      pending.push({ name, viaLink: false });
      return;
    }
    if (typeof target === "number") throw errnoError(-target, "lookup", shown);
    let text: string;
    try {
      text = UTF8.decode(target);
    } catch {
      throw new FerryError("NOT_FOUND", `${shown}: a symbolic link's target is not valid UTF-8`);
    }
    let parts: string[];
    if (text.startsWith("/")) {
      const below = belowRoot(root.realPath, text);
      if (below === undefined) {
        throw new FerryError(
          "OUTSIDE_ROOT",
          `${shown}: is a symbolic link that leads outside the data root`,
        );
      }
      closeAll();
      parts = below;
    } else {
      parts = text.split("/").filter((p) => p !== "" && p !== ".");
    }
    for (let i = parts.length - 1; i >= 0; i--) pending.push({ name: parts[i], viaLink: true });
  };

  try {
    while (pending.length > 0) {
      const { name, viaLink } = pending.pop() as Pending;
      if (name === "..") {
        const up = dirs.pop();
        if (up === undefined) {
          throw new FerryError(
            "OUTSIDE_ROOT",
            `${shown}: is a symbolic link that leads outside the data root`,
          );
        }
        libc.close(up);
        continue;
      }
      if (viaLink && root.isHidden(name)) {
        throw new FerryError("NOT_FOUND", `${shown}: no such file or directory`);
      }
      const last = pending.length === 0;
      const stepFlags = last ? flags : libc.flags.O_PATH | libc.flags.O_DIRECTORY;
      const fd = openStep(root, current(), name, stepFlags, last ? mode : 0);
      if (fd >= 0) {
        if (last) return fd;
        dirs.push(fd);
      } else if (fd === -ERRNO.ELOOP) {
        expand(name);
      } else {
        throw errnoError(-fd, "lookup", shown);
      }
    }
    // The path ended on a directory already walked (the root, or after a `..`).
    const fd = openStep(root, current(), ".", flags, mode);
    if (fd < 0) throw errnoError(-fd, "lookup", shown);
    return fd;
  } finally {
    closeAll();
  }
}
