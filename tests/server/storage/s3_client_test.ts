/**
 * The S3 client (server/storage/s3) against a real S3 store: a Ceph RGW that
 * scripts/ceph/start.sh starts, or any S3-compatible endpoint. Each test works in a bucket of its
 * own and deletes it after.
 *
 * Needs FERRY_TEST_S3_ENDPOINT, FERRY_TEST_S3_ACCESS_KEY, FERRY_TEST_S3_SECRET_KEY (optional:
 * FERRY_TEST_S3_REGION; FERRY_TEST_S3_LIST_KEYS, keys for the long listing test, default 3000).
 * Without them every test here is reported as ignored.
 *
 *   scripts/ceph/install.sh && scripts/ceph/start.sh
 *   set -a; . /tmp/ferry-ceph/env; set +a
 *   deno test --allow-net --allow-env --allow-read tests/server/storage/s3_client_test.ts
 *   scripts/ceph/stop.sh
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { FerryError } from "../../../protocol/errors.ts";
import {
  abortMultipartUpload,
  bareEtag,
  type CheckpointPart,
  completeMultipartUpload,
  copyObject,
  createBucket,
  createMultipartUpload,
  deleteBucket,
  deleteObject,
  deleteObjects,
  getObject,
  headObject,
  isS3Error,
  keptBytes,
  type ListEntry,
  listMultipartUploads,
  listObjects,
  listObjectsPage,
  listParts,
  loadCheckpoint,
  MIN_PART_SIZE,
  type MultipartUploadInfo,
  ObjectReader,
  putObject,
  ResumableSha256,
  S3Client,
  type S3Error,
  saveCheckpoint,
  type UploadedPart,
  uploadPart,
  uploadPartCopy,
  verifyCheckpoint,
} from "../../../server/storage/s3/mod.ts";

const ENDPOINT = Deno.env.get("FERRY_TEST_S3_ENDPOINT");
const ACCESS_KEY = Deno.env.get("FERRY_TEST_S3_ACCESS_KEY") ?? "";
const SECRET_KEY = Deno.env.get("FERRY_TEST_S3_SECRET_KEY") ?? "";
const REGION = Deno.env.get("FERRY_TEST_S3_REGION") || undefined;
const LIST_KEYS = Number(Deno.env.get("FERRY_TEST_S3_LIST_KEYS") ?? 3000);
const NO_STORE = !ENDPOINT;
if (NO_STORE) {
  console.warn(
    "s3_client_test.ts: these tests need an S3 store and are ignored. Start one with\n" +
      "  scripts/ceph/install.sh && scripts/ceph/start.sh && set -a && . /tmp/ferry-ceph/env && set +a\n" +
      "(it sets FERRY_TEST_S3_ENDPOINT, FERRY_TEST_S3_ACCESS_KEY, FERRY_TEST_S3_SECRET_KEY).",
  );
}

const MiB = 1024 * 1024;
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const text = (s: string) => new TextEncoder().encode(s);

function randomBytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let o = 0; o < n; o += 65536) crypto.getRandomValues(b.subarray(o, Math.min(o + 65536, n)));
  return b;
}

async function readAll(body: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(body).arrayBuffer());
}

/** A client on a fresh bucket of its own; `fetch` may count requests. */
function newClient(bucket: string, fetcher?: (r: Request) => Promise<Response>): S3Client {
  return new S3Client({
    endpoint: ENDPOINT!,
    bucket,
    region: REGION,
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
    fetch: fetcher,
  });
}

/** Empties the bucket (objects and uploads in progress) and deletes it. */
async function removeBucket(client: S3Client): Promise<void> {
  for await (const u of listMultipartUploads(client)) {
    await abortMultipartUpload(client, u.key, u.uploadId).catch(() => {});
  }
  let batch: string[] = [];
  const pending: Promise<unknown>[] = [];
  for await (const e of listObjects(client)) {
    if (e.kind !== "object") continue;
    batch.push(e.key);
    if (batch.length === 1000) {
      pending.push(deleteObjects(client, batch));
      batch = [];
      if (pending.length >= 4) await Promise.all(pending.splice(0));
    }
  }
  pending.push(deleteObjects(client, batch));
  await Promise.all(pending);
  await deleteBucket(client);
}

let bucketCount = 0;

