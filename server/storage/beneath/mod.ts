/**
 * Race-free file-system access below one directory, for the server's storage layer.
 *
 * The data root is opened once as a directory descriptor ({@linkcode BeneathRoot}); every
 * later operation is relative to it, or to a descriptor reached from it, through Linux
 * `openat2(2)` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`,
 * `statx`, `mkdirat`, `unlinkat`, `renameat2`, `getdents64`, `futimens`, `pread`/`pwrite`
 * and `fsync`, called through `Deno.dlopen` of the C library. Symbolic links that stay inside
 * the root are followed by this layer one at a time (see `resolve.ts`), never by the kernel.
 *
 * What it guarantees: whatever a local user renames, exchanges or replaces in the tree during
 * an operation, the operation reads, writes, creates, removes, renames or lists only objects
 * that were below the root when the operation reached them. It does not stop a user who moves
 * a directory *out of* the root while an operation holds it (the operation finishes in that
 * directory, now elsewhere), nor hard links, bind mounts or mount points placed in the root by
 * someone allowed to make them.
 *
 * Where it runs: {@linkcode checkSupport} (Linux 5.6+, x86_64 or aarch64, `--allow-ffi`).
 * FFI is outside Deno's permission sandbox: with `--allow-ffi`, `--allow-read` and
 * `--allow-write` scopes no longer bound what the process can touch.
 *
 * @example Usage
 * ```ts ignore
 * import { BeneathRoot, isSupported } from "./mod.ts";
 * if (isSupported()) {
 *   const root = BeneathRoot.open("./data", { isHidden: (n) => n.startsWith(".ferry-") });
 *   const file = root.openFile(["docs", "report.pdf"]);
 *   const buf = new Uint8Array(256 * 1024);
 *   const n = await file.read(buf);
 *   await file.close();
 *   root.close();
 * }
 * ```
 *
 * @module
 */

export { BeneathRoot, type BeneathRootOptions, type ListedEntry } from "./root.ts";
export {
  BeneathDirectory,
  type CreateOptions,
  DEFAULT_DIR_MODE,
  DEFAULT_FILE_MODE,
} from "./directory.ts";
export { BeneathFile, SYNC_IO_MAX } from "./file.ts";
export { type FileKind, type FileStat } from "./statx.ts";
export { type DirentName } from "./dirents.ts";
export { checkSupport, findLibc, isSupported, LIBC_CANDIDATES, type Support } from "./support.ts";
