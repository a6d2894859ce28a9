/**
 * The race-free {@linkcode Storage} on the local disk (Linux 5.6+, `--allow-ffi`): the data
 * root is opened once as a directory descriptor (`server/storage/beneath/`), and every
 * operation reaches its files relative to it with `openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS)`, following links that stay inside the root one at a time itself, and
 * acts on names relative to directory descriptors (`statx`, `mkdirat`, `unlinkat`,
 * `renameat2`, `getdents64`). No absolute path is built after the root is opened, so whatever
 * a local user renames, exchanges or replaces in the tree meanwhile, an operation reads,
 * writes, creates, removes, renames or lists only what was below the root when it got there.
 *
 * Paths are validated lexically first (`parsePath` of `server/storage/paths.ts`, as for the
 * path-based storage); uploads are staged by `server/storage/race_free_staging.ts`; the walks
 * over the tree (usage, cleanup) are `server/storage/race_free_walk.ts`. Listings show names
 * that are not valid UTF-8 escaped (`server/storage/listed_names.ts`).
 *
 * @module
 */

import type { Entry } from "../../protocol/messages/mod.ts";
import { UNKNOWN_SIZE } from "../../protocol/bytes.ts";
import { FerryError } from "../../protocol/errors.ts";
import { quoteName } from "../../common/names.ts";
import { HASH_ALGORITHMS, hashPrefix } from "../../common/hash_file.ts";
import {
  type BeneathDirectory,
  type BeneathFile,
  BeneathRoot,
  type FileStat,
  SYNC_IO_MAX,
} from "./beneath/mod.ts";
import { makeEntry, wireMtime } from "./entries.ts";
import { escapeNameBytes, listedName } from "./listed_names.ts";
import { isTempName, parsePath } from "./paths.ts";
import { createRaceFreeStaging } from "./race_free_staging.ts";
import type { StagingShared } from "./staging.ts";
import { cleanTemporaryFiles, measureTree } from "./race_free_walk.ts";
import type { FileReader, Storage } from "./storage.ts";
import { nextTurn } from "./next_turn.ts";

/** Entries stat'ed between two turns of the event loop while listing. */
const LIST_BATCH = 512;

/** A {@linkcode Storage} over a directory, by descriptor. */
export interface RaceFreeStorage extends Storage {
  /** Real path of the data root when it was opened (for the start-up log line only). */
  readonly root: string;
  /** Closes the root's descriptor; the storage cannot be used afterwards. */
  close(): void;
}

/** Options of {@linkcode createRaceFreeStorage}. */
export interface RaceFreeOptions {
  /** The C library to load (default: `findLibc()` of `server/storage/beneath/`). */
  readonly libraryPath?: string;
  /** What the uploads share with other isolates serving the same root. */
  readonly shared?: StagingShared;
}

/**
 * Opens the directory `path` as a race-free storage. Check `checkSupport()` of
 * `server/storage/beneath/` first.
 *
 * @throws {FerryError} `USAGE` when `path` is not a directory; what `BeneathRoot.open` throws
 * when the layer cannot run.
 */