/** Runs `fn` with a client on a new, empty bucket, and removes the bucket after. */
async function withBucket(
  fn: (client: S3Client) => Promise<void>,
  fetcher?: (r: Request) => Promise<Response>,
): Promise<void> {
  const name = `ferry-test-${Date.now().toString(36)}-${
    crypto.randomUUID().slice(0, 8)
  }-${bucketCount++}`;
  const client = newClient(name, fetcher);
  await createBucket(client);
  try {
    await fn(client);
  } finally {
    await removeBucket(client);
  }
}

function s3Test(name: string, fn: () => Promise<void>): void {
  Deno.test({ name: `s3: ${name}`, ignore: NO_STORE, fn });
}

async function rejectsWith(
  fn: () => Promise<unknown>,
  s3Codes: string[],
  ferryCode?: string,
): Promise<S3Error> {
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(
    s3Codes.some((c) => isS3Error(caught, c)),
    `expected S3Error ${s3Codes.join("|")}, got ${caught}`,
  );
  const err = caught as S3Error;
  if (ferryCode) assert.equal(err.code, ferryCode, err.message);
  return err;
}

// --- objects ------------------------------------------------------------------------------

s3Test(
  "put, head and get keep bytes, metadata and type; ranges read the right bytes",
  () =>
    withBucket(async (client) => {
      const data = randomBytes(3 * MiB + 123);
      const put = await putObject(client, "dir/file.bin", data, {
        metadata: { sha256: sha256(data), "ferry-mtime": "1700000000000" },
        contentType: "application/x-ferry",
        payloadSha256: sha256(data),
      });
      assert.match(put.etag, /^[0-9a-f]{32}$/);

      const info = await headObject(client, "dir/file.bin");
      assert.equal(info.size, data.length);
      assert.equal(info.etag, put.etag);
      assert.equal(info.contentType, "application/x-ferry");
      assert.deepEqual(info.metadata, { sha256: sha256(data), "ferry-mtime": "1700000000000" });
      assert.ok(Math.abs(info.lastModified.getTime() - Date.now()) < 10 * 60_000);

      const whole = await getObject(client, "dir/file.bin");
      assert.equal(whole.length, data.length);
      assert.equal(whole.info.metadata.sha256, sha256(data));
      assert.equal(sha256(await readAll(whole.body)), sha256(data));

      for (
        const [offset, length] of [[0, 1], [1, 1000], [MiB - 7, 2 * MiB], [data.length - 5, 5]]
      ) {
        const got = await getObject(client, "dir/file.bin", { offset, length });
        assert.equal(got.offset, offset);
        assert.equal(got.length, length);
        assert.equal(got.info.size, data.length, "size is the whole object's");
        assert.deepEqual(await readAll(got.body), data.subarray(offset, offset + length));
      }
      const tail = await getObject(client, "dir/file.bin", { offset: 3 * MiB });
      assert.deepEqual(await readAll(tail.body), data.subarray(3 * MiB));
      const past = await getObject(client, "dir/file.bin", {
        offset: data.length - 2,
        length: 100,
      });
      assert.equal(past.length, 2, "a range past the end is cut to the end");
      assert.deepEqual(await readAll(past.body), data.subarray(data.length - 2));
      const none = await getObject(client, "dir/file.bin", { offset: 10, length: 0 });
      assert.equal((await readAll(none.body)).length, 0);

      await rejectsWith(
        () => getObject(client, "dir/file.bin", { offset: data.length }),
        ["InvalidRange"],
        "BAD_ARGUMENT",
      );
      await rejectsWith(() => getObject(client, "dir/nope"), ["NoSuchKey"], "NOT_FOUND");
      await rejectsWith(
        () => headObject(client, "dir/nope"),
        ["NotFound", "NoSuchKey"],
        "NOT_FOUND",
      );
      await rejectsWith(
        () => getObject(client, "dir/file.bin", { ifMatch: "0123456789abcdef0123456789abcdef" }),
        ["PreconditionFailed"],
      );
      const pinned = await getObject(client, "dir/file.bin", { ifMatch: put.etag, length: 4 });
      assert.deepEqual(await readAll(pinned.body), data.subarray(0, 4));

      // an empty object
      await putObject(client, "empty", new Uint8Array(0));
      const empty = await getObject(client, "empty");
      assert.equal(empty.info.size, 0);
      assert.equal((await readAll(empty.body)).length, 0);

      // a wrong payload hash is refused by the store, and nothing is written
      await rejectsWith(
        () => putObject(client, "tampered", data.subarray(0, 10), { payloadSha256: sha256(data) }),
        ["XAmzContentSHA256Mismatch", "BadDigest", "InvalidDigest"],
      );
      await rejectsWith(() => headObject(client, "tampered"), ["NotFound"]);

      await deleteObject(client, "dir/file.bin");
      await deleteObject(client, "dir/file.bin"); // deleting what is gone succeeds
      await rejectsWith(() => headObject(client, "dir/file.bin"), ["NotFound"]);
    }),
);

