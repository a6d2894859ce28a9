/**
 * The {@linkcode Storage} on the local disk: a directory served as the data root. Every path
 * is located with `server/storage/paths.ts` (the security boundary: lexical rules, then a walk
 * that never leaves the root), every Deno error becomes a {@linkcode FerryError} through
 * `server/storage/fs_errors.ts`, and uploads are staged by `server/storage/local_staging.ts`.
 *
 * @module
 */

import type { Entry } from "../../protocol/messages/mod.ts";
import { UNKNOWN_SIZE } from "../../protocol/bytes.ts";
import { FerryError } from "../../protocol/errors.ts";
import { quoteName } from "../../common/names.ts";
import { HASH_ALGORITHMS, hashPrefix } from "../../common/hash_file.ts";
import { fsError } from "./fs_errors.ts";
import { isTempName, parsePath, resolveExisting, resolveParent } from "./paths.ts";
import { createLocalStaging } from "./local_staging.ts";
import type { StagingShared } from "./staging.ts";
import { cleanTemporaryFiles, measureTree } from "./local_walk.ts";
import { makeEntry, wireMtime } from "./entries.ts";
import { listedName, lossyListedName } from "./listed_names.ts";
import type { FileReader, Storage } from "./storage.ts";
import { nextTurn } from "./next_turn.ts";

/**
 * Entries stat'ed in one synchronous slice. One async lstat per entry costs a thread hand-off
 * each (about twice the time and four times the CPU for 100,000 entries); a slice of sync
 * lstats blocks the event loop for about a millisecond, and the loop runs between slices.
 */
const STAT_BATCH = 512;

/** A {@linkcode Storage} over a directory of the local disk. */
export interface LocalStorage extends Storage {
  /** Real, absolute path of the data root (for the server's start-up log line only). */
  readonly root: string;
}

/**
 * Opens the directory `path` as a storage; `shared` when other isolates serve it too.
 *
 * @throws {FerryError} `USAGE` when it is not a directory; what `Deno.realPath` throws when
 * it does not exist.
 */
