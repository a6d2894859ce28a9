/**
 * How ferry's files are laid out as keys of one bucket, below an optional prefix:
 *
 * - a file `docs/a.txt` is the object `<prefix>docs/a.txt`;
 * - a directory made by mkdir is a zero-byte *marker* `<prefix>docs/` (a directory also exists
 *   when any key lies below it, marker or not);
 * - the server's own objects (upload checkpoints and their tails) live under
 *   `<prefix>.ferry-uploads/`, a name no client may use (`.ferry-` is refused by
 *   `parsePath`) and no listing shows.
 *
 * Client paths go through `parsePath` (`server/storage/paths.ts`) before they become keys, so
 * a key never leaves the prefix: no `..`, no absolute path, no empty or `.` segment, no
 * backslash, and nothing in the server's namespace.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { FerryError } from "../../../protocol/errors.ts";
import { quoteName } from "../../../common/names.ts";
import { parsePath, type PathPurpose, TEMP_PREFIX } from "../paths.ts";
import { MAX_KEY_BYTES } from "./keys.ts";

/** The folder (below the prefix) of the server's own objects. */
export const UPLOADS_FOLDER = `${TEMP_PREFIX}uploads/`;

/** User metadata names ferry keeps on the objects it writes (`x-amz-meta-…`). */
export const META = {
  /** Hex SHA-256 of the whole object, written only after it was verified. */
  sha256: "ferry-sha256",
  /** The modification time the client gave, in ms since the epoch. */
  mtime: "ferry-mtime",
} as const;

/** A client path, parsed and placed in the bucket. */
export interface Located {
  /** The client's path as sent (for messages). */
  readonly path: string;
  /** Its components; `[]` for the root. */
  readonly components: readonly string[];
  /** The object key of a file there (`""` for the root, which is never a file). */
  readonly key: string;
  /** The key prefix of a directory there, ending with `/` (the prefix itself for the root). */
  readonly dirPrefix: string;
}

/** The keys of one storage: everything below `prefix`. */
export class Layout {
  /** The prefix, `""` or ending with `/`. */
  readonly prefix: string;

  /**
   * A layout below `prefix` (`a/b`, `a/b/` and `/a/b/` are the same prefix).
   *
   * @throws {FerryError} `USAGE` for a prefix with empty, `.` or `..` segments or control
   * characters.
   */
  constructor(prefix = "") {
    const trimmed = prefix.replace(/^\/+|\/+$/g, "");
    if (trimmed !== "") {
      const segments = trimmed.split("/");
      if (
        segments.some((s) => s === "" || s === "." || s === "..") ||
        // deno-lint-ignore no-control-regex
        /[\x00-\x1f\x7f]/.test(trimmed) || !trimmed.isWellFormed()
      ) {
        throw new FerryError("USAGE", `S3 prefix ${JSON.stringify(prefix)} is not a clean path`);
      }
    }
    this.prefix = trimmed === "" ? "" : `${trimmed}/`;
  }

  /**
   * Parses a client path (see `parsePath`) and returns its keys.
   *
   * @throws {FerryError} what `parsePath` throws; `NAME_TOO_LONG` when the key, prefix
   * included, passes S3's 1,024 bytes.
   */
  locate(path: string, purpose: PathPurpose): Located {
    const components = parsePath(path, purpose);
    const relative = components.join("/");
    const key = relative === "" ? "" : this.prefix + relative;
    const dirPrefix = relative === "" ? this.prefix : `${key}/`;
    if (new TextEncoder().encode(dirPrefix).length > MAX_KEY_BYTES) {
      throw new FerryError(
        "NAME_TOO_LONG",
        `${
          quoteName(path)
        }: too long for the object store (keys hold at most ${MAX_KEY_BYTES} bytes)`,
      );
    }
    return { path, components, key, dirPrefix };
  }

  /** The located parent of a non-root path. */
  parentOf(located: Located): Located {
    const components = located.components.slice(0, -1);
    const relative = components.join("/");
    const key = relative === "" ? "" : this.prefix + relative;
    return {
      path: relative === "" ? "." : relative,
      components,
      key,
      dirPrefix: relative === "" ? this.prefix : `${key}/`,
    };
  }

  /** The client path (relative to the root) of a key below the prefix. */
  relative(key: string): string {
    return key.slice(this.prefix.length);
  }

  /** The folder of the server's own objects. */
  get uploadsPrefix(): string {
    return this.prefix + UPLOADS_FOLDER;
  }

  /**
   * The checkpoint key of the resumable upload of `size` bytes with `mtime` by `user` to `key`:
   * the same request always finds the same checkpoint, on any server of the bucket.
   */
  checkpointKey(user: string, key: string, size: number, mtime: number | null): string {
    const id = createHash("sha256").update(`${user}\0${key}\0${size}\0${mtime ?? ""}`)
      .digest("hex").slice(0, 32);
    return `${this.uploadsPrefix}${id}`;
  }

  /** A fresh key for a tail of the upload whose checkpoint is `checkpointKey`. */
  tailKey(checkpointKey: string): string {
    return `${checkpointKey}.${crypto.getRandomValues(new Uint8Array(8)).toHex()}.tail`;
  }

  /** True for the key of a checkpoint (not a tail). */
  isCheckpointKey(key: string): boolean {
    return key.startsWith(this.uploadsPrefix) && /^[0-9a-f]{32}$/.test(key.slice(
      this.uploadsPrefix.length,
    ));
  }
}
