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

import assert from "node:assert/strict";
import { tree } from "./fs.ts";
import { sha256Hex, xxh128Hex } from "./bytes.ts";
import {
  abortMultipartUpload,
  copyObject,
  createBucket,
  decodeCheckpoint,
  deleteObject,
  deleteObjects,
  encodeCheckpoint,
  getObject,
  headObject,
  isS3Error,
  listMultipartUploads,
  listObjects,
  putObject,
  S3Client,
} from "../../server/storage/s3/mod.ts";
import { createS3Storage, type S3Storage } from "../../server/storage/s3/storage.ts";
import { DEFAULT_PART_SIZE } from "../../server/storage/s3/staging.ts";

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

/**
 * The end-to-end checksum a test server's transfers carry (PROTOCOL.md §3.2): XXH3-128 on the
 * local disk, SHA-256 on S3 (whose storage keeps and resumes SHA-256 only).
 */
export const TEST_CHECKSUM: "xxh128" | "sha256" = ON_S3 ? "sha256" : "xxh128";

/** `data`'s digest in {@linkcode TEST_CHECKSUM}, as lowercase hex. */
export function checksumHex(data: Uint8Array): Promise<string> {
  return ON_S3 ? Promise.resolve(sha256Hex(data)) : xxh128Hex(data);
}

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
  /** Removes a file. */
  remove(path: string): Promise<void>;
  /** True when a file or directory is there. */
  exists(path: string): Promise<boolean>;
  /** What is there: a file, a directory (on S3: a marker, or keys below), or nothing. */
  kind(path: string): Promise<"file" | "dir" | "other" | undefined>;
  /**
   * Every path below the directory `dir`, relative to it, directories with a trailing `/`,
   * sorted (on S3 every directory a key implies, marker or not).
   */
  tree(dir: string): Promise<string[]>;
  /** The modification time ferry serves for a file or directory (ms since the epoch). */
  mtime(path: string): Promise<number | null>;
  /** Sets that time (on S3: rewrites the object or marker with it in its metadata). */
  setMtime(path: string, time: Date): Promise<void>;
  /**
   * The uploads the server keeps for resuming: its `.ferry-…partial` files in the root, or its
   * checkpoints on S3.
   */
  kept(): Promise<string[]>;
  /**
   * Flips one byte of what the one kept upload holds (its partial file; on S3 its tail object,
   * with its checkpoint rewritten to name the changed tail), as a bad disk or a meddler would.
   */
  tamperKept(): Promise<void>;
  /**
   * The names a kept (resumable) upload takes among {@linkcode names}: its `.ferry-…partial`
   * file, or on S3 the `.ferry-uploads` folder of checkpoints and its `NAME (multipart upload)`.
   */
  readonly keptPattern: RegExp;
  /**
   * Whatever the server has stored for itself: the hidden names in the root, or on S3 every
   * object below `.ferry-uploads/` and every multipart upload in progress.
   */
  temporaries(): Promise<string[]>;
  /**
   * How many bytes an upload of unknown size must have received before its temporary shows in
   * {@linkcode names}: on disk its temporary file is there at once; on S3 the first part is kept
   * in the server's memory, and the multipart upload begins when more than a part arrived.
   */
  readonly stagedAfter: number;
  /**
   * Everything the storage holds outside the served files, for checks that nothing there
   * changed: every path beside the root (with kind, size and a file's mtime), or every key and
   * multipart upload of the bucket outside the prefix.
   */
  around(): Promise<string[]>;
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
    stagedAfter: 1,
    keptPattern: /^\.ferry-[0-9a-f]{32}\.partial$/,
    async around() {
      const name = root.slice(root.lastIndexOf("/") + 1);
      return (await snapshot(`${root}/..`)).filter((p) =>
        !p.startsWith(`${name} `) &&
        !p.startsWith(`${name}/`)
      );
    },
    read: (path) => Deno.readFile(at(path)),
    readText: (path) => Deno.readTextFile(at(path)),
    write: (path, data) =>
      typeof data === "string"
        ? Deno.writeTextFile(at(path), data)
        : Deno.writeFile(at(path), data),
    mkdir: (path) => Deno.mkdir(at(path)),
    remove: (path) => Deno.remove(at(path)),
    async tree(dir) {
      const walk = async (prefix: string): Promise<string[]> => {
        const out: string[] = [];
        for await (const e of Deno.readDir(`${at(dir)}/${prefix}`)) {
          const rel = `${prefix}${e.name}`;
          if (e.isDirectory) out.push(`${rel}/`, ...(await walk(`${rel}/`)));
          else out.push(rel);
        }
        return out;
      };
      return (await walk("")).sort();
    },
    mtime: async (path) => (await Deno.lstat(at(path))).mtime?.getTime() ?? null,
    setMtime: (path, time) => Deno.utime(at(path), time, time),
    exists: (path) => Deno.lstat(at(path)).then(() => true, () => false),
    async kind(path) {
      const info = await Deno.lstat(at(path)).catch(() => undefined);
      if (info === undefined) return undefined;
      return info.isFile ? "file" : info.isDirectory ? "dir" : "other";
    },
    async kept() {
      return (await this.names()).filter((n) => n.startsWith(".ferry-") && n.endsWith(".partial"));
    },
    async tamperKept() {
      const [partial] = await this.kept();
      const bytes = await Deno.readFile(at(partial));
      bytes[10] ^= 0xff;
      await Deno.writeFile(at(partial), bytes);
    },
    async temporaries() {
      return (await this.names()).filter((n) => n.startsWith("."));
    },
    async names(dir = ".") {
      return (await Array.fromAsync(Deno.readDir(at(dir)))).map((e) => e.name).sort();
    },
  };
}