s3Test(
  "ObjectReader reads into caller buffers, seeks, and refuses a replaced object",
  () =>
    withBucket(async (client) => {
      const data = randomBytes(2 * MiB + 1000);
      await putObject(client, "r", data);
      const reader = await ObjectReader.open(client, "r");
      const frame = new Uint8Array(65_531);
      const parts: Uint8Array<ArrayBuffer>[] = [];
      for (let n = await reader.read(frame); n !== null; n = await reader.read(frame)) {
        assert.ok(n > 0 && n <= frame.length);
        parts.push(frame.slice(0, n));
      }
      assert.equal(reader.position, data.length);
      assert.equal(sha256(new Uint8Array(await new Blob(parts).arrayBuffer())), sha256(data));

      await reader.seek(MiB + 3);
      const got = new Uint8Array(100_000);
      assert.equal(await reader.readFull(got), got.length);
      assert.deepEqual(got, data.subarray(MiB + 3, MiB + 3 + got.length));
      await reader.seek(data.length - 10);
      assert.equal(await reader.readFull(got), 10);
      assert.deepEqual(got.subarray(0, 10), data.subarray(data.length - 10));
      assert.equal(await reader.read(got), null);
      await reader.close();

      const atEnd = await ObjectReader.open(client, "r", { offset: data.length });
      assert.equal(await atEnd.read(got), null);
      await atEnd.close();
      await assert.rejects(() => ObjectReader.open(client, "r", { offset: data.length + 1 }));

      // another writer replaces the object mid-read: the next request is refused
      const reading = await ObjectReader.open(client, "r");
      assert.equal(await reading.readFull(got), got.length);
      await putObject(client, "r", randomBytes(1000));
      await reading.seek(500_000);
      await rejectsWith(() => reading.read(got), ["PreconditionFailed"]);
      await reading.close();
    }),
);

s3Test(
  "If-None-Match: two writers race to create a key; exactly one wins",
  () =>
    withBucket(async (client) => {
      for (let round = 0; round < 10; round++) {
        const key = `race/${round}`;
        const bodies = [text(`writer A ${round}`), text(`writer B ${round}`)];
        const results = await Promise.allSettled(
          bodies.map((b) => putObject(client, key, b, { ifNoneMatch: "*" })),
        );
        const won = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
        assert.equal(won.length, 1, `round ${round}: ${results.map((r) => r.status)}`);
        const lost = results[1 - won[0]];
        assert.equal(lost.status, "rejected");
        const reason = (lost as PromiseRejectedResult).reason;
        assert.ok(isS3Error(reason, "PreconditionFailed"), String(reason));
        assert.equal(reason.code, "ALREADY_EXISTS");
        const stored = await readAll((await getObject(client, key)).body);
        assert.deepEqual(stored, bodies[won[0]], "the winner's bytes are stored");
      }
    }),
);

s3Test(
  "If-Match: compare-and-swap on the ETag, whatever the store's quoting",
  () =>
    withBucket(async (client) => {
      const v1 = await putObject(client, "cas", text("v1"));
      // two writers both read v1 and try to replace it: one wins
      const results = await Promise.allSettled([
        putObject(client, "cas", text("A"), { ifMatch: v1.etag }),
        putObject(client, "cas", text("B"), { ifMatch: v1.etag }),
      ]);
      assert.equal(results.filter((r) => r.status === "fulfilled").length, 1, String(results));
      assert.notEqual(client.quirks.putIfMatch, "unknown", "the quoting was learned");
      const now = await headObject(client, "cas");
      const winner = results.findIndex((r) => r.status === "fulfilled");
      assert.equal(
        now.etag,
        (results[winner] as PromiseFulfilledResult<{ etag: string }>).value.etag,
      );
      // a stale ETag fails, a current one (quoted or not) succeeds
      await rejectsWith(
        () => putObject(client, "cas", text("C"), { ifMatch: v1.etag }),
        ["PreconditionFailed"],
      );
      const v3 = await putObject(client, "cas", text("v3"), { ifMatch: `"${now.etag}"` });
      assert.deepEqual(await readAll((await getObject(client, "cas")).body), text("v3"));
      // a fresh client (nothing learned) gets a stale ETag refused too, and a missing key
      const fresh = newClient(client.bucket);
      await rejectsWith(
        () => putObject(fresh, "cas", text("D"), { ifMatch: now.etag }),
        ["PreconditionFailed"],
      );
      await rejectsWith(
        () => putObject(fresh, "missing", text("D"), { ifMatch: v3.etag }),
        ["PreconditionFailed", "NoSuchKey"],
      );
      assert.deepEqual(await readAll((await getObject(client, "cas")).body), text("v3"));
      await assert.rejects(() =>
        putObject(client, "cas", text("x"), { ifMatch: v3.etag, ifNoneMatch: "*" })
      );
    }),
);

