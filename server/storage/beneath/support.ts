/**
 * Whether the race-free layer can run here: Linux with `openat2` (kernel 5.6 or later, and not
 * refused by a seccomp filter, as some container runtimes did), on x86_64 or aarch64, with
 * FFI permitted (`--allow-ffi`). Elsewhere the server uses its portable path-based storage.
 *
 * @module
 */

import { ERRNO, errnoName } from "./errno.ts";
import { DEFAULT_LIBC, Libc, RESOLVE } from "./libc.ts";
import { messageOf } from "../../../protocol/errors.ts";

/**
 * Where glibc's `libc.so.6` lives on the common distributions (Debian and Ubuntu with their
 * multiarch directories, merged `/usr` or not; Fedora, RHEL and SUSE; Arch), for x86_64 and
 * aarch64. The `serve` task grants FFI for exactly these paths (`--allow-ffi=...`), so
 * {@linkcode findLibc} picks the one granted.
 */
export const LIBC_CANDIDATES: readonly string[] = [
  "/lib/x86_64-linux-gnu/libc.so.6",
  "/usr/lib/x86_64-linux-gnu/libc.so.6",
  "/lib/aarch64-linux-gnu/libc.so.6",
  "/usr/lib/aarch64-linux-gnu/libc.so.6",
  "/lib64/libc.so.6",
  "/usr/lib64/libc.so.6",
  "/usr/lib/libc.so.6",
];

/**
 * The C library to load: the first of {@linkcode LIBC_CANDIDATES} that FFI is granted for and
 * that exists, else {@linkcode DEFAULT_LIBC} (found by the loader, which needs an unscoped
 * `--allow-ffi`). Queries permissions, never prompts; reads nothing without `--allow-read`.
 */
export function findLibc(): string {
  for (const path of LIBC_CANDIDATES) {
    if (Deno.permissions.querySync({ name: "ffi", path }).state !== "granted") continue;
    if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") return path;
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not on this system
    }
  }
  return DEFAULT_LIBC;
}

/** The answer of {@linkcode checkSupport}. */
export type Support =
  | { readonly supported: true }
  | { readonly supported: false; readonly reason: string };

/**
 * Checks, without side effects beyond loading and unloading the C library, whether
 * `BeneathRoot` can be used; says why not otherwise. `libraryPath` is the C library to load
 * (default {@linkcode findLibc}); FFI permission is queried, never prompted for.
 *
 * @example Usage
 * ```ts
 * import { checkSupport } from "./support.ts";
 * const support = checkSupport();
 * if (!support.supported) console.log(`path-based storage: ${support.reason}`);
 * ```
 */
export function checkSupport(libraryPath: string = findLibc()): Support {
  if (Deno.build.os !== "linux") {
    return { supported: false, reason: `openat2 is Linux-only (this is ${Deno.build.os})` };
  }
  const query: Deno.PermissionDescriptor = libraryPath.includes("/")
    ? { name: "ffi", path: libraryPath }
    : { name: "ffi" };
  if (Deno.permissions.querySync(query).state !== "granted") {
    return { supported: false, reason: `FFI is not permitted (run with --allow-ffi)` };
  }
  let libc: Libc;
  try {
    libc = Libc.open(libraryPath);
  } catch (err) {
    return { supported: false, reason: `cannot load the C library: ${messageOf(err)}` };
  }
  try {
    const f = libc.flags;
    const fd = libc.openat2(-100, "/", f.O_PATH | f.O_DIRECTORY | f.O_CLOEXEC, 0, 0);
    if (fd < 0) {
      const why = -fd === ERRNO.ENOSYS ? "kernel older than 5.6" : errnoName(-fd);
      return { supported: false, reason: `openat2 is unavailable (${why})` };
    }
    try {
      const probe = libc.openat2(fd, "..", f.O_PATH | f.O_CLOEXEC, 0, RESOLVE.BENEATH);
      if (probe >= 0) {
        libc.close(probe);
        return { supported: false, reason: "openat2 ignored RESOLVE_BENEATH" };
      }
      if (-probe !== ERRNO.EXDEV) {
        return { supported: false, reason: `RESOLVE_BENEATH answered ${errnoName(-probe)}` };
      }
    } finally {
      libc.close(fd);
    }
    return { supported: true };
  } finally {
    libc.release();
  }
}

/** True when {@linkcode checkSupport} says the race-free layer can be used. */
export function isSupported(libraryPath: string = findLibc()): boolean {
  return checkSupport(libraryPath).supported;
}
