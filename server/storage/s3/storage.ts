/**
 * The {@linkcode Storage} on an S3 bucket (Ceph RGW, MinIO, AWS S3, R2), below an optional
 * prefix; several ferry servers may serve the same bucket and prefix at once. The keys are laid
 * out by `layout.ts`, paths are checked by `namespace.ts`, uploads are `staging.ts` and
 * `upload.ts`, the cleanup is `cleanup.ts`.
 *
 * Where it differs from the local disk (PROTOCOL.md and README.md say the same):
 * - a directory made by mkdir is a zero-byte marker `dir/`; a directory also exists while any key
 *   lies below it, so one made by another S3 tool has no marker and vanishes with its last file;
 * - `rename` is a server-side copy, then a delete: not atomic (a reader may see both names, or a
 *   directory half moved), and a write to the source between the two is lost;
 * - the modification time a client gives is kept in the object's metadata (`ferry-mtime`), which a
 *   listing does not return: a listing reads it with a HEAD per file version it has not seen
 *   before (`time_cache.ts`) and per subdirectory;
 * - symlinks, FIFOs and permissions do not exist.
 *
 * @module
 */

import { UNKNOWN_SIZE } from "../../../protocol/bytes.ts";
import { FerryError } from "../../../protocol/errors.ts";
import type { Entry } from "../../../protocol/messages/mod.ts";
import { quoteName } from "../../../common/names.ts";
import { createHasher } from "../../../common/hash_file.ts";
import { isTempName } from "../paths.ts";
import { listedName } from "../listed_names.ts";
import type { FileReader, Storage } from "../storage.ts";
import type { S3Client } from "./client.ts";
import { copyWhole } from "./copy.ts";
import { deleteObject, deleteObjects, MAX_DELETE_KEYS } from "./delete_object.ts";
import { isS3Error } from "./errors.ts";
import { getObject } from "./get_object.ts";
import { type ListEntry, listObjects, listObjectsPage } from "./list_objects.ts";
import { ObjectReader } from "./object_reader.ts";
import type { ObjectInfo } from "./object_info.ts";
import { putObject } from "./put_object.ts";
import { cleanS3Uploads } from "./cleanup.ts";
import { Layout, type Located, META } from "./layout.ts";
import { dirEntry, fileEntry, type Found, mtimeOf, Namespace } from "./namespace.ts";
import { DEFAULT_PART_SIZE, S3Staging } from "./staging.ts";
import { isMissing, storeError } from "./store_errors.ts";
import { TimeCache } from "./time_cache.ts";
import { Limiter } from "./limiter.ts";

/** Options of {@linkcode createS3Storage}. */
export interface S3StorageOptions {
  /** The bucket (which must exist). */
  readonly client: S3Client;
  /** Where ferry's files lie in it (default: the whole bucket). */
  readonly prefix?: string;
  /** Bytes per part of a multipart upload (default 8 MiB; at least 5 MiB). */
  readonly partSize?: number;
  /** Requests at once when a listing reads the entries' times, and a move copies (default 16). */
  readonly concurrency?: number;
}

/** A {@linkcode Storage} on an S3 bucket. */
export interface S3Storage extends Storage {
  /** Where it keeps the files, for log lines: `s3://bucket/prefix at endpoint`. */
  readonly location: string;
}

/**
 * Listing pages read at once (a reply and its parsed tree each), by all listings together.
 * Measured (300 listings of 100 entries, 100 at a time, on Ceph): peak RSS 80 MiB with 1 or 2,
 * 98 MiB with 4, 147 MiB unbounded; the time was the same (the store answers them in turn).
 */
const LIST_PAGES = 2;

/** Entries described at once in a listing: one request each, `concurrency` at a time. */
const DESCRIBE_BATCH = 256;