/** Every path below `dir` with its kind, size and a file's mtime (links not followed), sorted. */
async function snapshot(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const info = await Deno.lstat(`${dir}/${e.name}`);
    const kind = info.isSymlink ? "link" : info.isDirectory ? "dir" : "file";
    // A directory's own mtime is left out: temporary files may come and go in it.
    const mtime = info.isDirectory ? "" : ` ${info.mtime?.getTime()}`;
    out.push(`${prefix}${e.name} ${kind} ${info.size}${mtime}`);
    if (info.isDirectory) out.push(...await snapshot(`${dir}/${e.name}`, `${prefix}${e.name}/`));
  }
  return out.sort();
}

/** The files below `prefix` of the bucket of `client`. */
export function s3Files(client: S3Client, prefix: string): StoredFiles {
  const key = (path: string) => path === "." ? prefix : prefix + path;
  const text = new TextDecoder();
  return {
    location: `s3://${client.bucket}/${prefix}`,
    stagedAfter: DEFAULT_PART_SIZE + 1,
    keptPattern: /^(\.ferry-uploads|[^/]+ \(multipart upload\))$/,
    async around() {
      const out: string[] = [];
      for await (const e of listObjects(client)) {
        if (e.kind === "object" && !e.key.startsWith(prefix)) {
          out.push(`${e.key} ${e.size} ${e.etag}`);
        }
      }
      for await (const u of listMultipartUploads(client)) {
        if (!u.key.startsWith(prefix)) out.push(`${u.key} upload ${u.uploadId}`);
      }
      return out.sort();
    },
    read: (path) => readObject(client, key(path)),
    readText: async (path) => text.decode(await readObject(client, key(path))),
    write: (path, data) => writeObject(client, key(path), data),
    mkdir: (path) => writeObject(client, `${key(path)}/`, ""),
    remove: (path) => deleteObject(client, key(path)),
    async tree(dir) {
      const below = dir === "." ? prefix : `${key(dir)}/`;
      const out = new Set<string>();
      for (const k of await listObjectsFor(client, below)) {
        const rel = k.slice(below.length);
        if (rel === "") continue; // the directory's own marker
        const parts = rel.split("/");
        for (let i = 1; i < parts.length; i++) out.add(`${parts.slice(0, i).join("/")}/`);
        if (!rel.endsWith("/")) out.add(rel);
      }
      return [...out].sort();
    },
    async mtime(path) {
      let info;
      try {
        info = await headObject(client, key(path));
      } catch {
        info = await headObject(client, `${key(path)}/`);
      }
      const kept = info.metadata["ferry-mtime"];
      return kept !== undefined ? Number(kept) : info.lastModified.getTime();
    },
    async setMtime(path, time) {
      const metadata = { "ferry-mtime": String(time.getTime()) };
      if ((await this.kind(path)) === "dir") {
        await putObject(client, `${key(path)}/`, "", { metadata });
      } else {
        const info = await headObject(client, key(path));
        await copyObject(client, key(path), key(path), {
          metadata: { ...info.metadata, ...metadata },
          ifSourceMatch: info.etag,
        });
      }
    },
    async kind(path) {
      for await (const e of listObjects(client, { prefix: key(path), delimiter: "/" })) {
        if (e.kind === "object" && e.key === key(path)) return "file";
        if (e.kind === "prefix" && e.prefix === `${key(path)}/`) return "dir";
      }
      return undefined;
    },
    async kept() {
      const uploads = `${prefix}.ferry-uploads/`;
      return (await listObjectsFor(client, uploads))
        .filter((k) => /^[0-9a-f]{32}$/.test(k.slice(uploads.length)))
        .map((k) => k.slice(prefix.length));
    },
    async tamperKept() {
      const [checkpointPath] = await this.kept();
      const checkpoint = decodeCheckpoint(await this.read(checkpointPath));
      if (checkpoint.tail === undefined) throw new Error("the kept upload has no tail to tamper");
      const bytes = await readObject(client, checkpoint.tail.key);
      bytes[Math.min(10, checkpoint.tail.size - 1)] ^= 0xff;
      const { etag } = await putObject(client, checkpoint.tail.key, bytes);
      const tampered = { ...checkpoint, tail: { ...checkpoint.tail, etag } };
      await putObject(client, key(checkpointPath), encodeCheckpoint(tampered));
    },
    async temporaries() {
      const out = (await listObjectsFor(client, `${prefix}.ferry-uploads/`))
        .map((k) => k.slice(prefix.length));
      for await (const u of listMultipartUploads(client, { prefix })) {
        out.push(`${u.key.slice(prefix.length)} (multipart upload)`);
      }
      return out.sort();
    },
    async exists(path) {
      if (path === ".") return true; // the root is always there
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
  readonly backend?: { storage: S3Storage; kind: "s3"; location: string };
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
 * `FERRY_TEST_STORAGE=s3` (unless `local` asks for the disk), or when `s3` or an `s3Prefix` asks
 * for it, a prefix of the test bucket, fresh unless given (two servers given one prefix share
 * their files).
 */
export async function testServerStorage(
  root: string,
  options: { s3Prefix?: string; local?: boolean; s3?: boolean } = {},
): Promise<TestServerStorage> {
  if (!options.s3 && (!ON_S3 || options.local) && options.s3Prefix === undefined) {
    return { flags: [], env: {}, files: localFiles(root), close: () => Promise.resolve() };
  }
  const client = await testS3Client();
  const prefix = options.s3Prefix ?? freshPrefix();
  const storage = createS3Storage({ client, prefix });
  const { flags, env } = s3ServerArgs(prefix);
  return {
    backend: { storage, kind: "s3", location: storage.location },
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

/**
 * How many of the file descriptors of process `pid` are TCP connections to the S3 test store:
 * the connections `fetch` keeps open for the next requests (idle ones close after a while).
 * Tests that check that a server's descriptors return to a baseline leave these out; 0 when
 * the test servers are not on S3.
 */
export function storeSocketCount(pid: number = Deno.pid): number {
  if (!ON_S3 || S3_TEST_STORE.endpoint === undefined) return 0;
  const url = new URL(S3_TEST_STORE.endpoint);
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  const run = (cmd: string, args: string[]) =>
    new TextDecoder().decode(
      new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).outputSync().stdout,
    );
  const inodes = new Set<string>();
  for (const line of run("cat", ["/proc/net/tcp", "/proc/net/tcp6"]).split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    const remotePort = parseInt(fields[2]?.split(":")[1] ?? "", 16);
    if (remotePort === port && fields[9] !== undefined) inodes.add(fields[9]);
  }
  let count = 0;
  for (const m of run("ls", ["-l", `/proc/${pid}/fd`]).matchAll(/socket:\[(\d+)\]/g)) {
    if (inodes.has(m[1])) count++;
  }
  return count;
}

/** Copies the local tree `local` into a server's files at `dir` (which must not exist). */
export async function storeTree(files: StoredFiles, local: string, dir: string): Promise<void> {
  await files.mkdir(dir);
  for (const p of await tree(local)) {
    if (p.endsWith("/")) await files.mkdir(`${dir}/${p.slice(0, -1)}`);
    else await files.write(`${dir}/${p}`, await Deno.readFile(`${local}/${p}`));
  }
}

/** Asserts that the local tree `a` and the tree `b` of a server's files are the same. */
export async function assertSameStored(a: string, files: StoredFiles, b: string): Promise<void> {
  const ta = await tree(a);
  assert.deepEqual(await files.tree(b), ta);
  for (const p of ta.filter((p) => !p.endsWith("/"))) {
    assert.deepEqual(await files.read(`${b}/${p}`), await Deno.readFile(`${a}/${p}`), p);
  }
}
