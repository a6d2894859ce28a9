/**
 * {@linkcode BeneathRoot}: the data root, opened once as a directory descriptor, and every
 * operation on a client path relative to it. Paths are arrays of plain components (as
 * `parsePath` returns them; `[]` is the root); no absolute server path is ever built or
 * opened after {@linkcode BeneathRoot.open}.
 *
 * Symbolic-link semantics (those of `server/paths.ts`):
 * - links inside the root that point inside are followed for every component that is looked
 *   up (`stat`, `openFile`, `openDirectory`, `list`, and the *parent* of the operations
 *   below); a link that leads out, or passes out to come back, is `OUTSIDE_ROOT`;
 * - the final component of `mkdir`, `remove`, `rename` (both ends) and file creation is never
 *   followed: a link there is created over, removed or renamed as a link;
 * - {@linkcode BeneathRoot.lstat} describes a final link without following it.
 *
 * @module
 */

import { FerryError } from "../../../protocol/errors.ts";
import { BeneathDirectory, DEFAULT_DIR_MODE, requireRegular } from "./directory.ts";
import { errnoError } from "./errno.ts";
import { type BeneathFile, statFd } from "./file.ts";
import { Libc } from "./libc.ts";
import { findLibc } from "./support.ts";
import { checkComponents, type LookupRoot, openBeneath, showPath } from "./resolve.ts";
import type { FileStat } from "./statx.ts";
import { nextTurn } from "../next_turn.ts";

/** Options of {@linkcode BeneathRoot.open}. */
export interface BeneathRootOptions {
  /**
   * Names that must not be reached through a symbolic link (the server's temporary files):
   * such a lookup is `NOT_FOUND`. Default: none.
   */
  readonly isHidden?: (name: string) => boolean;
  /** The C library to load (default: `findLibc()`); see `checkSupport`. */
  readonly libraryPath?: string;
}

/** One listed entry: its name and its own metadata (links described, not followed). */
export interface ListedEntry {
  /** The entry's name. */
  readonly name: string;
  /** Its metadata, from `statx` without following a final link. */
  readonly stat: FileStat;
}

/** Entries stat'ed between two turns of the event loop while listing. */
const LIST_BATCH = 512;

/** The data root, by descriptor. Create with {@linkcode BeneathRoot.open}; close once. */
export class BeneathRoot {
  readonly #libc: Libc;
  readonly #lookup: LookupRoot;
  #closed = false;

  private constructor(libc: Libc, lookup: LookupRoot) {
    this.#libc = libc;
    this.#lookup = lookup;
  }

  /**
   * Opens the directory `path` as the root. `path` comes from the server's configuration
   * (trusted); it is opened once, and its real path recorded only to follow absolute
   * symbolic links that point into it.
   *
   * @throws {Error} when FFI or the C library is unavailable (see `isSupported`), or when
   * `path` is not a directory or changed while being opened.
   */
  static open(path: string, options: BeneathRootOptions = {}): BeneathRoot {
    const libc = Libc.open(options.libraryPath ?? findLibc());
    try {
      const f = libc.flags;
      const fd = libc.openat2(-100, path, f.O_RDONLY | f.O_DIRECTORY | f.O_CLOEXEC, 0, 0);
      if (fd < 0) throw errnoError(-fd, "other", "the data root");
      try {
        const realPath = Deno.realPathSync(path);
        const opened = statFd(libc, fd, "the data root");
        const named = Deno.statSync(realPath);
        if (named.ino !== opened.ino || named.dev !== opened.dev) {
          throw new Error("the data root changed while it was being opened");
        }
        return new BeneathRoot(libc, {
          libc,
          fd,
          realPath,
          isHidden: options.isHidden ?? (() => false),
        });
      } catch (err) {
        libc.close(fd);
        throw err;
      }
    } catch (err) {
      libc.release();
      throw err;
    }
  }

  /** The root's real path when it was opened (for logs; never sent to a client). */
  get realPath(): string {
    return this.#lookup.realPath;
  }

  #check(): void {
    if (this.#closed) throw new FerryError("INTERNAL", "the data root is closed");
  }

