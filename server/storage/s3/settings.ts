/**
 * The S3 storage from the server's settings (`--storage s3 --s3-endpoint URL --s3-bucket NAME
 * [--s3-prefix P] [--s3-region R] [--s3-key-file FILE]`, or their `FERRY_*` variables and
 * config-file keys). The keys come from `FERRY_S3_ACCESS_KEY` / `FERRY_S3_SECRET_KEY` (and
 * `FERRY_S3_SESSION_TOKEN`), or from the key file; never from the command line.
 *
 * `server/s3_flags.ts` imports this module only when the S3 storage is chosen, so a server on the
 * local disk never loads the npm packages behind it (`aws4fetch`, `hash-wasm`).
 *
 * @module
 */

import { FerryError, messageOf } from "../../../protocol/errors.ts";
import { S3Client } from "./client.ts";
import { readS3CredentialsFile, s3CredentialsFrom } from "./credentials.ts";
import { isS3Error } from "./errors.ts";
import { Layout } from "./layout.ts";
import { listObjectsPage } from "./list_objects.ts";
import { createS3Storage, type S3Storage } from "./storage.ts";

/**
 * Opens the S3 storage that `values` describe and checks that its bucket answers (so a wrong
 * endpoint, bucket or key fails at start-up, not at the first request).
 *
 * @param values Settings by flag name (`s3-endpoint`, ...).
 * @param env Reads an environment variable (for the keys).
 * @throws {FerryError} `USAGE` for a missing or bad setting, missing keys, or a bucket that
 * cannot be reached or used.
 */
export async function openS3Storage(
  values: Readonly<Record<string, unknown>>,
  env: (name: string) => string | undefined,
): Promise<S3Storage> {
  const setting = (name: string) => {
    const value = values[name];
    return typeof value === "string" && value !== "" ? value : undefined;
  };
  const endpoint = setting("s3-endpoint");
  const bucket = setting("s3-bucket");
  if (endpoint === undefined || bucket === undefined) {
    throw new FerryError("USAGE", "--storage s3 needs --s3-endpoint URL and --s3-bucket NAME");
  }
  const keyFile = setting("s3-key-file");
  const credentials = keyFile !== undefined
    ? await readS3CredentialsFile(keyFile)
    : s3CredentialsFrom(env, "the environment");
  if (credentials === undefined) {
    throw new FerryError(
      "USAGE",
      "--storage s3 needs keys: set FERRY_S3_ACCESS_KEY and FERRY_S3_SECRET_KEY, or give " +
        "--s3-key-file FILE (never the keys themselves on the command line)",
    );
  }
  const prefix = new Layout(setting("s3-prefix")).prefix;
  const client = new S3Client({ endpoint, bucket, region: setting("s3-region"), credentials });
  try {
    await listObjectsPage(client, { prefix, pageSize: 1 });
  } catch (err) {
    const why = isS3Error(err, "NoSuchBucket")
      ? `bucket ${bucket} does not exist (ferry does not create it)`
      : isS3Error(err, "NetworkError")
      ? `cannot reach ${client.endpoint}: ${messageOf(err.cause)}`
      : messageOf(err);
    throw new FerryError("USAGE", `S3 storage: ${why}`, { cause: err });
  }
  return createS3Storage({ client, prefix });
}
