/**
 * Which storage the test servers get, and the S3 store the S3 tests use. One place reads it all:
 *
 * - `FERRY_TEST_STORAGE`: `local` (default) or `s3`. With `s3`, every test server (in-process
 *   `startServer`, child `spawnServer`s) serves a fresh prefix of the test bucket instead of a
 *   temporary directory, so the end-to-end tests run once more on the other storage.
 * - `FERRY_TEST_S3_ENDPOINT`, `FERRY_TEST_S3_ACCESS_KEY`, `FERRY_TEST_S3_SECRET_KEY` (and
 *   optionally `FERRY_TEST_S3_REGION`, `FERRY_TEST_S3_BUCKET`, default `ferry-tests`): the
 *   store. `scripts/ceph/start.sh` starts one and writes these to `$CEPH_DIR/env`.
 *
 * Without a store the S3 tests are ignored with a message, except in CI (`CI=true`), where a
 * missing store fails them: CI must not skip them.
 *
 * @module
 */

import {
  abortMultipartUpload,
  createBucket,
  deleteObjects,
  getObject,
  isS3Error,
  listMultipartUploads,
  listObjects,
  putObject,
  S3Client,
} from "../server/storage/s3/mod.ts";
import { createS3Storage, type S3Storage } from "../server/storage/s3/storage.ts";

const env = (name: string) => Deno.env.get(name) || undefined;

/** The S3 store of the tests, from the environment. */
export const S3_TEST_STORE = {
  endpoint: env("FERRY_TEST_S3_ENDPOINT"),
  accessKey: env("FERRY_TEST_S3_ACCESS_KEY") ?? "",
  secretKey: env("FERRY_TEST_S3_SECRET_KEY") ?? "",
  region: env("FERRY_TEST_S3_REGION"),
  bucket: env("FERRY_TEST_S3_BUCKET") ?? "ferry-tests",
} as const;

/** The storage test servers get: `FERRY_TEST_STORAGE`, `local` unless it says `s3`. */
export const TEST_STORAGE: "local" | "s3" = env("FERRY_TEST_STORAGE") === "s3" ? "s3" : "local";

/** True when test servers serve an S3 bucket (`FERRY_TEST_STORAGE=s3`). */
export const ON_S3 = TEST_STORAGE === "s3";

const IN_CI = env("CI") === "true";
let warned = false;

/**
 * Whether the S3 tests of `file` are to be ignored: only when no store is configured outside CI
 * (a message says so, once). In CI they run, and fail for want of a store.
 */
export function ignoreWithoutS3(file: string): boolean {
  if (S3_TEST_STORE.endpoint !== undefined || IN_CI) return false;
  if (!warned) {
    warned = true;
    console.warn(
      `${file}: the S3 tests are ignored: no store. Start one with\n` +
        "  scripts/ceph/install.sh && scripts/ceph/start.sh && set -a && . /tmp/ferry-ceph/env && set +a\n" +
        "(it sets FERRY_TEST_S3_ENDPOINT, FERRY_TEST_S3_ACCESS_KEY, FERRY_TEST_S3_SECRET_KEY).",
    );
  }
  return true;
}

/** A client on the test bucket (created on first use). */
export async function testS3Client(): Promise<S3Client> {
  if (S3_TEST_STORE.endpoint === undefined) {
    throw new Error(
      "FERRY_TEST_S3_ENDPOINT is not set: these tests need an S3 store " +
        "(scripts/ceph/start.sh starts one; in CI, .ci/run does)",
    );
  }
  const client = new S3Client({
    endpoint: S3_TEST_STORE.endpoint,
    bucket: S3_TEST_STORE.bucket,
    region: S3_TEST_STORE.region,
    credentials: {
      accessKeyId: S3_TEST_STORE.accessKey,
      secretAccessKey: S3_TEST_STORE.secretKey,
    },
  });
  bucketReady ??= createBucket(client).catch((err) => {
    if (!isS3Error(err, "BucketAlreadyOwnedByYou")) throw err;
  });
  await bucketReady;
  return client;
}

let bucketReady: Promise<void> | undefined;

/** A prefix no other test uses. */
export function freshPrefix(what = "t"): string {
  const id = crypto.getRandomValues(new Uint8Array(6)).toHex();
  return `${what}-${Date.now().toString(36)}-${id}/`;
}

