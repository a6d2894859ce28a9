/**
 * {@linkcode BeneathDirectory}: an open directory below the root, and the operations on one
 * *name* in it. Every call is relative to the directory's descriptor and acts on the name
 * itself: a symbolic link there is created, removed, renamed or listed as a link, never
 * followed. So once a directory is open, what a local user renames elsewhere cannot redirect
 * these calls; a directory moved out of the root while open is still the same directory (as
 * with Go's `os.Root`), which is why callers re-open before a late commit.
 *
 * Metadata calls are synchronous FFI calls (microseconds on a local disk, like the
 * `Deno.lstatSync` batches of listing); fsync and close run on the blocking pool. Removing or
 * replacing a file keeps a descriptor on it across the `unlinkat`/`renameat2`, so that freeing
 * its blocks (0.4 s for 1 GiB measured here) happens at the pool-side close, not on the event
 * loop.
 *
 * @module
 */

import { FerryError } from "../../../protocol/errors.ts";
import { type DirentName, parseDirents, type RawDirentName } from "./dirents.ts";
import { ERRNO, errnoError } from "./errno.ts";
import { BeneathFile, statFd } from "./file.ts";
import { AT, type Libc, RENAME, STATX_BASIC_STATS, STATX_SIZE } from "./libc.ts";
import { RESOLVE_FLAGS, showPath } from "./resolve.ts";
import { decodeStatx, type FileStat } from "./statx.ts";

/** Bytes asked of one `getdents64` call. */
const DIRENT_BUFFER = 64 * 1024;

/** Default permission bits of created files (before the umask). */
export const DEFAULT_FILE_MODE = 0o644;
/** Default permission bits of created directories (before the umask). */
export const DEFAULT_DIR_MODE = 0o777;

/** How {@linkcode BeneathDirectory.createFile} creates. */
export interface CreateOptions {
  /** Permission bits (default {@linkcode DEFAULT_FILE_MODE}, before the umask). */
  readonly mode?: number;
  /** Open for reading too (default false: write only). */
  readonly read?: boolean;
}

/** An open directory below the root. Close it exactly once. */
export class BeneathDirectory {
  readonly #libc: Libc;
  #fd: number;
  readonly #components: readonly string[];
  #direntBuffer: Uint8Array | null = null;
  #ended = false;

  /**
   * Wraps `fd` (owned from now on), a directory opened with `O_RDONLY | O_DIRECTORY` reached
   * by the client path `components`.
   */
  constructor(libc: Libc, fd: number, components: readonly string[]) {
    this.#libc = libc;
    this.#fd = fd;
    this.#components = components;
    libc.retain();
  }

  /** The client path of this directory, as components (`[]` for the root). */
  get components(): readonly string[] {
    return this.#components;
  }

  /** The descriptor; throws after {@linkcode BeneathDirectory.close}. */
  get fd(): number {
    if (this.#fd < 0) {
      throw new FerryError("INTERNAL", `${this.#shown()}: directory already closed`);
    }
    return this.#fd;
  }

  #shown(name?: string): string {
    return showPath(name === undefined ? this.#components : [...this.#components, name]);
  }

