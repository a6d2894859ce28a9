/**
 * The server's S3 settings on the command line (`--storage s3` and the `--s3-*` flags, also as
 * `FERRY_*` variables and config-file keys): their names, their help, and the storage they
 * open. `server/main.ts` takes all of it from here.
 *
 * The S3 storage itself (`server/storage/s3/settings.ts`) is imported only when it is chosen, by
 * a specifier built at run time, so that neither Deno's module graph nor a server on the local
 * disk ever loads it or the npm packages behind it (`tests/server/s3_config_test.ts` checks).
 *
 * @module
 */

import { FerryError } from "../protocol/errors.ts";
import type { Storage } from "./storage/storage.ts";

/** The settings (flag names without `--`) that only the S3 storage reads. */
export const S3_FLAGS: readonly string[] = [
  "s3-endpoint",
  "s3-bucket",
  "s3-prefix",
  "s3-region",
  "s3-key-file",
];

/** The `--s3-*` flags as `node:util` `parseArgs` options (all strings). */
export const S3_OPTIONS: Readonly<Record<string, { type: "string" }>> = Object.fromEntries(
  S3_FLAGS.map((flag) => [flag, { type: "string" as const }]),
);

/** The lines of `ferry-server --help` about the S3 storage. */
export const S3_HELP =
  `  --storage s3       keep the files in an S3 bucket (Ceph RGW, MinIO, AWS S3, R2) instead of
                     --root; several servers may share one bucket (README, "Files in S3"):
  --s3-endpoint URL  the store, e.g. http://127.0.0.1:7480 or https://s3.eu-west-1.amazonaws.com
  --s3-bucket NAME   the bucket, which must exist
  --s3-prefix P      keep the files below this key prefix       (default: the whole bucket)
  --s3-region R      the SigV4 region                           (default us-east-1)
  --s3-key-file FILE NAME=value lines FERRY_S3_ACCESS_KEY=… and FERRY_S3_SECRET_KEY=… (mode 0600)
                     Without it the keys come from those two environment variables; they are
                     never taken from the command line.`;

/** A storage opened from the S3 settings, as `serve`'s `backend` option takes it. */
export interface S3Backend {
  /** The S3 storage. */
  readonly storage: Storage;
  /** What it is, for the start-up log. */
  readonly kind: "s3";
  /** `s3://bucket/prefix`, for the start-up log. */
  readonly location: string;
}

/** The module of the S3 storage, imported only when it is chosen. */
type S3Settings = typeof import("./storage/s3/settings.ts");

/**
 * The S3 storage when `values.storage` is `s3`, else undefined (the local storage `serve`
 * opens on the root).
 *
 * @param values The settings by flag name (`storage`, `s3-endpoint`, ...).
 * @param env Reads an environment variable (for the keys).
 * @throws {FerryError} `USAGE` for an `--s3-*` setting without `--storage s3`, or any setting
 * the S3 storage refuses (see `server/storage/s3/settings.ts`).
 */
export async function openS3Backend(
  values: Readonly<Record<string, unknown>>,
  env: (name: string) => string | undefined,
): Promise<S3Backend | undefined> {
  if (values.storage !== "s3") {
    const flag = S3_FLAGS.find((k) => values[k] !== undefined);
    if (flag !== undefined) throw new FerryError("USAGE", `--${flag} needs --storage s3`);
    return undefined;
  }
  const specifier = ["./storage/s3", "settings.ts"].join("/");
  const { openS3Storage }: S3Settings = await import(specifier);
  const storage = await openS3Storage(values, env);
  return { storage, kind: "s3", location: storage.location };
}