export function createRaceFreeStorage(
  path: string,
  options: RaceFreeOptions = {},
): Promise<RaceFreeStorage> {
  let root: BeneathRoot;
  try {
    root = BeneathRoot.open(path, { isHidden: isTempName, libraryPath: options.libraryPath });
  } catch (err) {
    if (err instanceof FerryError && err.code === "NOT_A_DIRECTORY") {
      throw new FerryError("USAGE", `data root ${path} is not a directory`);
    }
    throw err;
  }
  const staging = createRaceFreeStaging(root, options.shared);

  /** Opens a regular file to read (links inside the root followed, anything else refused). */
  function openFile(path: string): BeneathFile {
    return root.openFile(parsePath(path, "read"));
  }

  /** True when `components` leads to a directory, links inside the root followed. */
  function isDirectoryInside(components: readonly string[]): boolean {
    try {
      return root.stat(components).kind === "dir";
    } catch {
      return false;
    }
  }

  /** Creates the directory `components`; with `existingOk`, an existing directory is fine. */
  function makeOne(components: readonly string[], existingOk: boolean, last: boolean): void {
    const { dir, name } = root.openParent(components);
    try {
      try {
        dir.mkdir(name);
        return;
      } catch (err) {
        if (!existingOk || !(err instanceof FerryError && err.code === "ALREADY_EXISTS")) {
          throw err;
        }
      }
      // A symlink to a directory inside the root is one, as for every other request; one that
      // dangles, loops or leads out is something else that exists.
      const kind = dir.lstat(name).kind;
      if (kind !== "dir" && (kind !== "symlink" || !isDirectoryInside(components))) {
        throw new FerryError(
          last ? "ALREADY_EXISTS" : "NOT_A_DIRECTORY",
          `${quoteName(components.join("/"))} exists and is not a directory`,
        );
      }
    } finally {
      dir.close();
    }
  }

  const storage: RaceFreeStorage = {
    root: root.realPath,
    checksums: HASH_ALGORITHMS,

    stat(path) {
      return attempt(() => {
        const components = parsePath(path, "read");
        return entryOf(components.at(-1) ?? ".", root.stat(components));
      });
    },

    list(path, signal, options) {
      return attempt(() => {
        const components = parsePath(path, "read");
        const stat = root.stat(components);
        const namesOnly = options?.namesOnly ?? false;
        return {
          entry: entryOf(components.at(-1) ?? ".", stat),
          entries: stat.kind === "dir"
            ? directoryEntries(root, components, signal, namesOnly)
            : null,
        };
      });
    },

    async openRead(path, offset, signal) {
      signal?.throwIfAborted();
      const file = openFile(path);
      let info: FileStat;
      try {
        info = file.stat();
        if (offset > info.size) {
          throw new FerryError(
            "BAD_ARGUMENT",
            `offset ${offset} is past the end of ${quoteName(path)} (${info.size} bytes)`,
          );
        }
      } catch (err) {
        await file.close();
        throw err;
      }
      return fileReader(file, info, offset);
    },

    async hash(path, { length, algorithm, signal }) {
      const file = openFile(path);
      try {
        const hashed = await hashPrefix(file, {
          length: length === UNKNOWN_SIZE ? undefined : length,
          algorithm,
          signal,
        });
        return { length: hashed.length, digest: hashed.hasher.digest() };
      } finally {
        await file.close();
      }
    },

    async remove(path) {
      const removed = await root.remove(parsePath(path, "read"));
      return { freedBytes: removed.kind === "file" ? removed.size : 0 };
    },

    mkdir(path, { parents }) {
      return attempt(() => {
        const components = parsePath(path, "create");
        if (components.length === 0) {
          if (parents) return;
          throw new FerryError("ALREADY_EXISTS", "the root exists");
        }
        if (!parents) return makeOne(components, false, true);
        for (let i = 1; i <= components.length; i++) {
          makeOne(components.slice(0, i), true, i === components.length);
        }
      });
    },

    async rename(from, to, { replace }) {
      const source = root.openParent(parsePath(from, "read"));
      try {
        const target = root.openParent(parsePath(to, "create"));
        try {
          await renameBetween(source, target, { from, to, replace });
        } finally {
          target.dir.close();
        }
      } finally {
        source.dir.close();
      }
    },

    stage: staging.stage,
    resume: staging.resume,
    partialStatus: staging.partialStatus,

    usage(signal) {
      return measureTree(root, signal);
    },

    cleanup(options) {
      return cleanTemporaryFiles(root, staging.isActive, options);
    },

    close() {
      root.close();
    },
  };
  return Promise.resolve(storage);
}

/** Runs synchronous `work` as a promise: its result, or its throw as a rejection. */
function attempt<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (err) {
    return Promise.reject(err);
  }
}

/** The entry of `name` from its metadata. */
function entryOf(name: string, stat: FileStat): Entry {
  return makeEntry(listedName(name), stat.kind, stat.size, stat.mtimeMs);
}

/** A name in an open directory. */
interface NameIn {
  dir: BeneathDirectory;
  name: string;
}

/**
 * Moves `source` to `target` (names in open directories), with the path-based storage's
 * rules: the source must exist; moving onto itself is nothing; an existing directory is never
 * replaced, an existing file only with `replace`; a directory cannot go into itself.
 */