export async function createLocalStorage(
  path: string,
  shared?: StagingShared,
): Promise<LocalStorage> {
  const root = await Deno.realPath(path);
  if (!(await Deno.stat(root)).isDirectory) {
    throw new FerryError("USAGE", `data root ${path} is not a directory`);
  }
  const staging = createLocalStaging(root, shared);

  /** Locates an existing path and stats it, following symlinks inside the root. */
  async function statPath(
    clientPath: string,
  ): Promise<{ absolute: string; info: Deno.FileInfo; entry: Entry }> {
    const { absolute, components } = await resolveExisting(root, clientPath);
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(absolute);
    } catch (err) {
      throw fsError(err, clientPath);
    }
    return { absolute, info, entry: entryOf(components.at(-1) ?? ".", info) };
  }

  /** Opens an existing regular file inside the root. */
  async function openFile(clientPath: string): Promise<{ file: Deno.FsFile; info: Deno.FileInfo }> {
    const { absolute } = await resolveExisting(root, clientPath);
    return await openRegularFile(absolute, clientPath);
  }

  /** Creates one directory; with `existingOk`, an existing directory is fine. */
  async function makeOne(path: string, existingOk: boolean, last = true): Promise<void> {
    const { absolute } = await resolveParent(root, path, "create");
    try {
      await Deno.mkdir(absolute);
      return;
    } catch (err) {
      if (!existingOk || !(err instanceof Deno.errors.AlreadyExists)) throw fsError(err, path);
    }
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(absolute);
    } catch (err) {
      throw fsError(err, path);
    }
    // A symlink to a directory inside the root is one, as for every other request; one that
    // dangles, loops or leads out is something else that exists.
    if (info.isSymlink) info = (await statPath(path).catch(() => null))?.info ?? info;
    if (!info.isDirectory) {
      throw new FerryError(
        last ? "ALREADY_EXISTS" : "NOT_A_DIRECTORY",
        `${quoteName(path)} exists and is not a directory`,
      );
    }
  }

  return {
    root,
    checksums: HASH_ALGORITHMS,

    async stat(path) {
      return (await statPath(path)).entry;
    },

    async list(path, signal, options) {
      const { absolute, info, entry } = await statPath(path);
      const namesOnly = options?.namesOnly ?? false;
      return {
        entry,
        entries: info.isDirectory ? directoryEntries(absolute, path, signal, namesOnly) : null,
      };
    },

    async openRead(path, offset, signal) {
      signal?.throwIfAborted();
      const { file, info } = await openFile(path);
      try {
        if (offset > info.size) {
          throw new FerryError(
            "BAD_ARGUMENT",
            `offset ${offset} is past the end of ${quoteName(path)} (${info.size} bytes)`,
          );
        }
        if (offset > 0) await file.seek(offset, Deno.SeekMode.Start);
      } catch (err) {
        file.close();
        throw fsError(err, path);
      }
      return fileReader(file, info, path);
    },

    async hash(path, { length, algorithm, signal }) {
      const { file } = await openFile(path);
      try {
        const hashed = await hashPrefix(file, {
          length: length === UNKNOWN_SIZE ? undefined : length,
          algorithm,
          signal,
        });
        return { length: hashed.length, digest: hashed.hasher.digest() };
      } catch (err) {
        throw signal?.aborted ? err : fsError(err, path);
      } finally {
        file.close();
      }
    },

    async remove(path) {
      const { absolute } = await resolveParent(root, path, "read");
      try {
        const info = await Deno.lstat(absolute);
        await Deno.remove(absolute);
        return { freedBytes: info.isFile ? info.size : 0 };
      } catch (err) {
        throw fsError(err, path);
      }
    },

    async mkdir(path, { parents }) {
      const components = parsePath(path, "create");
      if (components.length === 0) {
        if (parents) return;
        throw new FerryError("ALREADY_EXISTS", "the root exists");
      }
      if (!parents) return await makeOne(path, false);
      for (let i = 1; i <= components.length; i++) {
        await makeOne(components.slice(0, i).join("/"), true, i === components.length);
      }
    },

    async rename(from, to, { replace }) {
      const source = await resolveParent(root, from, "read");
      const target = await resolveParent(root, to, "create");
      if (target.absolute.startsWith(`${source.absolute}/`)) {
        throw new FerryError(
          "BAD_ARGUMENT",
          `cannot move ${quoteName(from)} into itself (${quoteName(to)})`,
        );
      }
      try {
        await Deno.lstat(source.absolute);
      } catch (err) {
        throw fsError(err, from);
      }
      let existing: Deno.FileInfo | null = null;
      try {
        existing = await Deno.lstat(target.absolute);
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw fsError(err, to);
      }
      if (existing !== null && source.absolute !== target.absolute) {
        if (existing.isDirectory) {
          throw new FerryError("ALREADY_EXISTS", `${quoteName(to)} is an existing directory`);
        }
        if (!replace) {
          throw new FerryError(
            "ALREADY_EXISTS",
            `${quoteName(to)} exists; ask to replace it (mv --force)`,
          );
        }
      }
      try {
        await Deno.rename(source.absolute, target.absolute);
      } catch (err) {
        throw fsError(err, from);
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
  };
}

/**
 * Describes a file-system entry from its lstat (or stat) result, under its listed name
 * (`server/storage/listed_names.ts`: backslashes doubled).
 */
export function entryOf(name: string, info: Deno.FileInfo): Entry {
  const kind = info.isSymlink
    ? "symlink"
    : info.isDirectory
    ? "dir"
    : info.isFile
    ? "file"
    : "other";
  return makeEntry(listedName(name), kind, info.size, info.mtime?.getTime());
}

/**
 * The entries of the directory `absolute`, lstat'ed in slices; temporary files left out. A
 * name `Deno.readDir` could not decode (it holds U+FFFD and is not found under that form) is
 * listed escaped as far as the bytes are known (`lossyListedName`), as kind "other". With
 * `namesOnly`, the kind `Deno.readDir` reports is taken as it is (size 0, no time), and only
 * names holding U+FFFD are lstat'ed.
 */
async function* directoryEntries(
  absolute: string,
  clientPath: string,
  signal: AbortSignal,
  namesOnly: boolean,
): AsyncGenerator<Entry> {
  let names: string[] = [];
  const named: Entry[] = [];
  const statBatch = async function* () {
    const entries: Entry[] = [];
    for (const name of names) {
      try {
        entries.push(entryOf(name, Deno.lstatSync(`${absolute}/${name}`)));
      } catch {
        // An entry removed between readDir and lstat is simply not listed, unless its name
        // was never decodable: then it cannot be stat'ed by this storage, only shown.
        if (name.includes("\ufffd")) {
          entries.push(makeEntry(lossyListedName(name), "other", 0, null));
        }
      }
    }
    names = [];
    yield* entries;
    await nextTurn(); // let other connections run
  };
  try {
    for await (const dirEntry of Deno.readDir(absolute)) {
      signal.throwIfAborted();
      if (isTempName(dirEntry.name)) continue;
      if (namesOnly && !dirEntry.name.includes("\ufffd")) {
        named.push(makeEntry(listedName(dirEntry.name), kindOf(dirEntry), 0, null));
        if (named.length >= STAT_BATCH) {
          yield* named.splice(0);
          await nextTurn(); // let other connections run
        }
        continue;
      }
      names.push(dirEntry.name);
      if (names.length >= STAT_BATCH) yield* statBatch();
    }
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    throw fsError(err, clientPath);
  }
  yield* named;
  yield* statBatch();
}

/** The kind `Deno.readDir` reports for an entry (a link is a link). */
function kindOf(entry: Deno.DirEntry): Entry["kind"] {
  return entry.isSymlink ? "symlink" : entry.isDirectory ? "dir" : entry.isFile ? "file" : "other";
}

/**
 * Opens a regular file for reading, refusing anything else before opening it (opening a FIFO
 * blocks forever) and checking that what was opened is what was checked.
 */
async function openRegularFile(
  absolute: string,
  clientPath: string,
): Promise<{ file: Deno.FsFile; info: Deno.FileInfo }> {
  const checked = await statRegularFile(absolute, clientPath);
  let file: Deno.FsFile;
  try {
    file = await Deno.open(absolute, { read: true });
  } catch (err) {
    throw fsError(err, clientPath);
  }
  try {
    const info = await file.stat();
    if (info.dev !== checked.dev || info.ino !== checked.ino) {
      throw new FerryError("NOT_FOUND", `${quoteName(clientPath)} changed while being opened`);
    }
    return { file, info };
  } catch (err) {
    file.close();
    throw fsError(err, clientPath);
  }
}

/** Stats `absolute` and throws unless it is a regular file. */
async function statRegularFile(absolute: string, clientPath: string): Promise<Deno.FileInfo> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(absolute);
  } catch (err) {
    throw fsError(err, clientPath);
  }
  if (info.isDirectory) {
    throw new FerryError("IS_A_DIRECTORY", `${quoteName(clientPath)} is a directory`);
  }
  if (!info.isFile) {
    throw new FerryError("BAD_ARGUMENT", `${quoteName(clientPath)} is not a regular file`);
  }
  return info;
}

/** A {@linkcode FileReader} over an open file; each read fills the buffer unless the file ends. */
function fileReader(file: Deno.FsFile, info: Deno.FileInfo, clientPath: string): FileReader {
  let open = true;
  return {
    size: info.size,
    mtime: wireMtime(info.mtime?.getTime()),
    async read(into) {
      let filled = 0;
      try {
        while (filled < into.length) {
          const n = await file.read(into.subarray(filled));
          if (n === null) break;
          filled += n;
        }
      } catch (err) {
        throw fsError(err, clientPath);
      }
      return filled;
    },
    close() {
      if (!open) return;
      open = false;
      file.close();
    },
  };
}
