/**
 * Chooses the server's storage at start-up: the race-free one (`server/storage/race_free.ts`,
 * every access relative to directory descriptors through `openat2` with `RESOLVE_BENEATH`)
 * where `checkSupport()` says it can run (Linux 5.6+, `--allow-ffi`), the portable path-based
 * one (`server/storage/local.ts`) elsewhere. The choice and its reason go to the start-up log.
 *
 * @module
 */

import { FerryError } from "../../protocol/errors.ts";
import { checkSupport, findLibc } from "./beneath/mod.ts";
import { createLocalStorage } from "./local.ts";
import { createRaceFreeStorage } from "./race_free.ts";
import type { Storage } from "./storage.ts";
import type { StagingShared } from "./staging.ts";

/** The two storages: race-free by descriptor, or portable by path. */
export type StorageKind = "race-free" | "path";

/** What to run on: the best available (`auto`), or one kind, failing when it cannot run. */
export type StorageChoice = "auto" | StorageKind;

/** The storage choices, as the `--storage` flag takes them. */
export const STORAGE_CHOICES: readonly StorageChoice[] = ["auto", "race-free", "path"];

/**
 * Reads a `--storage` value: one of {@linkcode STORAGE_CHOICES}, or `local` (the local disk,
 * whichever way: the same as `auto`).
 *
 * @throws {FerryError} `USAGE` for anything else.
 */
export function parseStorageChoice(text: string): StorageChoice {
  const choice = STORAGE_CHOICES.find((c) => c === (text === "local" ? "auto" : text));
  if (choice === undefined) {
    throw new FerryError(
      "USAGE",
      `unknown storage ${JSON.stringify(text)}; use ${STORAGE_CHOICES.join(", ")} or s3`,
    );
  }
  return choice;
}

/** A storage opened over the data root, with what it is and why it was chosen. */
export interface OpenedStorage {
  /** The storage. */
  readonly storage: Storage;
  /** Which implementation it is. */
  readonly kind: StorageKind;
  /** Why this one: the race-free layer's support, or why it is missing. */
  readonly reason: string;
  /** Real path of the data root (for the start-up log only; never sent to a client). */
  readonly root: string;
  /** Releases what the storage holds (the root's descriptor); safe to call twice. */
  close(): void;
}

/** Options of {@linkcode openStorage}. */
export interface OpenStorageOptions {
  /** Which storage (default `auto`). */
  readonly choice?: StorageChoice;
  /** The C library to load for the race-free storage (default: `findLibc()`). */
  readonly libraryPath?: string;
  /**
   * What the uploads share with the other isolates serving the same root (temporaries being
   * written, the commit lock); default: this storage's own.
   */
  readonly shared?: StagingShared;
}

/**
 * Opens the directory `root` as the server's storage.
 *
 * @example Usage
 * ```ts ignore
 * import { openStorage } from "./open.ts";
 * const { storage, kind, reason } = await openStorage("./data");
 * console.error(`storage: ${kind} (${reason})`);
 * ```
 *
 * @throws {FerryError} `USAGE` when `choice` is `race-free` and it cannot run here, or
 * when `root` is not a directory.
 */
export async function openStorage(
  root: string,
  options: OpenStorageOptions = {},
): Promise<OpenedStorage> {
  const choice = parseStorageChoice(options.choice ?? "auto");
  if (choice !== "path") {
    const libraryPath = options.libraryPath ?? findLibc();
    const support = checkSupport(libraryPath);
    if (support.supported) {
      const storage = await createRaceFreeStorage(root, { libraryPath, shared: options.shared });
      return {
        storage,
        kind: "race-free",
        reason: `openat2 with RESOLVE_BENEATH through ${libraryPath}: every access relative ` +
          `to the root's descriptor`,
        root: storage.root,
        close: () => storage.close(),
      };
    }
    if (choice === "race-free") {
      throw new FerryError("USAGE", `the race-free storage cannot run here: ${support.reason}`);
    }
    const storage = await createLocalStorage(root, options.shared);
    return {
      storage,
      kind: "path",
      reason: `${support.reason}; symlink races by local users in the root are not prevented ` +
        `(see SECURITY.md)`,
      root: storage.root,
      close: () => {},
    };
  }
  const storage = await createLocalStorage(root, options.shared);
  return {
    storage,
    kind: "path",
    reason: "chosen with --storage path; symlink races by local users in the root are not " +
      "prevented (see SECURITY.md)",
    root: storage.root,
    close: () => {},
  };
}