async function renameBetween(
  source: NameIn,
  target: NameIn,
  paths: { from: string; to: string; replace: boolean },
): Promise<void> {
  source.dir.lstat(source.name); // NOT_FOUND before anything else
  const a = source.dir.stat();
  const b = target.dir.stat();
  if (a.dev === b.dev && a.ino === b.ino && source.name === target.name) return;
  let existing: FileStat | null = null;
  try {
    existing = target.dir.lstat(target.name);
  } catch (err) {
    if (!(err instanceof FerryError && err.code === "NOT_FOUND")) throw err;
  }
  if (existing?.kind === "dir") {
    throw new FerryError("ALREADY_EXISTS", `${quoteName(paths.to)} is an existing directory`);
  }
  if (existing !== null && !paths.replace) {
    throw new FerryError(
      "ALREADY_EXISTS",
      `${quoteName(paths.to)} exists; ask to replace it (mv --force)`,
    );
  }
  try {
    await source.dir.rename(source.name, target.name, { to: target.dir, replace: paths.replace });
  } catch (err) {
    if (err instanceof FerryError && err.code === "BAD_ARGUMENT") {
      throw new FerryError(
        "BAD_ARGUMENT",
        `cannot move ${quoteName(paths.from)} into itself (${quoteName(paths.to)})`,
      );
    }
    throw err;
  }
}

/**
 * The entries of the directory `components`, opened when iteration starts (so that a listing
 * never iterated holds no descriptor) and closed when it ends; temporaries left out, names
 * that are not valid UTF-8 escaped. With `namesOnly`, an entry whose kind the directory
 * reports (`d_type`) is not stat'ed: it has size 0 and no time.
 */
async function* directoryEntries(
  root: BeneathRoot,
  components: readonly string[],
  signal: AbortSignal,
  namesOnly: boolean,
): AsyncGenerator<Entry> {
  signal.throwIfAborted();
  const dir = root.openDirectory(components);
  try {
    let batch: Entry[] = [];
    const add = (name: string, stat: () => FileStat) => {
      try {
        batch.push(entryOf(name, stat()));
      } catch (err) {
        // An entry removed between reading its name and stat'ing it is simply not listed.
        if (!(err instanceof FerryError && err.code === "NOT_FOUND")) throw err;
      }
    };
    for (let read = dir.readEntries(); read !== null; read = dir.readEntries()) {
      for (const { name, kind } of read.names) {
        if (isTempName(name)) continue;
        if (namesOnly && kind !== "unknown") batch.push(makeEntry(listedName(name), kind, 0, null));
        else add(name, () => dir.lstat(name));
        if (batch.length >= LIST_BATCH) {
          yield* batch;
          batch = [];
          await nextTurn(); // let other connections run
          signal.throwIfAborted();
        }
      }
      for (const { bytes, kind } of read.invalid) {
        if (namesOnly && kind !== "unknown") {
          batch.push(makeEntry(escapeNameBytes(bytes), kind, 0, null));
          continue;
        }
        try {
          const stat = dir.lstatBytes(bytes);
          batch.push(makeEntry(escapeNameBytes(bytes), stat.kind, stat.size, stat.mtimeMs));
        } catch (err) {
          if (!(err instanceof FerryError && err.code === "NOT_FOUND")) throw err;
        }
      }
    }
    yield* batch;
  } finally {
    dir.close();
  }
}

/** A {@linkcode FileReader} from `offset` on; each read fills the buffer unless the file ends. */
function fileReader(file: BeneathFile, info: FileStat, offset: number): FileReader {
  let position = offset;
  let open = true;
  return {
    size: info.size,
    mtime: wireMtime(info.mtimeMs),
    async read(into) {
      let filled = 0;
      while (filled < into.length) {
        const n = await file.readAt(into.subarray(filled), position);
        if (n === 0) break;
        filled += n;
        position += n;
      }
      return filled;
    },
    close() {
      if (!open) return;
      open = false;
      // A small file is closed at once (a pool call costs more than the close); a large one on
      // the pool, since its close frees its blocks when it was removed meanwhile.
      if (info.size <= SYNC_IO_MAX && file.idle) file.closeSync();
      else file.close().catch(() => {});
    },
  };
}