  #checkName(name: string): void {
    if (name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0")) {
      throw new FerryError("BAD_NAME", `${this.#shown()}: ${JSON.stringify(name)} is not a name`);
    }
  }

  /** Metadata of the directory itself. */
  stat(): FileStat {
    return statFd(this.#libc, this.fd, this.#shown());
  }

  /**
   * Reads the next batch of names (one `getdents64` call), or null once all were read.
   * `.`, `..` and names that are not valid UTF-8 are left out. The kind comes from the
   * directory entry and may be `"unknown"`; {@linkcode BeneathDirectory.lstat} tells.
   */
  readNames(): DirentName[] | null {
    return this.readEntries()?.names ?? null;
  }

  /**
   * Like {@linkcode BeneathDirectory.readNames}, but also returns the names that are not
   * valid UTF-8, as bytes ({@linkcode BeneathDirectory.lstatBytes} describes them). A batch
   * may hold only such names.
   */
  readEntries(): { names: DirentName[]; invalid: RawDirentName[] } | null {
    if (this.#ended) return null;
    this.#direntBuffer ??= new Uint8Array(DIRENT_BUFFER);
    for (;;) {
      const n = this.#libc.getdents64(this.fd, this.#direntBuffer);
      if (n < 0) throw errnoError(-n, "other", this.#shown());
      if (n === 0) {
        this.#ended = true;
        this.#direntBuffer = null;
        return null;
      }
      const { entries, invalid } = parseDirents(this.#direntBuffer, n);
      if (entries.length > 0 || invalid.length > 0) return { names: entries, invalid };
    }
  }

  /** Metadata of the entry `name` itself (a symbolic link is described, not followed). */
  lstat(name: string): FileStat {
    this.#checkName(name);
    const buf = new Uint8Array(STATX_SIZE);
    const r = this.#libc.statx(this.fd, name, AT.SYMLINK_NOFOLLOW, STATX_BASIC_STATS, buf);
    if (r < 0) throw errnoError(-r, "other", this.#shown(name));
    return decodeStatx(buf);
  }

  /**
   * As {@linkcode BeneathDirectory.lstat}, but `null` when there is no entry `name` (`ENOENT`),
   * without building an error: an upload to a new name asks this once per file.
   */
  lstatIfAny(name: string): FileStat | null {
    this.#checkName(name);
    const buf = new Uint8Array(STATX_SIZE);
    const r = this.#libc.statx(this.fd, name, AT.SYMLINK_NOFOLLOW, STATX_BASIC_STATS, buf);
    if (r === -ERRNO.ENOENT) return null;
    if (r < 0) throw errnoError(-r, "other", this.#shown(name));
    return decodeStatx(buf);
  }

  /**
   * Metadata of the entry whose name is the bytes `name` (one that is not valid UTF-8, from
   * {@linkcode BeneathDirectory.readEntries}); a symbolic link is described, not followed.
   */
  lstatBytes(name: Uint8Array): FileStat {
    const buf = new Uint8Array(STATX_SIZE);
    const r = this.#libc.statxBytes(this.fd, name, AT.SYMLINK_NOFOLLOW, STATX_BASIC_STATS, buf);
    if (r < 0) throw errnoError(-r, "other", `${this.#shown()}: an entry`);
    return decodeStatx(buf);
  }

  /**
   * Opens the directory `name` in this one. A symbolic link there is refused
   * (`OUTSIDE_ROOT`: never followed here); anything but a directory is `NOT_A_DIRECTORY`.
   */
  openDirectory(name: string): BeneathDirectory {
    this.#checkName(name);
    const f = this.#libc.flags;
    const fd = this.#libc.openat2(
      this.fd,
      name,
      f.O_RDONLY | f.O_DIRECTORY | f.O_CLOEXEC,
      0,
      RESOLVE_FLAGS,
    );
    if (fd === -ERRNO.ELOOP) {
      throw new FerryError("OUTSIDE_ROOT", `${this.#shown(name)}: is a symbolic link`);
    }
    if (fd < 0) throw errnoError(-fd, "other", this.#shown(name));
    return new BeneathDirectory(this.#libc, fd, [...this.#components, name]);
  }

  /**
   * Creates the file `name` exclusively (`O_CREAT | O_EXCL`: an existing name, a symbolic
   * link included, is `ALREADY_EXISTS`) and opens it for writing.
   */
  createFile(name: string, options: CreateOptions = {}): BeneathFile {
    this.#checkName(name);
    const f = this.#libc.flags;
    const access = options.read ? f.O_RDWR : f.O_WRONLY;
    const fd = this.#libc.openat2(
      this.fd,
      name,
      access | f.O_CREAT | f.O_EXCL | f.O_CLOEXEC,
      options.mode ?? DEFAULT_FILE_MODE,
      RESOLVE_FLAGS,
    );
    if (fd < 0) throw errnoError(-fd, "other", this.#shown(name));
    return new BeneathFile(this.#libc, fd, this.#shown(name));
  }

  /**
   * Opens the existing regular file `name` for reading, or reading and writing. A symbolic
   * link is refused (`OUTSIDE_ROOT`: not followed here), and so is anything but a regular
   * file (`IS_A_DIRECTORY`, or `BAD_ARGUMENT` for a FIFO, socket or device, which is opened
   * without waiting and closed at once).
   */
  openFile(name: string, options: { write?: boolean } = {}): BeneathFile {
    this.#checkName(name);
    const f = this.#libc.flags;
    const access = options.write ? f.O_RDWR : f.O_RDONLY;
    const fd = this.#libc.openat2(
      this.fd,
      name,
      access | f.O_NONBLOCK | f.O_NOCTTY | f.O_CLOEXEC,
      0,
      RESOLVE_FLAGS,
    );
    if (fd === -ERRNO.ELOOP) {
      throw new FerryError("OUTSIDE_ROOT", `${this.#shown(name)}: is a symbolic link`);
    }
    if (fd < 0) throw errnoError(-fd, "other", this.#shown(name));
    return requireRegular(this.#libc, fd, this.#shown(name));
  }

  /** Creates the directory `name`. */
  mkdir(name: string, mode: number = DEFAULT_DIR_MODE): void {
    this.#checkName(name);
    const r = this.#libc.mkdirat(this.fd, name, mode);
    if (r < 0) throw errnoError(-r, "other", this.#shown(name));
  }

  /**
   * Holds a descriptor on `name` when it is a regular file, so that dropping its last link
   * does not free its blocks on the event loop; -1 when it is anything else or gone.
   */
  #holdFile(name: string): number {
    const fd = this.#libc.openat2(
      this.fd,
      name,
      this.#libc.flags.O_PATH | this.#libc.flags.O_CLOEXEC,
      0,
      RESOLVE_FLAGS,
    );
    if (fd < 0) return -1;
    const info = statFd(this.#libc, fd, this.#shown(name));
    if (info.kind === "file") return fd;
    this.#libc.close(fd);
    return -1;
  }

  /**
   * Removes `name`: a file or symbolic link (the link itself), or an empty directory.
   * Returns what was removed, as it was just before.
   */
  async remove(name: string): Promise<FileStat> {
    const info = this.lstat(name);
    const held = info.kind === "file" ? this.#holdFile(name) : -1;
    try {
      let flags = info.kind === "dir" ? AT.REMOVEDIR : 0;
      let r = this.#libc.unlinkat(this.fd, name, flags);
      if (r === -ERRNO.EISDIR || (r === -ERRNO.ENOTDIR && flags !== 0)) {
        // The entry changed kind since the lstat: remove whatever is there now.
        flags ^= AT.REMOVEDIR;
        r = this.#libc.unlinkat(this.fd, name, flags);
      }
      if (r < 0) throw errnoError(-r, "other", this.#shown(name));
      return info;
    } finally {
      if (held >= 0) await this.#libc.closeAsync(held);
    }
  }

  /**
   * Renames `name` to `toName` in `to` (this directory by default). With `replace` an
   * existing file at the target is replaced atomically (`rename(2)`: a file cannot replace a
   * directory, a directory only an empty one); without it an existing target is
   * `ALREADY_EXISTS` (`RENAME_NOREPLACE`, atomic too).
   */
  async rename(
    name: string,
    toName: string,
    options: { to?: BeneathDirectory; replace?: boolean } = {},
  ): Promise<void> {
    this.#checkName(name);
    const to = options.to ?? this;
    to.#checkName(toName);
    const held = options.replace ? to.#holdFile(toName) : -1;
    try {
      const r = this.#libc.renameat2(
        this.fd,
        name,
        to.fd,
        toName,
        options.replace ? 0 : RENAME.NOREPLACE,
      );
      if (r < 0) {
        const aboutTarget = r === -ERRNO.EEXIST || r === -ERRNO.ENOTEMPTY ||
          r === -ERRNO.EISDIR;
        throw errnoError(-r, "rename", aboutTarget ? to.#shown(toName) : this.#shown(name));
      }
    } finally {
      if (held >= 0) await this.#libc.closeAsync(held);
    }
  }

  /**
   * Exchanges the entries `name` and `other` of this directory atomically
   * (`renameat2(RENAME_EXCHANGE)`): each name then holds what the other held, whatever it is.
   * Returns `"missing"` when one of them does not exist, `"unsupported"` when the file system
   * cannot exchange (the caller falls back to a plain rename).
   */
  exchange(name: string, other: string): "exchanged" | "missing" | "unsupported" {
    this.#checkName(name);
    this.#checkName(other);
    const r = this.#libc.renameat2(this.fd, name, this.fd, other, RENAME.EXCHANGE);
    if (r === 0) return "exchanged";
    if (r === -ERRNO.ENOENT) return "missing";
    if (r === -ERRNO.EINVAL || r === -ERRNO.EOPNOTSUPP) return "unsupported";
    throw errnoError(-r, "rename", this.#shown(other));
  }

  /** Flushes the directory's entries to disk (`fsync` of the directory). */
  async sync(): Promise<void> {
    const r = await this.#libc.fsyncAsync(this.fd);
    if (r < 0) {
      throw new FerryError(
        "INTERNAL",
        `${this.#shown()}: could not be flushed to disk (fsync failed)`,
      );
    }
  }

  /** Closes the descriptor. Safe to call twice. */
  close(): void {
    if (this.#fd < 0) return;
    this.#libc.close(this.#fd);
    this.#fd = -1;
    this.#libc.release();
  }
}

/**
 * Wraps `fd` as a {@linkcode BeneathFile} when it is a regular file; otherwise closes it and
 * throws `IS_A_DIRECTORY` or `BAD_ARGUMENT`.
 */
export function requireRegular(libc: Libc, fd: number, shown: string): BeneathFile {
  let info: FileStat;
  try {
    info = statFd(libc, fd, shown);
  } catch (err) {
    libc.close(fd);
    throw err;
  }
  if (info.kind === "file") return new BeneathFile(libc, fd, shown);
  libc.close(fd);
  if (info.kind === "dir") throw new FerryError("IS_A_DIRECTORY", `${shown}: is a directory`);
  throw new FerryError("BAD_ARGUMENT", `${shown}: is not a regular file`);
}