/** Removes everything below `prefix`: objects and multipart uploads in progress. */
export async function emptyPrefix(client: S3Client, prefix: string): Promise<void> {
  for await (const u of listMultipartUploads(client, { prefix })) {
    await abortMultipartUpload(client, u.key, u.uploadId).catch(() => {});
  }
  let batch: string[] = [];
  for await (const e of listObjects(client, { prefix })) {
    if (e.kind !== "object") continue;
    batch.push(e.key);
    if (batch.length === 1000) {
      await deleteObjects(client, batch);
      batch = [];
    }
  }
  if (batch.length > 0) await deleteObjects(client, batch);
}

/** An S3 storage on a fresh prefix of the test bucket, and its removal. */
export interface TestS3Storage {
  /** The storage. */
  storage: S3Storage;
  /** Its client (for looking at the bucket behind the storage's back). */
  client: S3Client;
  /** Its prefix. */
  prefix: string;
  /** Empties the prefix. */
  close(): Promise<void>;
}

/** Opens an S3 storage on a fresh prefix (`options` as `createS3Storage`'s). */
export async function openTestS3Storage(
  options: { partSize?: number; prefix?: string } = {},
): Promise<TestS3Storage> {
  const client = await testS3Client();
  const prefix = options.prefix ?? freshPrefix();
  return {
    storage: createS3Storage({ client, prefix, partSize: options.partSize }),
    client,
    prefix,
    close: () => emptyPrefix(client, prefix),
  };
}

/**
 * What a spawned server needs to serve `prefix` of the test bucket: its flags and the variables
 * with the keys (keys never go on a command line).
 */
export function s3ServerArgs(prefix: string): { flags: string[]; env: Record<string, string> } {
  const flags = [
    "--storage",
    "s3",
    "--s3-endpoint",
    S3_TEST_STORE.endpoint ?? "",
    "--s3-bucket",
    S3_TEST_STORE.bucket,
    "--s3-prefix",
    prefix,
  ];
  if (S3_TEST_STORE.region !== undefined) flags.push("--s3-region", S3_TEST_STORE.region);
  return {
    flags,
    env: {
      FERRY_S3_ACCESS_KEY: S3_TEST_STORE.accessKey,
      FERRY_S3_SECRET_KEY: S3_TEST_STORE.secretKey,
    },
  };
}

/** Reads an object of the test bucket whole (for checks behind the server's back). */
export async function readObject(client: S3Client, key: string): Promise<Uint8Array> {
  const got = await getObject(client, key);
  return new Uint8Array(await new Response(got.body).arrayBuffer());
}

/** Writes an object of the test bucket (as another S3 tool would: no ferry metadata). */
export async function writeObject(
  client: S3Client,
  key: string,
  data: Uint8Array | string,
): Promise<void> {
  await putObject(client, key, data);
}

// ---------------------------------------------------------------------------------------------
// The files a test server serves, seen behind its back

/**
 * The files a test server serves, read and written directly (not through ferry): a directory,
 * or a prefix of the test bucket. Paths are relative to the served root, `/`-separated.
 */
export interface StoredFiles {
  /** Where they are: a directory, or `s3://bucket/prefix`. */
  readonly location: string;
  /** The bytes of a file. */
  read(path: string): Promise<Uint8Array>;
  /** The text of a file. */
  readText(path: string): Promise<string>;
  /** Creates or replaces a file (on S3 as another S3 tool would: no ferry metadata). */
  write(path: string, data: Uint8Array | string): Promise<void>;
  /** Creates a directory (its parent must exist); on S3, its marker. */
  mkdir(path: string): Promise<void>;
  /** True when a file or directory is there. */
  exists(path: string): Promise<boolean>;
  /**
   * The names a directory holds, sorted, the server's temporaries included: on disk its files,
   * on S3 its keys and, as `NAME (multipart upload)`, uploads in progress to keys in it (the root
   * also shows `.ferry-uploads` while any upload is kept there).
   */
  names(dir?: string): Promise<string[]>;
}