s3Test(
  "copy keeps or replaces metadata, honours a source condition",
  () =>
    withBucket(async (client) => {
      const src = await putObject(client, "src/a b.txt", text("hello"), {
        metadata: { origin: "one" },
        contentType: "text/plain",
      });
      const kept = await copyObject(client, "src/a b.txt", "dst/kept.txt");
      assert.equal(kept.etag, src.etag);
      const keptInfo = await headObject(client, "dst/kept.txt");
      assert.deepEqual(keptInfo.metadata, { origin: "one" });
      assert.equal(keptInfo.contentType, "text/plain");

      await copyObject(client, "src/a b.txt", "dst/new.txt", {
        metadata: { origin: "two", extra: "x" },
        contentType: "application/octet-stream",
      });
      const newInfo = await headObject(client, "dst/new.txt");
      assert.deepEqual(newInfo.metadata, { origin: "two", extra: "x" });
      assert.equal(newInfo.contentType, "application/octet-stream");
      assert.deepEqual(await readAll((await getObject(client, "dst/new.txt")).body), text("hello"));

      // replace metadata in place (copy onto itself)
      await copyObject(client, "dst/new.txt", "dst/new.txt", { metadata: { origin: "three" } });
      assert.deepEqual((await headObject(client, "dst/new.txt")).metadata, { origin: "three" });

      await copyObject(client, "src/a b.txt", "dst/cond.txt", { ifSourceMatch: src.etag });
      await rejectsWith(
        () => copyObject(client, "src/a b.txt", "dst/stale.txt", { ifSourceMatch: "0".repeat(32) }),
        ["PreconditionFailed"],
      );
      await rejectsWith(() => headObject(client, "dst/stale.txt"), ["NotFound"]);
      await rejectsWith(() => copyObject(client, "src/none", "dst/x"), ["NoSuchKey"], "NOT_FOUND");
    }),
);

// --- listing ------------------------------------------------------------------------------

s3Test(
  "prefix and delimiter list one directory level, paged, in key order",
  () =>
    withBucket(async (client) => {
      const keys = [
        "docs/a.txt",
        "docs/b.txt",
        "docs/sub/c.txt",
        "docs/sub/deeper/d.txt",
        "docs/sub2/e.txt",
        "docs/z.txt",
        "other/x.txt",
        "root.txt",
      ];
      for (const k of keys) await putObject(client, k, text(k));
      const show = (es: ListEntry[]) =>
        es.map((e) => (e.kind === "object" ? e.key : `[${e.prefix}]`));
      const collect = async (o: Parameters<typeof listObjects>[1]) => {
        const out: ListEntry[] = [];
        for await (const e of listObjects(client, o)) out.push(e);
        return out;
      };
      for (const pageSize of [1000, 2, 1]) {
        assert.deepEqual(
          show(await collect({ prefix: "docs/", delimiter: "/", pageSize })),
          ["docs/a.txt", "docs/b.txt", "[docs/sub/]", "[docs/sub2/]", "docs/z.txt"],
          `page size ${pageSize}`,
        );
        assert.deepEqual(
          show(await collect({ delimiter: "/", pageSize })),
          ["[docs/]", "[other/]", "root.txt"],
        );
      }
      assert.deepEqual(show(await collect({ prefix: "docs/sub/" })), [
        "docs/sub/c.txt",
        "docs/sub/deeper/d.txt",
      ]);
      assert.deepEqual(show(await collect({})), keys);
      assert.deepEqual(show(await collect({ startAfter: "docs/z.txt" })), [
        "other/x.txt",
        "root.txt",
      ]);
      assert.deepEqual(await collect({ prefix: "nothing/" }), []);
      const entry = (await collect({ prefix: "root" }))[0];
      assert.ok(entry.kind === "object");
      assert.equal(entry.size, "root.txt".length);
      assert.equal(entry.etag, (await headObject(client, "root.txt")).etag);
      const page = await listObjectsPage(client, { pageSize: 3 });
      assert.equal(page.entries.length, 3);
      assert.ok(page.continuationToken);
    }),
);

