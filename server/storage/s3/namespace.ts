/**
 * What a path is in the bucket: a file (an object at its key), a directory (its marker, or any
 * key below it), or nothing; and, when it is nothing, why (`NOT_FOUND`, or `NOT_A_DIRECTORY`
 * when a file stands where a directory should be). The S3 storage's operations ask these
 * questions before they act, the way the local storage walks its path.
 *
 * Checks cost one request each (HEAD, or a LIST of one key); the diagnosis of a missing path,
 * which walks the path from the root, is only made on the way to an error.
 *
 * @module
 */

import { FerryError } from "../../../protocol/errors.ts";
import { quoteName } from "../../../common/names.ts";
import type { Entry } from "../../../protocol/messages/mod.ts";
import type { S3Client } from "./client.ts";
import { headObject } from "./head_object.ts";
import { listObjectsPage } from "./list_objects.ts";
import type { ObjectInfo } from "./object_info.ts";
import { type Layout, type Located, META } from "./layout.ts";
import { isMissing, storeError } from "./store_errors.ts";

/** What a path is. */
export type Found =
  | { readonly kind: "file"; readonly info: ObjectInfo }
  | { readonly kind: "dir"; readonly marker: ObjectInfo | undefined }
  | { readonly kind: "none" };

/** The modification time ferry keeps for an object: the client's, else the store's. */
export function mtimeOf(info: ObjectInfo): number | null {
  const kept = Number(info.metadata[META.mtime]);
  if (info.metadata[META.mtime] !== undefined && Number.isSafeInteger(kept)) return kept;
  const stored = info.lastModified.getTime();
  return Number.isNaN(stored) ? null : stored;
}

/** An entry describing a file object. */
export function fileEntry(name: string, info: ObjectInfo): Entry {
  return { name, kind: "file", size: info.size, mtime: mtimeOf(info) };
}

/** An entry describing a directory, from its marker when it has one. */
export function dirEntry(name: string, marker: ObjectInfo | undefined): Entry {
  return { name, kind: "dir", size: 0, mtime: marker === undefined ? null : mtimeOf(marker) };
}

/** The questions about paths, asked of one bucket. */
export class Namespace {
  /** The bucket. */
  readonly client: S3Client;
  /** Where the files lie in it. */
  readonly layout: Layout;

  /** Asks `client` about the keys of `layout`. */
  constructor(client: S3Client, layout: Layout) {
    this.client = client;
    this.layout = layout;
  }

  /** The object at `key`, or undefined when there is none. */
  async head(key: string, path: string, signal?: AbortSignal): Promise<ObjectInfo | undefined> {
    try {
      return await headObject(this.client, key, { signal });
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw storeError(err, path, signal);
    }
  }

  /** True when some key starts with `prefix`. */
  async anyBelow(prefix: string, path: string, signal?: AbortSignal): Promise<boolean> {
    try {
      const page = await listObjectsPage(this.client, { prefix, pageSize: 1, signal });
      return page.entries.length > 0;
    } catch (err) {
      throw storeError(err, path, signal);
    }
  }

  /** Whether `at` is a directory: the root, a marker, or a prefix with keys below it. */
  async directory(
    at: Located,
    signal?: AbortSignal,
  ): Promise<{ exists: boolean; marker?: ObjectInfo }> {
    if (at.components.length === 0) return { exists: true };
    const marker = await this.head(at.dirPrefix, at.path, signal);
    if (marker !== undefined) return { exists: true, marker };
    return { exists: await this.anyBelow(at.dirPrefix, at.path, signal) };
  }

  /** What `at` is. A file wins over a directory of the same name (only other tools make both). */
  async find(at: Located, signal?: AbortSignal): Promise<Found> {
    if (at.components.length === 0) return { kind: "dir", marker: undefined };
    const info = await this.head(at.key, at.path, signal);
    if (info !== undefined) return { kind: "file", info };
    const dir = await this.directory(at, signal);
    return dir.exists ? { kind: "dir", marker: dir.marker } : { kind: "none" };
  }

  /**
   * The error for a path that is not there: `NOT_A_DIRECTORY` when one of its ancestors is a
   * file, else `NOT_FOUND`, naming the shortest prefix of the path that fails, as the local
   * storage's walk does.
   */
  async missing(at: Located, signal?: AbortSignal): Promise<FerryError> {
    for (let i = 1; i < at.components.length; i++) {
      const ancestor = this.layout.locate(at.components.slice(0, i).join("/"), "read");
      if (await this.head(ancestor.key, ancestor.path, signal) !== undefined) {
        return new FerryError("NOT_A_DIRECTORY", `${quoteName(ancestor.path)}: not a directory`);
      }
      if (!(await this.directory(ancestor, signal)).exists) {
        return new FerryError(
          "NOT_FOUND",
          `${quoteName(ancestor.path)}: no such file or directory`,
        );
      }
    }
    return new FerryError("NOT_FOUND", `${quoteName(at.path)}: no such file or directory`);
  }

  /**
   * Throws unless the parent of `at` is a directory: `NOT_FOUND` when it is missing,
   * `NOT_A_DIRECTORY` when it (or an ancestor) is a file. Messages name the parent.
   */
  async requireParent(at: Located, signal?: AbortSignal): Promise<void> {
    const parent = this.layout.parentOf(at);
    if ((await this.directory(parent, signal)).exists) return;
    if (await this.head(parent.key, parent.path, signal) !== undefined) {
      throw new FerryError("NOT_A_DIRECTORY", `${quoteName(parent.path)}: not a directory`);
    }
    throw await this.missing(parent, signal);
  }
}