/** The files below the directory `root`. */
export function localFiles(root: string): StoredFiles {
  const at = (path: string) => path === "." ? root : `${root}/${path}`;
  return {
    location: root,
    read: (path) => Deno.readFile(at(path)),
    readText: (path) => Deno.readTextFile(at(path)),
    write: (path, data) =>
      typeof data === "string"
        ? Deno.writeTextFile(at(path), data)
        : Deno.writeFile(at(path), data),
    mkdir: (path) => Deno.mkdir(at(path)),
    exists: (path) => Deno.lstat(at(path)).then(() => true, () => false),
    async names(dir = ".") {
      return (await Array.fromAsync(Deno.readDir(at(dir)))).map((e) => e.name).sort();
    },
  };
}

/** The files below `prefix` of the bucket of `client`. */
export function s3Files(client: S3Client, prefix: string): StoredFiles {
  const key = (path: string) => path === "." ? prefix : prefix + path;
  const text = new TextDecoder();
  return {
    location: `s3://${client.bucket}/${prefix}`,
    read: (path) => readObject(client, key(path)),
    readText: async (path) => text.decode(await readObject(client, key(path))),
    write: (path, data) => writeObject(client, key(path), data),
    mkdir: (path) => writeObject(client, `${key(path)}/`, ""),
    async exists(path) {
      for await (const e of listObjects(client, { prefix: key(path), delimiter: "/" })) {
        const name = e.kind === "object" ? e.key : e.prefix;
        if (name === key(path) || name === `${key(path)}/`) return true;
      }
      return false;
    },
    async names(dir = ".") {
      const below = dir === "." ? prefix : `${key(dir)}/`;
      const out: string[] = [];
      for await (const e of listObjects(client, { prefix: below, delimiter: "/" })) {
        const name = e.kind === "object"
          ? e.key.slice(below.length)
          : e.prefix.slice(below.length, -1);
        if (name !== "") out.push(name);
      }
      for await (const u of listMultipartUploads(client, { prefix: below })) {
        const name = u.key.slice(below.length);
        if (!name.includes("/")) out.push(`${name} (multipart upload)`);
      }
      return out.sort();
    },
  };
}

/** The storage one test server gets, as `FERRY_TEST_STORAGE` says. */
export interface TestServerStorage {
  /** For `serve()`: the S3 storage; undefined for the local directory. */
  readonly backend?: { storage: S3Storage; location: string };
  /** For a server process: the flags that choose the storage (none for `--root`). */
  readonly flags: string[];
  /** For a server process: the variables with the S3 keys. */
  readonly env: Record<string, string>;
  /** The files it serves. */
  readonly files: StoredFiles;
  /** Removes what it stored in the bucket (a local root is its caller's to remove). */
  close(): Promise<void>;
}

/**
 * The storage of a test server whose local root would be `root`: that directory, or with
 * `FERRY_TEST_STORAGE=s3` (or an explicit `s3Prefix`) a prefix of the test bucket, fresh unless
 * given (two servers given one prefix share their files).
 */
export async function testServerStorage(
  root: string,
  options: { s3Prefix?: string } = {},
): Promise<TestServerStorage> {
  if (!ON_S3 && options.s3Prefix === undefined) {
    return { flags: [], env: {}, files: localFiles(root), close: () => Promise.resolve() };
  }
  const client = await testS3Client();
  const prefix = options.s3Prefix ?? freshPrefix();
  const storage = createS3Storage({ client, prefix });
  const { flags, env } = s3ServerArgs(prefix);
  return {
    backend: { storage, location: storage.location },
    flags,
    env,
    files: s3Files(client, prefix),
    close: () => options.s3Prefix === undefined ? emptyPrefix(client, prefix) : Promise.resolve(),
  };
}

/**
 * For `Deno.test`'s `ignore`: true when the test servers are on S3 and the test is about the
 * local disk itself (symlinks, FIFOs, permissions, temporary files on disk). `reason` says why,
 * where the test is declared.
 */
export function localOnly(reason: string): boolean {
  return ON_S3 && reason !== "";
}

/** The keys below `prefix` of the test bucket (a short listing, for checks). */
export async function listObjectsFor(client: S3Client, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const e of listObjects(client, { prefix })) if (e.kind === "object") keys.push(e.key);
  return keys;
}