s3Test(`a listing of ${LIST_KEYS} keys is streamed page by page, never held whole`, () => {
  let requests = 0;
  return withBucket(async (client) => {
    const t0 = performance.now();
    let next = 0;
    const width = String(LIST_KEYS).length;
    await Promise.all(Array.from({ length: 32 }, async () => {
      for (let i = next++; i < LIST_KEYS; i = next++) {
        await putObject(client, `many/${String(i).padStart(width, "0")}`, new Uint8Array(0));
      }
    }));
    const tPut = performance.now() - t0;

    const pageSize = LIST_KEYS >= 10_000 ? 1000 : 100;
    const pages = Math.ceil(LIST_KEYS / pageSize);
    requests = 0;
    const t1 = performance.now();
    let count = 0;
    let previous = "";
    const heapBefore = Deno.memoryUsage().heapUsed;
    let heapPeak = heapBefore;
    for await (const e of listObjects(client, { prefix: "many/", pageSize })) {
      assert.ok(e.kind === "object");
      assert.ok(e.key > previous, "in order");
      previous = e.key;
      count++;
      if (count % pageSize === 0) heapPeak = Math.max(heapPeak, Deno.memoryUsage().heapUsed);
      // the iterator asks for a page only when the one before is being used
      assert.ok(requests <= Math.floor((count - 1) / pageSize) + 2, `${requests} at ${count}`);
    }
    const tList = performance.now() - t1;
    assert.equal(count, LIST_KEYS);
    assert.equal(requests, pages, "one request per page");
    console.log(
      `  ${LIST_KEYS} keys: created in ${(tPut / 1000).toFixed(1)} s ` +
        `(${(LIST_KEYS / tPut * 1000).toFixed(0)}/s, 32 at a time), listed in ` +
        `${(tList / 1000).toFixed(2)} s (${pages} pages of ${pageSize}, ` +
        `${(tList / pages).toFixed(1)} ms a page); heap grew at most ` +
        `${((heapPeak - heapBefore) / MiB).toFixed(1)} MiB while listing`,
    );
    // a consumer that stops early leaves nothing in flight (the sanitizers check)
    requests = 0;
    for await (const e of listObjects(client, { prefix: "many/", pageSize })) {
      if (e.kind === "object" && e.key.endsWith("5")) break;
    }
    assert.ok(requests <= 2);
  }, (r) => {
    if (new URL(r.url).searchParams.has("list-type")) requests++;
    return fetch(r);
  });
});

// --- multipart ----------------------------------------------------------------------------