/** Creates a storage on `options.client`'s bucket; nothing is sent until it is used. */
export function createS3Storage(options: S3StorageOptions): S3Storage {
  const client = options.client;
  const layout = new Layout(options.prefix);
  const ns = new Namespace(client, layout);
  const staging = new S3Staging(ns, options.partSize ?? DEFAULT_PART_SIZE);
  const concurrency = options.concurrency ?? 16;
  const times = new TimeCache();
  /** The HEADs of every listing at once, `concurrency` at a time. */
  const requests = new Limiter(concurrency);
  /** The listing pages read at once, by every listing (see `ListObjectsOptions.pages`). */
  const pages = new Limiter(LIST_PAGES);
  const nameOf = (at: Located) => at.components.at(-1) ?? ".";

  /** Throws the right error for a path that is nothing. */
  async function absent(at: Located, signal?: AbortSignal): Promise<never> {
    throw await ns.missing(at, signal);
  }

  /** A file's object, or IS_A_DIRECTORY / NOT_FOUND / NOT_A_DIRECTORY. */
  async function fileAt(at: Located, signal?: AbortSignal): Promise<ObjectInfo> {
    if (at.components.length === 0) throw isDirectory(at);
    const info = await ns.head(at.key, at.path, signal);
    if (info !== undefined) return info;
    if ((await ns.directory(at, signal)).exists) throw isDirectory(at);
    return await absent(at, signal);
  }

  /**
   * The entry of a listed key or prefix below `dirPrefix`, or undefined to leave it out. With
   * `namesOnly` nothing is asked of the store: a file keeps its listed size, times are unknown.
   */
  async function describe(
    item: ListEntry,
    dirPrefix: string,
    signal: AbortSignal,
    namesOnly: boolean,
  ): Promise<Entry | undefined> {
    if (item.kind === "object") {
      const name = item.key.slice(dirPrefix.length);
      if (name === "" || isTempName(name)) return undefined; // the directory's own marker
      if (namesOnly) return { name: listedName(name), kind: "file", size: item.size, mtime: null };
      const mtime = await times.lookup(item.key, item.etag, item.lastModified, async () => {
        const info = await requests.run(() => ns.head(item.key, name, signal));
        // undefined: gone meanwhile (a version replaced meanwhile lists with the new time)
        return info === undefined ? undefined : mtimeOf(info);
      });
      return mtime === undefined
        ? undefined
        : { name: listedName(name), kind: "file", size: item.size, mtime };
    }
    const name = item.prefix.slice(dirPrefix.length, -1);
    if (name === "" || isTempName(name)) return undefined; // "a//b", or the server's own folder
    if (namesOnly) return dirEntry(listedName(name), undefined);
    const marker = await requests.run(() => ns.head(item.prefix, name, signal));
    return dirEntry(listedName(name), marker);
  }

  /** The entries of a directory, a page at a time, each described with its kept time. */
  async function* entries(
    at: Located,
    signal: AbortSignal,
    namesOnly: boolean,
  ): AsyncGenerator<Entry> {
    let batch: ListEntry[] = [];
    const flush = async function* () {
      const described: (Entry | undefined)[] = new Array(batch.length);
      let next = 0;
      const worker = async () => {
        while (next < batch.length) {
          const i = next++;
          described[i] = await describe(batch[i], at.dirPrefix, signal, namesOnly);
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, batch.length) }, worker));
      batch = [];
      for (const entry of described) if (entry !== undefined) yield entry;
    };
    try {
      signal.throwIfAborted();
      for await (
        const item of listObjects(client, { prefix: at.dirPrefix, delimiter: "/", signal, pages })
      ) {
        signal.throwIfAborted();
        batch.push(item);
        if (batch.length >= DESCRIBE_BATCH) yield* flush();
      }
      yield* flush();
    } catch (err) {
      throw storeError(err, at.path, signal);
    }
  }

  /** Makes one directory marker; `existingOk` accepts a directory that is there. */
  async function makeOne(at: Located, existingOk: boolean, last: boolean): Promise<void> {
    if (await ns.head(at.key, at.path) !== undefined) {
      throw new FerryError(
        last ? "ALREADY_EXISTS" : "NOT_A_DIRECTORY",
        `${quoteName(at.path)} exists and is not a directory`,
      );
    }
    if ((await ns.directory(at)).exists) {
      if (existingOk) return;
      throw new FerryError("ALREADY_EXISTS", `${quoteName(at.path)}: already exists`);
    }
    try {
      await putObject(client, at.dirPrefix, new Uint8Array(0), { ifNoneMatch: "*" });
    } catch (err) {
      if (isS3Error(err, "PreconditionFailed")) { // made meanwhile, by another server perhaps
        if (existingOk) return;
        throw new FerryError("ALREADY_EXISTS", `${quoteName(at.path)}: already exists`);
      }
      throw storeError(err, at.path);
    }
  }

  /** Moves every key below `from` to the same place below `to`, then deletes them. */
  async function moveTree(from: Located, to: Located): Promise<void> {
    let batch: { key: string; size: number; etag: string }[] = [];
    const flush = async () => {
      let next = 0;
      const worker = async () => {
        while (next < batch.length) {
          const { key, size, etag } = batch[next++];
          const target = to.dirPrefix + key.slice(from.dirPrefix.length);
          await copyWhole(client, key, target, { size, ifSourceMatch: etag });
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, batch.length) }, worker));
      const failures = await deleteObjects(client, batch.map((o) => o.key));
      if (failures.length > 0) {
        throw new FerryError(
          "INTERNAL",
          `${quoteName(from.path)}: ${failures.length} keys were copied but not deleted`,
        );
      }
      batch = [];
    };
    // Keys are deleted while the listing goes on: its next page starts after the last key it
    // returned, so nothing is missed or met twice.
    for await (const item of listObjects(client, { prefix: from.dirPrefix })) {
      if (item.kind !== "object") continue;
      batch.push(item);
      if (batch.length >= MAX_DELETE_KEYS) await flush();
    }
    await flush();
  }

  return {
    location: `s3://${client.bucket}/${layout.prefix} at ${client.endpoint}`,

    async stat(path) {
      const at = layout.locate(path, "read");
      const found = await ns.find(at);
      return describeFound(nameOf(at), found) ?? await absent(at);
    },

    async list(path, signal, options) {
      const at = layout.locate(path, "read");
      const found = await ns.find(at, signal);
      const entry = describeFound(nameOf(at), found) ?? await absent(at, signal);
      const namesOnly = options?.namesOnly ?? false;
      return { entry, entries: found.kind === "dir" ? entries(at, signal, namesOnly) : null };
    },

    async openRead(path, offset, signal) {
      signal?.throwIfAborted();
      const at = layout.locate(path, "read");
      if (at.components.length === 0) throw isDirectory(at);
      let reader: ObjectReader;
      try {
        reader = await ObjectReader.open(client, at.key, { offset, signal });
      } catch (err) {
        if (err instanceof FerryError && err.code === "BAD_ARGUMENT" && !isS3Error(err)) {
          const size = (await fileAt(at, signal)).size;
          throw new FerryError(
            "BAD_ARGUMENT",
            `offset ${offset} is past the end of ${quoteName(path)} (${size} bytes)`,
          );
        }
        if (!isMissing(err)) throw storeError(err, path, signal);
        await fileAt(at, signal); // IS_A_DIRECTORY, NOT_FOUND or NOT_A_DIRECTORY
        throw new FerryError("NOT_FOUND", `${quoteName(path)}: no such file or directory`);
      }
      return objectFileReader(reader, path, signal);
    },

    async hash(path, { length, algorithm, signal }) {
      signal?.throwIfAborted();
      const at = layout.locate(path, "read");
      for (let attempt = 0;; attempt++) {
        const info = await fileAt(at, signal);
        const n = length === UNKNOWN_SIZE ? info.size : Math.min(length, info.size);
        const kept = info.metadata[META.sha256];
        if (
          n === info.size && (algorithm ?? "sha256") === "sha256" &&
          /^[0-9a-f]{64}$/.test(kept ?? "")
        ) {
          return { length: n, digest: Uint8Array.fromHex(kept!) };
        }
        const hasher = createHasher(algorithm);
        try {
          if (n > 0) {
            const got = await getObject(client, at.key, { length: n, ifMatch: info.etag, signal });
            for await (const chunk of got.body) {
              signal?.throwIfAborted();
              hasher.update(chunk);
            }
          }
          return { length: n, digest: hasher.digest() };
        } catch (err) {
          // the file was replaced between the HEAD and the GET: hash the new version
          if (attempt === 0 && isS3Error(err, "PreconditionFailed")) continue;
          throw storeError(err, path, signal);
        }
      }
    },

    async remove(path) {
      const at = layout.locate(path, "read");
      if (at.components.length === 0) {
        throw new FerryError("BAD_NAME", `${quoteName(path)}: names the root itself`);
      }
      const found = await ns.find(at);
      try {
        if (found.kind === "file") {
          await deleteObject(client, at.key);
          return { freedBytes: found.info.size };
        }
        if (found.kind === "none") return await absent(at);
        const page = await listObjectsPage(client, { prefix: at.dirPrefix, pageSize: 2 });
        if (page.entries.some((e) => e.kind !== "object" || e.key !== at.dirPrefix)) {
          throw new FerryError("NOT_EMPTY", `${quoteName(path)}: directory not empty`);
        }
        await deleteObject(client, at.dirPrefix);
        return { freedBytes: 0 };
      } catch (err) {
        throw storeError(err, path);
      }
    },

    async mkdir(path, { parents }) {
      const at = layout.locate(path, "create");
      if (at.components.length === 0) {
        if (parents) return;
        throw new FerryError("ALREADY_EXISTS", "the root exists");
      }
      if (!parents) {
        await ns.requireParent(at);
        return await makeOne(at, false, true);
      }
      for (let i = 1; i <= at.components.length; i++) {
        const step = layout.locate(at.components.slice(0, i).join("/"), "create");
        await makeOne(step, true, i === at.components.length);
      }
    },

    async rename(from, to, { replace }) {
      const source = layout.locate(from, "read");
      const target = layout.locate(to, "create");
      for (const at of [source, target]) {
        if (at.components.length === 0) {
          throw new FerryError("BAD_NAME", `${quoteName(at.path)}: names the root itself`);
        }
      }
      await ns.requireParent(target);
      if (target.key.startsWith(source.dirPrefix)) {
        throw new FerryError(
          "BAD_ARGUMENT",
          `cannot move ${quoteName(from)} into itself (${quoteName(to)})`,
        );
      }
      const what = await ns.find(source);
      if (what.kind === "none") return await absent(source);
      if (source.key === target.key) return;
      const existing = await ns.find(target);
      if (existing.kind === "dir") {
        throw new FerryError("ALREADY_EXISTS", `${quoteName(to)} is an existing directory`);
      }
      if (existing.kind === "file") {
        if (!replace) {
          throw new FerryError(
            "ALREADY_EXISTS",
            `${quoteName(to)} exists; ask to replace it (mv --force)`,
          );
        }
        if (what.kind === "dir") {
          throw new FerryError("NOT_A_DIRECTORY", `${quoteName(to)}: not a directory`);
        }
      }
      try {
        if (what.kind === "file") {
          await copyWhole(client, source.key, target.key, {
            size: what.info.size,
            ifSourceMatch: what.info.etag,
          });
          await deleteObject(client, source.key);
        } else {
          await moveTree(source, target);
        }
      } catch (err) {
        if (isS3Error(err, "PreconditionFailed")) {
          throw new FerryError("BUSY", `${quoteName(from)} changed while being moved; try again`);
        }
        throw storeError(err, from);
      }
    },

    stage: (request) => staging.stage(request),
    resume: (request) => staging.resume(request),
    partialStatus: (request, signal) => staging.partialStatus(request, signal),

    async usage(signal) {
      let total = 0;
      try {
        for await (const item of listObjects(client, { prefix: layout.prefix, signal })) {
          if (item.kind === "object" && !item.key.startsWith(layout.uploadsPrefix)) {
            total += item.size;
          }
        }
      } catch (err) {
        throw storeError(err, ".", signal);
      }
      return total;
    },

    cleanup(options) {
      return cleanS3Uploads(ns, (id) => staging.isActive(id), options);
    },
  };
}

function isDirectory(at: Located): FerryError {
  return new FerryError("IS_A_DIRECTORY", `${quoteName(at.path)} is a directory`);
}

function describeFound(name: string, found: Found): Entry | undefined {
  if (found.kind === "file") return fileEntry(name, found.info);
  if (found.kind === "dir") return dirEntry(name, found.marker);
  return undefined;
}

/** A {@linkcode FileReader} over an object: each read fills the buffer unless the object ends. */
function objectFileReader(reader: ObjectReader, path: string, signal?: AbortSignal): FileReader {
  let open = true;
  return {
    size: reader.info.size,
    mtime: mtimeOf(reader.info),
    async read(into) {
      try {
        return await reader.readFull(into);
      } catch (err) {
        throw storeError(err, path, signal);
      }
    },
    close() {
      if (!open) return;
      open = false;
      reader.close().catch(() => {});
    },
  };
}
