/**
 * The S3 API used directly, as the yardstick of ferry on S3: a program of its own (so that its
 * CPU is counted like the ferry CLI's) moving the bench's files with the same S3 client code the
 * ferry server uses (`server/storage/s3/`), the way `aws s3 cp` does it: 8 MiB parts, up to 10
 * requests in flight, big objects read back as parallel ranged GETs.
 *
 * ```sh
 * deno run --allow-net --allow-read --allow-write --allow-env=S3_ENDPOINT,S3_ACCESS_KEY,S3_SECRET_KEY,S3_REGION,S3_BUCKET \
 *   bench/harness/s3_direct.ts OP ARGS...
 * ```
 *
 * | OP | ARGS | does |
 * | --- | --- | --- |
 * | `bucket` | | creates the bucket (an existing one of ours is fine) |
 * | `put` | FILE KEY | one object: a single PUT up to 8 MiB, else a multipart upload |
 * | `get` | KEY FILE | one object into FILE (ranged GETs of 8 MiB, 10 at once) |
 * | `put-dir` | DIR PREFIX | every file of DIR as PREFIX/NAME, 10 at once |
 * | `get-dir` | PREFIX DIR | every object below PREFIX/ into DIR, 10 at once |
 * | `count` | PREFIX | prints how many objects are below PREFIX/ (directory markers aside) |
 * | `rm` | PREFIX | deletes every object below PREFIX/, directory markers included |
 *
 * The store and keys come from `S3_ENDPOINT`, `S3_ACCESS_KEY`, `S3_SECRET_KEY`, `S3_REGION`
 * and `S3_BUCKET`. The last line printed is a JSON object (`bytes`, `objects`).
 *
 * @module
 */

import { writeAll } from "../../protocol/frame_writer.ts";
import { createBucket } from "../../server/storage/s3/bucket.ts";
import { S3Client } from "../../server/storage/s3/client.ts";
import { deleteObjects } from "../../server/storage/s3/delete_object.ts";
import { isS3Error } from "../../server/storage/s3/errors.ts";
import { getObject } from "../../server/storage/s3/get_object.ts";
import { headObject } from "../../server/storage/s3/head_object.ts";
import { listObjects } from "../../server/storage/s3/list_objects.ts";
import {
  type CompletedPart,
  completeMultipartUpload,
  createMultipartUpload,
  uploadPart,
} from "../../server/storage/s3/multipart.ts";
import { putObject } from "../../server/storage/s3/put_object.ts";

/** Part and range size, as `aws s3 cp`'s default multipart chunk size. */
const PART = 8 * 1024 * 1024;
/** Requests in flight, as `aws s3 cp`'s default `max_concurrent_requests`. */
const IN_FLIGHT = 10;

function need(name: string): string {
  const v = Deno.env.get(name);
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

function client(): S3Client {
  return new S3Client({
    endpoint: need("S3_ENDPOINT"),
    bucket: need("S3_BUCKET"),
    region: Deno.env.get("S3_REGION") || "us-east-1",
    credentials: { accessKeyId: need("S3_ACCESS_KEY"), secretAccessKey: need("S3_SECRET_KEY") },
  });
}

/** Runs `work(i)` for i in 0..n-1, at most `limit` at once; rejects on the first failure. */
async function pool(n: number, limit: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < n) await work(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, lane));
}

/** Reads exactly `buf.length` bytes of `file` from its current position (fewer at its end). */
async function readFull(file: Deno.FsFile, buf: Uint8Array): Promise<number> {
  let got = 0;
  while (got < buf.length) {
    const n = await file.read(buf.subarray(got));
    if (n === null) break;
    got += n;
  }
  return got;
}