s3Test(
  "multipart: create, parts, list parts (paged), complete, abort, list uploads",
  () =>
    withBucket(async (client) => {
      const data = randomBytes(2 * MIN_PART_SIZE + 12345);
      const cuts = [0, MIN_PART_SIZE, 2 * MIN_PART_SIZE, data.length];
      const key = "big/file.bin";
      const uploadId = await createMultipartUpload(client, key, {
        metadata: { sha256: sha256(data) },
      });
      const etags: string[] = [];
      // parts out of order, one sent twice (the second replaces the first)
      for (const i of [2, 0, 1, 1]) {
        const body = data.subarray(cuts[i], cuts[i + 1]);
        etags[i] = (await uploadPart(client, key, uploadId, i + 1, body)).etag;
      }
      const listed: UploadedPart[] = [];
      for await (const p of listParts(client, key, uploadId, { pageSize: 1 })) listed.push(p);
      assert.deepEqual(listed.map((p) => p.partNumber), [1, 2, 3]);
      assert.deepEqual(listed.map((p) => p.size), [MIN_PART_SIZE, MIN_PART_SIZE, 12345]);
      assert.deepEqual(listed.map((p) => p.etag), etags);

      // other uploads in progress, to page through
      const others: { key: string; uploadId: string }[] = [];
      for (const k of ["big/a", "big/a", "big/b", "other/c"]) {
        others.push({ key: k, uploadId: await createMultipartUpload(client, k) });
      }
      const found: MultipartUploadInfo[] = [];
      for await (const u of listMultipartUploads(client, { prefix: "big/", pageSize: 1 })) {
        found.push(u);
      }
      assert.deepEqual(
        found.map((u) => u.key),
        ["big/a", "big/a", "big/b", "big/file.bin"],
      );
      assert.ok(found.some((u) => u.uploadId === uploadId));
      assert.ok(found.every((u) => Math.abs(u.initiated.getTime() - Date.now()) < 10 * 60_000));

      // a wrong part ETag is refused; the upload survives it
      await rejectsWith(
        () =>
          completeMultipartUpload(client, key, uploadId, [
            { partNumber: 1, etag: "0".repeat(32) },
            { partNumber: 2, etag: etags[1] },
            { partNumber: 3, etag: etags[2] },
          ]),
        ["InvalidPart"],
      );
      await completeMultipartUpload(
        client,
        key,
        uploadId,
        etags.map((etag, i) => ({ partNumber: i + 1, etag })),
      );
      const info = await headObject(client, key);
      assert.equal(info.size, data.length);
      assert.equal(info.metadata.sha256, sha256(data));
      assert.match(info.etag, /-3$/);
      assert.equal(sha256(await readAll((await getObject(client, key)).body)), sha256(data));
      // completing again fails: NoSuchUpload on AWS, a 500 "already in progress" on Ceph 16
      await rejectsWith(
        () => completeMultipartUpload(client, key, uploadId, [{ partNumber: 1, etag: etags[0] }]),
        ["NoSuchUpload", "InternalError"],
      );

      for (const o of others) await abortMultipartUpload(client, o.key, o.uploadId);
      await rejectsWith(
        () => abortMultipartUpload(client, others[0].key, others[0].uploadId),
        ["NoSuchUpload"],
        "NOT_FOUND",
      );
      await rejectsWith(async () => {
        for await (const _ of listParts(client, others[0].key, others[0].uploadId)) { /* none */ }
      }, ["NoSuchUpload", "NoSuchKey"]);
      const left: unknown[] = [];
      for await (const u of listMultipartUploads(client)) left.push(u);
      assert.deepEqual(left, []);
    }),
);

s3Test(
  "multipart: UploadPartCopy assembles an object from ranges of another",
  () =>
    withBucket(async (client) => {
      const data = randomBytes(MIN_PART_SIZE + 4096);
      const src = await putObject(client, "src", data);
      const uploadId = await createMultipartUpload(client, "dst");
      const p1 = await uploadPartCopy(client, "dst", uploadId, 1, "src", {
        offset: 0,
        length: MIN_PART_SIZE,
        ifSourceMatch: src.etag,
      });
      const p2 = await uploadPartCopy(client, "dst", uploadId, 2, "src", {
        offset: MIN_PART_SIZE,
        length: 4096,
      });
      await completeMultipartUpload(client, "dst", uploadId, [
        { partNumber: 1, etag: p1.etag },
        { partNumber: 2, etag: p2.etag },
      ]);
      assert.equal(sha256(await readAll((await getObject(client, "dst")).body)), sha256(data));
    }),
);

