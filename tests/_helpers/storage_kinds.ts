/**
 * The storages a server can run on here: the portable path-based one always, the race-free one
 * (`server/storage/beneath/`) where `checkSupport()` says yes (Linux 5.6+, `--allow-ffi`), and,
 * with `FERRY_TEST_STORAGE=s3`, the S3 storage (`storage.ts`). Tests that must hold on every
 * storage run once per kind of {@linkcode STORAGE_KINDS}.
 *
 * @module
 */

import { checkSupport } from "../../server/storage/beneath/mod.ts";
import { ON_S3 } from "./storage.ts";

/** A local storage implementation a server can be started on. */
export type LocalStorageKind = "path" | "race-free";

/** A storage a test server can be started on. */
export type StorageKind = LocalStorageKind | "s3";

/** The local kinds available in this process. */
export const LOCAL_STORAGE_KINDS: readonly LocalStorageKind[] = checkSupport().supported
  ? ["path", "race-free"]
  : ["path"];

/**
 * The kinds the end-to-end tests run on: the local ones, or with `FERRY_TEST_STORAGE=s3` the S3
 * storage only (the local kinds had their run).
 */
export const STORAGE_KINDS: readonly StorageKind[] = ON_S3 ? ["s3"] : LOCAL_STORAGE_KINDS;
