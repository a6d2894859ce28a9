/**
 * The storages a server can run on here: the portable path-based one always, the race-free one
 * (`server/storage/beneath/`) where `checkSupport()` says yes (Linux 5.6+, `--allow-ffi`).
 * Tests that must hold on both run once per kind.
 *
 * @module
 */

import { checkSupport } from "../../server/storage/beneath/mod.ts";

/** A storage implementation a server can be started on. */
export type StorageKind = "path" | "race-free";

/** The kinds available in this process. */
export const STORAGE_KINDS: readonly StorageKind[] = checkSupport().supported
  ? ["path", "race-free"]
  : ["path"];