  /** Opens the parent of `components` (which must name something below the root). */
  #parent(components: readonly string[]): { dir: BeneathDirectory; name: string } {
    this.#check();
    checkComponents(components);
    const name = components.at(-1);
    if (name === undefined) throw new FerryError("BAD_NAME", `".": names the root itself`);
    return { dir: this.openDirectory(components.slice(0, -1)), name };
  }

  /** Metadata of what `components` leads to, links inside the root followed. */
  stat(components: readonly string[]): FileStat {
    this.#check();
    const fd = openBeneath(this.#lookup, components, this.#libc.flags.O_PATH);
    try {
      return statFd(this.#libc, fd, showPath(components));
    } finally {
      this.#libc.close(fd);
    }
  }

  /** Metadata of `components` itself: a final symbolic link is described, not followed. */
  lstat(components: readonly string[]): FileStat {
    if (components.length === 0) return this.stat(components);
    const { dir, name } = this.#parent(components);
    try {
      return dir.lstat(name);
    } finally {
      dir.close();
    }
  }

  /**
   * Opens the regular file `components` for reading (links inside the root followed).
   * Anything but a regular file is refused without blocking: `IS_A_DIRECTORY`, or
   * `BAD_ARGUMENT` for a FIFO, socket or device.
   */
  openFile(components: readonly string[]): BeneathFile {
    this.#check();
    const f = this.#libc.flags;
    const fd = openBeneath(this.#lookup, components, f.O_RDONLY | f.O_NONBLOCK | f.O_NOCTTY);
    return requireRegular(this.#libc, fd, showPath(components));
  }

  /** Opens the directory `components` (links inside the root followed). */
  openDirectory(components: readonly string[]): BeneathDirectory {
    this.#check();
    const f = this.#libc.flags;
    const fd = openBeneath(this.#lookup, components, f.O_RDONLY | f.O_DIRECTORY);
    return new BeneathDirectory(this.#libc, fd, [...components]);
  }

  /**
   * Opens the parent directory of `components` and returns it with the final name, for
   * operations on the name itself (create, remove, rename). The caller closes `dir`.
   *
   * @throws {FerryError} `BAD_NAME` for the root itself; what a lookup throws.
   */
  openParent(components: readonly string[]): { dir: BeneathDirectory; name: string } {
    return this.#parent(components);
  }

  /**
   * Lists the directory `components`: each entry with its own metadata. Runs in batches with
   * a turn of the event loop between them. Entries removed while listing are left out.
   */
  async *list(components: readonly string[]): AsyncGenerator<ListedEntry> {
    const dir = this.openDirectory(components);
    try {
      for (;;) {
        const names = dir.readNames();
        if (names === null) return;
        for (let i = 0; i < names.length; i += LIST_BATCH) {
          const batch: ListedEntry[] = [];
          for (const { name } of names.slice(i, i + LIST_BATCH)) {
            try {
              batch.push({ name, stat: dir.lstat(name) });
            } catch (err) {
              if (!(err instanceof FerryError && err.code === "NOT_FOUND")) throw err;
            }
          }
          yield* batch;
          await nextTurn();
        }
      }
    } finally {
      dir.close();
    }
  }

  /** Creates the directory `components` (its parent must exist). */
  mkdir(components: readonly string[], mode: number = DEFAULT_DIR_MODE): void {
    const { dir, name } = this.#parent(components);
    try {
      dir.mkdir(name, mode);
    } finally {
      dir.close();
    }
  }

  /**
   * Removes `components` itself: a file, a symbolic link (never its target) or an empty
   * directory. Returns what was removed.
   */
  async remove(components: readonly string[]): Promise<FileStat> {
    const { dir, name } = this.#parent(components);
    try {
      return await dir.remove(name);
    } finally {
      dir.close();
    }
  }

  /**
   * Renames `from` to `to`; neither final component is followed. Without `replace` an
   * existing target is `ALREADY_EXISTS`; with it, see {@linkcode BeneathDirectory.rename}.
   */
  async rename(
    from: readonly string[],
    to: readonly string[],
    options: { replace?: boolean } = {},
  ): Promise<void> {
    const source = this.#parent(from);
    try {
      const target = this.#parent(to);
      try {
        await source.dir.rename(source.name, target.name, {
          to: target.dir,
          replace: options.replace,
        });
      } finally {
        target.dir.close();
      }
    } finally {
      source.dir.close();
    }
  }

  /**
   * Closes the root's descriptor. The C library is unloaded once the files and directories
   * opened from this root are closed too. Safe to call twice.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#libc.close(this.#lookup.fd);
    this.#libc.release();
  }
}