s3Test(
  "a resumable upload: checkpoint beside the upload, resumed by another client, CAS-guarded",
  () =>
    withBucket(async (client) => {
      // what a server does: parts in order, a checkpoint (parts + hash state) after each one
      const data = randomBytes(3 * MIN_PART_SIZE + 999);
      const cuts = [0, MIN_PART_SIZE, 2 * MIN_PART_SIZE, 3 * MIN_PART_SIZE, data.length];
      const key = "up/file.bin";
      const cpKey = ".ferry/uploads/0123456789abcdef0123456789abcdef";
      const uploadId = await createMultipartUpload(client, key);
      const hash = await ResumableSha256.create();
      const parts: CheckpointPart[] = [];
      let cpEtag: string | undefined;
      for (const i of [0, 1]) {
        const body = data.subarray(cuts[i], cuts[i + 1]);
        const { etag } = await uploadPart(client, key, uploadId, i + 1, body);
        hash.update(body);
        parts.push({ partNumber: i + 1, etag, size: body.length });
        cpEtag = await saveCheckpoint(client, cpKey, {
          key,
          uploadId,
          size: data.length,
          parts,
          hashState: hash.save(),
        }, cpEtag);
      }
      // part 3 reaches the store, then the connection drops before its checkpoint is written
      await uploadPart(client, key, uploadId, 3, data.subarray(cuts[2], cuts[3]));

      // another server (a fresh client: nothing learned, nothing in memory) is asked to resume
      const other = newClient(client.bucket);
      const stored = await loadCheckpoint(other, cpKey);
      assert.ok(stored);
      assert.equal(keptBytes(stored.checkpoint), 2 * MIN_PART_SIZE, "only checkpointed parts");
      const resumed = await verifyCheckpoint(other, stored.checkpoint);
      assert.ok(resumed, "the store still holds the checkpointed parts");
      assert.equal(hex(resumed.digestSoFar()), sha256(data.subarray(0, cuts[2])), "UPLOAD_PARTIAL");
      const more = [...stored.checkpoint.parts];
      for (const i of [2, 3]) {
        const body = data.subarray(cuts[i], cuts[i + 1]);
        const { etag } = await uploadPart(other, key, uploadId, i + 1, body); // part 3 replaced
        resumed.update(body);
        more.push({ partNumber: i + 1, etag, size: body.length });
      }
      const next = { ...stored.checkpoint, parts: more, hashState: resumed.save() };
      await saveCheckpoint(other, cpKey, next, stored.etag);
      // the first server, still holding the old ETag, may not write over it
      await assert.rejects(
        () => saveCheckpoint(client, cpKey, next, cpEtag),
        (e) => e instanceof FerryError && e.code === "BUSY",
      );
      await assert.rejects(
        () => saveCheckpoint(client, cpKey, next, undefined),
        (e) => e instanceof FerryError && e.code === "BUSY",
      );
      assert.equal(hex(resumed.digest()), sha256(data), "the whole file's hash");
      await completeMultipartUpload(other, key, uploadId, more);
      // once completed the checkpoint no longer verifies (the parts are gone), and is deleted
      assert.equal(await verifyCheckpoint(other, next), undefined);
      await deleteObject(other, cpKey);
      assert.equal(await loadCheckpoint(other, cpKey), undefined);
      assert.equal(sha256(await readAll((await getObject(client, key)).body)), sha256(data));
    }),
);

s3Test(
  "a checkpoint whose parts the store lost does not verify",
  () =>
    withBucket(async (client) => {
      const key = "up/lost.bin";
      const uploadId = await createMultipartUpload(client, key);
      const body = randomBytes(MIN_PART_SIZE);
      const { etag } = await uploadPart(client, key, uploadId, 1, body);
      const hash = await ResumableSha256.create();
      hash.update(body);
      const good = {
        key,
        uploadId,
        size: 2 * MIN_PART_SIZE,
        parts: [{ partNumber: 1, etag, size: body.length }],
        hashState: hash.save(),
      };
      assert.ok(await verifyCheckpoint(client, good));
      assert.equal(
        await verifyCheckpoint(client, {
          ...good,
          parts: [{ ...good.parts[0], etag: "0".repeat(32) }],
        }),
        undefined,
        "another ETag",
      );
      assert.equal(
        await verifyCheckpoint(client, {
          ...good,
          parts: [...good.parts, { partNumber: 2, etag, size: 1 }],
        }),
        undefined,
        "a part the store does not have",
      );
      const other = await ResumableSha256.create();
      other.update(body.subarray(1));
      assert.equal(
        await verifyCheckpoint(client, { ...good, hashState: other.save() }),
        undefined,
        "a hash state over other bytes",
      );
      await abortMultipartUpload(client, key, uploadId);
      assert.equal(await verifyCheckpoint(client, good), undefined, "aborted upload");
    }),
);

// --- names and batches --------------------------------------------------------------------