async function putFile(c: S3Client, path: string, key: string): Promise<number> {
  const size = (await Deno.stat(path)).size;
  if (size <= PART) {
    await putObject(c, key, await Deno.readFile(path));
    return size;
  }
  const uploadId = await createMultipartUpload(c, key);
  const parts: CompletedPart[] = [];
  const count = Math.ceil(size / PART);
  await pool(count, IN_FLIGHT, async (i) => {
    using file = await Deno.open(path);
    await file.seek(i * PART, Deno.SeekMode.Start);
    const buf = new Uint8Array(Math.min(PART, size - i * PART));
    if (await readFull(file, buf) !== buf.length) throw new Error(`${path} shrank`);
    const { etag } = await uploadPart(c, key, uploadId, i + 1, buf);
    parts[i] = { partNumber: i + 1, etag };
  });
  await completeMultipartUpload(c, key, uploadId, parts);
  return size;
}

async function getFile(c: S3Client, key: string, path: string): Promise<number> {
  const size = (await headObject(c, key)).size;
  await Deno.writeFile(path, new Uint8Array(0));
  await pool(Math.max(1, Math.ceil(size / PART)), IN_FLIGHT, async (i) => {
    const length = Math.min(PART, size - i * PART);
    if (length <= 0) return;
    const got = await getObject(c, key, { offset: i * PART, length });
    using file = await Deno.open(path, { write: true });
    await file.seek(i * PART, Deno.SeekMode.Start);
    for await (const chunk of got.body) await writeAll(file, chunk);
  });
  using file = await Deno.open(path, { write: true });
  await file.sync();
  return size;
}

/** The keys below `prefix/`; a key ending in "/" (a directory's marker) only with `markers`. */
async function keysBelow(c: S3Client, prefix: string, markers = false): Promise<string[]> {
  const keys: string[] = [];
  for await (const e of listObjects(c, { prefix: `${prefix}/` })) {
    if (e.kind === "object" && (markers || !e.key.endsWith("/"))) keys.push(e.key);
  }
  return keys;
}

async function main(args: string[]): Promise<void> {
  const [op, a, b] = args;
  const c = client();
  let result: { bytes: number; objects: number };
  switch (op) {
    case "bucket":
      await createBucket(c).catch((err) => {
        if (!isS3Error(err, "BucketAlreadyOwnedByYou")) throw err;
      });
      result = { bytes: 0, objects: 0 };
      break;
    case "put":
      result = { bytes: await putFile(c, a, b), objects: 1 };
      break;
    case "get":
      result = { bytes: await getFile(c, a, b), objects: 1 };
      break;
    case "put-dir": {
      const names: string[] = [];
      for await (const e of Deno.readDir(a)) if (e.isFile) names.push(e.name);
      let bytes = 0;
      await pool(names.length, IN_FLIGHT, async (i) => {
        bytes += await putFile(c, `${a}/${names[i]}`, `${b}/${names[i]}`);
      });
      result = { bytes, objects: names.length };
      break;
    }
    case "get-dir": {
      const keys = await keysBelow(c, a);
      await Deno.mkdir(b, { recursive: true });
      let bytes = 0;
      await pool(keys.length, IN_FLIGHT, async (i) => {
        const got = await getObject(c, keys[i]);
        using file = await Deno.open(`${b}/${keys[i].slice(a.length + 1)}`, {
          write: true,
          create: true,
          truncate: true,
        });
        for await (const chunk of got.body) {
          await writeAll(file, chunk);
          bytes += chunk.length;
        }
        await file.sync();
      });
      result = { bytes, objects: keys.length };
      break;
    }
    case "count":
      result = { bytes: 0, objects: (await keysBelow(c, a)).length };
      break;
    case "rm": {
      const keys = await keysBelow(c, a, true);
      for (let i = 0; i < keys.length; i += 1000) {
        const failed = await deleteObjects(c, keys.slice(i, i + 1000));
        if (failed.length > 0) throw new Error(`could not delete ${failed[0].key}`);
      }
      result = { bytes: 0, objects: keys.length };
      break;
    }
    default:
      throw new Error(`unknown operation ${op} (bucket, put, get, put-dir, get-dir, count, rm)`);
  }
  console.log(JSON.stringify(result));
}

if (import.meta.main) await main(Deno.args);