s3Test(
  "odd key names round-trip through put, head, get, list, copy and delete",
  () =>
    withBucket(async (client) => {
      const names = [
        "with space.txt",
        "plus+sign",
        "percent%20not-a-space",
        "100%",
        "ünïcödé/日本語/😀.bin",
        "q?x=1&y=2#frag",
        "quotes'\"<>&",
        "~!'()*[]{}$,;@:=",
        "tab\there",
        "ctrl\u0001char",
        "a//double//slash",
        "trailing/",
        " leading-space",
        "dots.../...x/..y",
        "\ue000\uffff",
      ];
      for (const [i, k] of names.entries()) {
        await putObject(client, `odd/${k}`, text(`#${i}`), { metadata: { index: String(i) } });
      }
      const listed: string[] = [];
      for await (const e of listObjects(client, { prefix: "odd/", pageSize: 4 })) {
        if (e.kind === "object") listed.push(e.key.slice(4));
      }
      assert.deepEqual(new Set(listed), new Set(names));
      assert.equal(listed.length, names.length);
      for (const [i, k] of names.entries()) {
        assert.equal((await headObject(client, `odd/${k}`)).metadata.index, String(i), k);
        assert.deepEqual(await readAll((await getObject(client, `odd/${k}`)).body), text(`#${i}`));
        await copyObject(client, `odd/${k}`, `copy/${k}`);
        assert.deepEqual(await readAll((await getObject(client, `copy/${k}`)).body), text(`#${i}`));
      }
      const dirs: string[] = [];
      for await (const e of listObjects(client, { prefix: "odd/", delimiter: "/" })) {
        if (e.kind === "prefix") dirs.push(e.prefix);
      }
      assert.deepEqual(dirs.sort(), ["odd/a/", "odd/dots.../", "odd/trailing/", "odd/ünïcödé/"]);
      for (const k of names) await deleteObject(client, `odd/${k}`);
      const failures = await deleteObjects(client, names.map((k) => `copy/${k}`));
      assert.deepEqual(failures, []);
      const left: unknown[] = [];
      for await (const e of listObjects(client)) left.push(e);
      assert.deepEqual(left, []);
    }),
);

s3Test(
  "deleteObjects removes up to 1,000 keys at once; missing keys are fine",
  () =>
    withBucket(async (client) => {
      const keys = Array.from({ length: 50 }, (_, i) => `batch/${i}`);
      await Promise.all(keys.map((k) => putObject(client, k, text(k))));
      assert.deepEqual(await deleteObjects(client, [...keys, "batch/none"]), []);
      const left: unknown[] = [];
      for await (const e of listObjects(client, { prefix: "batch/" })) left.push(e);
      assert.deepEqual(left, []);
    }),
);

// --- latency ------------------------------------------------------------------------------

s3Test(
  "small requests do not wait for Nagle's algorithm (median well under 40 ms)",
  () =>
    withBucket(async (client) => {
      await putObject(client, "small", randomBytes(1024));
      const median = async (fn: () => Promise<unknown>) => {
        const times: number[] = [];
        for (let i = 0; i < 21; i++) {
          const t = performance.now();
          await fn();
          times.push(performance.now() - t);
        }
        return times.sort((a, b) => a - b)[10];
      };
      const put = await median(() => putObject(client, "small2", randomBytes(1024)));
      const get = await median(async () => readAll((await getObject(client, "small")).body));
      const list = await median(() => listObjectsPage(client, { pageSize: 10 }));
      console.log(
        `  median PUT 1 KiB ${put.toFixed(1)} ms, GET ${get.toFixed(1)} ms, LIST ${
          list.toFixed(1)
        } ms`,
      );
      // Nagle + delayed ACK cost ~40 ms per request with a body; 30 ms leaves room for a busy host
      for (const [name, ms] of [["PUT", put], ["GET", get], ["LIST", list]] as const) {
        assert.ok(ms < 30, `${name} median ${ms.toFixed(1)} ms`);
      }
    }),
);

s3Test("errors carry the S3 code, status and request id", () =>
  withBucket(async (client) => {
    const missing = await rejectsWith(() => getObject(client, "nope"), ["NoSuchKey"]);
    assert.equal(missing.status, 404);
    assert.equal(missing.key, "nope");
    assert.ok(missing.requestId, "request id");
    const wrongKeys = new S3Client({
      endpoint: ENDPOINT!,
      bucket: client.bucket,
      region: REGION,
      credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: "wrong" + SECRET_KEY },
    });
    await rejectsWith(
      () => getObject(wrongKeys, "nope"),
      ["SignatureDoesNotMatch"],
      "PERMISSION_DENIED",
    );
    const noBucket = newClient(`${client.bucket}-absent`);
    await rejectsWith(() => listObjectsPage(noBucket), ["NoSuchBucket"], "NOT_FOUND");
    assert.equal(bareEtag((await putObject(client, "e", "x")).etag).length, 32);
  }));
