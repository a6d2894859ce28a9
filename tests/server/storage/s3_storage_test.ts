/**
 * The S3 storage beyond the storage contract (`storage_test.ts` runs that on S3 too): what
 * only an object store has. Multipart uploads whose checksum lands in the object's metadata;
 * kept uploads (parts, a tail, a checkpoint) reported and resumed by another storage on the same
 * prefix, as another server would; the cleanup of checkpoints, tails and abandoned multipart
 * uploads; listings of directories that are markers, implied by keys, or both; moves of trees
 * and copies in parts; keys that never leave the prefix.
 *
 * Needs an S3 store (see `tests/_helpers/storage.ts`); ignored with a message without one, except
 * in CI.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { UNKNOWN_SIZE } from "../../../protocol/bytes.ts";
import { FerryError } from "../../../protocol/errors.ts";
import {
  createMultipartUpload,
  decodeCheckpoint,
  headObject,
  listMultipartUploads,
  putObject,
  S3Client,
  uploadPart,
} from "../../../server/storage/s3/mod.ts";
import { copyWhole } from "../../../server/storage/s3/copy.ts";
import { createS3Storage, type S3Storage } from "../../../server/storage/s3/storage.ts";
import {
  emptyPrefix,
  freshPrefix,
  ignoreWithoutS3,
  listObjectsFor,
  readObject,
  S3_TEST_STORE,
  s3Files,
  testS3Client,
} from "../../_helpers/mod.ts";

const MiB = 1024 * 1024;
const PART = 5 * MiB; // S3's smallest part, so that a few MiB make several parts
const ignore = ignoreWithoutS3("s3_storage_test.ts");

function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed * 2654435761 >>> 0;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

const sha256 = (data: Uint8Array) => new Uint8Array(createHash("sha256").update(data).digest());

/** Two storages on one fresh prefix (two servers of one bucket), and a client behind them. */
async function withPrefix(
  fn: (a: S3Storage, b: S3Storage, client: S3Client, prefix: string) => Promise<void>,
): Promise<void> {
  const client = await testS3Client();
  const prefix = freshPrefix("st");
  const a = createS3Storage({ client, prefix, partSize: PART });
  const b = createS3Storage({ client, prefix, partSize: PART });
  try {
    await fn(a, b, client, prefix);
  } finally {
    await emptyPrefix(client, prefix);
  }
}

async function put(
  storage: S3Storage,
  path: string,
  data: Uint8Array,
  mtime: number | null = null,
) {
  const upload = await storage.stage({ user: "u", path, size: data.length, mtime });
  for (let at = 0; at < data.length; at += 777_777) {
    await upload.write(data.subarray(at, at + 777_777));
  }
  return await upload.commit({ size: data.length, digest: sha256(data) });
}

async function read(storage: S3Storage, path: string): Promise<Uint8Array> {
  const reader = await storage.openRead(path, 0);
  try {
    const out = new Uint8Array(reader.size);
    assert.equal(await reader.read(out), out.length);
    return out;
  } finally {
    reader.close();
  }
}

async function rejectsWith(p: Promise<unknown>, code: string, what: string): Promise<FerryError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof FerryError, `${what}: ${err}`);
    assert.equal(err.code, code, `${what}: ${err.message}`);
    return err;
  }
  assert.fail(`${what}: expected ${code}`);
}

const names = async (storage: S3Storage, path: string) =>
  (await Array.fromAsync((await storage.list(path, new AbortController().signal)).entries ?? []))
    .map((e) => `${e.name} ${e.kind} ${e.size}`).sort();

Deno.test({
  name: "s3 storage: a multipart upload completes only once verified, with its SHA-256 kept",
  ignore,
  async fn() {
    await withPrefix(async (a, _b, client, prefix) => {
      const data = bytes(12 * MiB + 3);
      await put(a, "big.bin", bytes(100, 9));
      // a wrong digest: nothing replaced, and no multipart upload is left behind
      const wrong = await a.stage({ user: "u", path: "big.bin", size: data.length, mtime: null });
      await wrong.write(data);
      await rejectsWith(
        wrong.commit({ size: data.length, digest: sha256(bytes(5)) }),
        "CHECKSUM_MISMATCH",
        "wrong digest",
      );
      await wrong.discard();
      assert.deepEqual(await read(a, "big.bin"), bytes(100, 9));
      assert.deepEqual(await Array.fromAsync(listMultipartUploads(client, { prefix })), []);

      const mtime = Date.parse("2022-02-22T22:22:22.222Z");
      assert.deepEqual(await put(a, "big.bin", data, mtime), { replacedBytes: 100 });
      const info = await headObject(client, `${prefix}big.bin`);
      assert.match(info.etag, /-3$/, "three parts");
      assert.equal(info.metadata["ferry-sha256"], createHash("sha256").update(data).digest("hex"));
      assert.equal(info.metadata["ferry-mtime"], String(mtime));
      assert.deepEqual(await read(a, "big.bin"), data);
      assert.equal((await a.stat("big.bin")).mtime, mtime);
      assert.deepEqual(await names(a, "."), [`big.bin file ${data.length}`]);
      assert.equal((await a.list("big.bin", new AbortController().signal)).entry.mtime, mtime);
    });
  },
});

Deno.test({
  name:
    "s3 storage: HASH of a whole file reads the kept checksum; of a prefix, or of an object another tool wrote, the bytes",
  ignore,
  async fn() {
    const requests: string[] = [];
    const counting = new S3Client({
      endpoint: S3_TEST_STORE.endpoint ?? "http://unset",
      bucket: S3_TEST_STORE.bucket,
      region: S3_TEST_STORE.region,
      credentials: {
        accessKeyId: S3_TEST_STORE.accessKey,
        secretAccessKey: S3_TEST_STORE.secretKey,
      },
      fetch: (r) => {
        requests.push(
          `${r.method} ${new URL(r.url).search.includes("uploads") ? "multipart" : ""}`,
        );
        return fetch(r);
      },
    });
    const client = await testS3Client();
    const prefix = freshPrefix("hash");
    const storage = createS3Storage({ client: counting, prefix, partSize: PART });
    try {
      const data = bytes(7 * MiB, 3);
      await put(storage, "f.bin", data);
      requests.length = 0;
      const whole = await storage.hash("f.bin", { length: UNKNOWN_SIZE });
      assert.deepEqual(whole, { length: data.length, digest: sha256(data) });
      assert.deepEqual(requests, ["HEAD "], "one HEAD, no GET");
      requests.length = 0;
      const start = await storage.hash("f.bin", { length: 1000 });
      assert.deepEqual(start, { length: 1000, digest: sha256(data.subarray(0, 1000)) });
      assert.deepEqual(requests, ["HEAD ", "GET "]);
      // an object written by another S3 tool: no metadata, the bytes are read
      await putObject(client, `${prefix}plain.bin`, data.subarray(0, 300_000));
      const plain = await storage.hash("plain.bin", { length: UNKNOWN_SIZE });
      assert.deepEqual(plain, { length: 300_000, digest: sha256(data.subarray(0, 300_000)) });
    } finally {
      await emptyPrefix(client, prefix);
    }
  },
});

Deno.test({
  name:
    "s3 storage: an upload cut off is kept (parts, tail, checkpoint), reported and resumed by another server",
  ignore,
  async fn() {
    await withPrefix(async (a, b, client, prefix) => {
      const data = bytes(23 * MiB + 11, 5);
      const request = {
        user: "alice",
        path: "doc.bin",
        size: data.length,
        mtime: 1_700_000_000_000,
      };
      await put(a, "doc.bin", bytes(10, 7));
      const first = await a.stage(request);
      assert.ok(first.resumable);
      await first.write(data.subarray(0, 13 * MiB)); // two parts and 3 MiB
      await first.interrupted();
      assert.deepEqual(await read(b, "doc.bin"), bytes(10, 7), "the old version is whole");
      assert.deepEqual(await names(b, "."), ["doc.bin file 10"], "nothing kept is listed");
      const kept = await listObjectsFor(client, `${prefix}.ferry-uploads/`);
      assert.equal(kept.length, 2, `a checkpoint and a tail: ${kept}`);
      const checkpoint = decodeCheckpoint(
        await readObject(client, kept.find((k) => !k.endsWith(".tail"))!),
      );
      assert.equal(checkpoint.parts.length, 2);
      assert.equal(checkpoint.tail?.size, 3 * MiB);

      const status = await b.partialStatus(request);
      assert.deepEqual(status, { length: 13 * MiB, digest: sha256(data.subarray(0, 13 * MiB)) });
      assert.equal((await b.partialStatus({ ...request, user: "bob" })).length, 0);
      const inParts = await rejectsWith(
        b.resume({ ...request, offset: 7 * MiB }),
        "BAD_ARGUMENT",
        "resume inside the parts",
      );
      assert.match(inParts.message, /in parts: it can go on from 13631488 bytes/);
      await rejectsWith(b.resume({ ...request, offset: 13 * MiB + 1 }), "BAD_ARGUMENT", "past");
      // from inside the tail: the rest of the tail comes again from the client
      const resumed = await b.resume({ ...request, offset: 12 * MiB });
      assert.equal(resumed.length, 12 * MiB);
      await rejectsWith(b.resume({ ...request, offset: 0 }), "BUSY", "resumed twice here");
      await resumed.write(data.subarray(12 * MiB));
      assert.deepEqual(await resumed.commit({ size: data.length, digest: sha256(data) }), {
        replacedBytes: 10,
      });
      assert.deepEqual(await read(a, "doc.bin"), data);
      assert.deepEqual(await a.hash("doc.bin", { length: UNKNOWN_SIZE }), {
        length: data.length,
        digest: sha256(data),
      });
      assert.equal((await a.stat("doc.bin")).mtime, request.mtime);
      assert.deepEqual(await listObjectsFor(client, `${prefix}.ferry-uploads/`), []);
      assert.deepEqual(await Array.fromAsync(listMultipartUploads(client, { prefix })), []);
    });
  },
});

Deno.test({
  name: "s3 storage: a kept tail that changed is not counted; a resume from 0 starts over",
  ignore,
  async fn() {
    await withPrefix(async (a, b, client, prefix) => {
      const data = bytes(8 * MiB, 11);
      const request = { user: "u", path: "t.bin", size: data.length, mtime: null };
      const first = await a.stage(request);
      await first.write(data.subarray(0, 6 * MiB)); // one part and 1 MiB
      await first.interrupted();
      const tail = (await listObjectsFor(client, `${prefix}.ferry-uploads/`))
        .find((k) => k.endsWith(".tail"))!;
      await putObject(client, tail, bytes(MiB, 99)); // same size, other bytes
      assert.equal((await b.partialStatus(request)).length, 5 * MiB, "only the part counts");
      const again = await b.resume({ ...request, offset: 0 });
      assert.equal(again.length, 0);
      await again.write(data);
      await again.commit({ size: data.length, digest: sha256(data) });
      assert.deepEqual(await read(a, "t.bin"), data);
      await a.cleanup({ ttlMs: 0 });
      assert.deepEqual(await listObjectsFor(client, `${prefix}.ferry-uploads/`), []);
      assert.deepEqual(await Array.fromAsync(listMultipartUploads(client, { prefix })), []);
    });
  },
});

Deno.test({
  name:
    "s3 storage: cleanup removes stale checkpoints with their parts and tails, orphaned tails and abandoned multipart uploads",
  ignore,
  async fn() {
    await withPrefix(async (a, b, client, prefix) => {
      // a kept upload (two parts and a tail)
      const kept = await a.stage({ user: "u", path: "k.bin", size: 20 * MiB, mtime: null });
      await kept.write(bytes(12 * MiB));
      await kept.interrupted();
      // an upload of unknown size whose server died: a multipart upload nobody names
      const dead = await createMultipartUpload(client, `${prefix}dead.bin`);
      await uploadPart(client, `${prefix}dead.bin`, dead, 1, bytes(PART));
      // an orphaned tail
      await putObject(client, `${prefix}.ferry-uploads/${"f".repeat(32)}.0123.tail`, "x");
      // an upload in progress on this storage is spared, however old
      const running = await b.stage({ user: "u", path: "r.bin", size: UNKNOWN_SIZE, mtime: null });
      await running.write(bytes(PART + 1, 4)); // its multipart upload has begun

      assert.deepEqual((await b.cleanup({ ttlMs: 3_600_000 })).removed, [], "all young");
      const later = Date.now() + 2 * 3_600_000;
      const { removed } = await b.cleanup({ ttlMs: 3_600_000, now: later });
      assert.equal(removed.length, 3, removed.join(", "));
      assert.ok(removed.some((r) => /^\.ferry-uploads\/[0-9a-f]{32}$/.test(r)), "the checkpoint");
      assert.ok(removed.some((r) => r.endsWith(".0123.tail")), "the orphaned tail");
      assert.ok(removed.some((r) => r.startsWith("dead.bin (multipart upload")), "the dead upload");
      assert.deepEqual(await listObjectsFor(client, `${prefix}.ferry-uploads/`), []);
      const left = await Array.fromAsync(listMultipartUploads(client, { prefix }));
      assert.deepEqual(left.map((u) => u.key), [`${prefix}r.bin`], "only the running upload");
      assert.equal(
        (await a.partialStatus({ user: "u", path: "k.bin", size: 20 * MiB, mtime: null }))
          .length,
        0,
      );
      await running.write(bytes(10));
      await running.commit({
        size: PART + 11,
        digest: sha256(new Uint8Array([...bytes(PART + 1, 4), ...bytes(10)])),
      });
      assert.equal((await a.stat("r.bin")).size, PART + 11);
    });
  },
});

Deno.test({
  name:
    "s3 storage: directories are markers or implied by keys; listings hide the server's keys and read kept times",
  ignore,
  async fn() {
    await withPrefix(async (a, _b, client, prefix) => {
      const other = async (key: string, body = "x") => await putObject(client, prefix + key, body);
      await a.mkdir("made", { parents: false });
      await other("implied/deep/file.txt"); // as another S3 tool would write it
      await other("both"); // a file and a directory of one name
      await other("both/inside.txt");
      await other("a//b"); // an empty segment: not a name
      await put(a, "kept.txt", bytes(5), 1_600_000_000_000);
      for (let i = 0; i < 1200; i += 100) { // more than one page of 1,000
        await Promise.all(
          Array.from({ length: 100 }, (_, j) => other(`many/f${String(i + j).padStart(4, "0")}`)),
        );
      }
      const root = await names(a, ".");
      assert.deepEqual(root, [
        "a dir 0",
        "both dir 0",
        "both file 1",
        "implied dir 0",
        "kept.txt file 5",
        "made dir 0",
        "many dir 0",
      ]);
      assert.equal((await a.stat("implied")).kind, "dir");
      assert.equal((await a.stat("implied/deep")).kind, "dir");
      assert.equal((await a.stat("both")).kind, "file", "a file wins over a directory");
      const listed = await Array.fromAsync(
        (await a.list(".", new AbortController().signal)).entries ?? [],
      );
      assert.equal(listed.find((e) => e.name === "kept.txt")?.mtime, 1_600_000_000_000);
      assert.equal((await names(a, "many")).length, 1200);
      assert.deepEqual(await names(a, "a"), [], "a//b has no name");
      // an implied directory is not empty; a marker alone is, and goes
      await rejectsWith(a.remove("implied"), "NOT_EMPTY", "rm implied");
      await rejectsWith(a.remove("implied/deep"), "NOT_EMPTY", "rm implied/deep");
      assert.deepEqual(await a.remove("made"), { freedBytes: 0 });
      await rejectsWith(a.stat("made"), "NOT_FOUND", "made is gone");
      // an implied directory vanishes with its last file (documented)
      await a.remove("implied/deep/file.txt");
      await rejectsWith(a.stat("implied"), "NOT_FOUND", "implied is gone");
      // mkdir over a file, below a file
      await rejectsWith(a.mkdir("kept.txt", { parents: true }), "ALREADY_EXISTS", "mkdir -p file");
      await rejectsWith(a.mkdir("kept.txt/x", { parents: true }), "NOT_A_DIRECTORY", "below");
      assert.equal(await a.usage(), 5 + 1 + 1 + 1 + 1200, "every object but markers counts");
    });
  },
});

Deno.test({
  name:
    "s3 storage: mv of a file and of a tree is copy then delete; a copy over 5 GiB goes in parts",
  ignore,
  async fn() {
    await withPrefix(async (a, _b, client, prefix) => {
      await a.mkdir("src/sub", { parents: true });
      for (let i = 0; i < 30; i++) await put(a, `src/sub/f${i}`, bytes(1000 + i, i), i * 1000);
      await put(a, "src/big.bin", bytes(6 * MiB, 2));
      await a.rename("src", "dst", { replace: false });
      await rejectsWith(a.stat("src"), "NOT_FOUND", "the source is gone");
      assert.equal((await names(a, "dst/sub")).length, 30);
      assert.deepEqual(await read(a, "dst/sub/f7"), bytes(1007, 7));
      assert.equal((await a.stat("dst/sub/f7")).mtime, 7000, "the kept time moves along");
      assert.deepEqual(await a.hash("dst/big.bin", { length: UNKNOWN_SIZE }), {
        length: 6 * MiB,
        digest: sha256(bytes(6 * MiB, 2)),
      });
      await a.rename("dst/big.bin", "big.bin", { replace: false });
      assert.deepEqual(await names(a, "."), ["big.bin file 6291456", "dst dir 0"]);

      // the copy in parts that objects over 5 GiB take, here with a lower threshold
      const info = await headObject(client, `${prefix}big.bin`);
      await copyWhole(client, `${prefix}big.bin`, `${prefix}copy.bin`, {
        size: info.size,
        ifSourceMatch: info.etag,
        singleCopyLimit: PART,
        partSize: PART,
      });
      const copy = await headObject(client, `${prefix}copy.bin`);
      assert.match(copy.etag, /-2$/, "copied in two parts");
      assert.deepEqual(copy.metadata, info.metadata, "with the source's metadata");
      assert.deepEqual(await read(a, "copy.bin"), bytes(6 * MiB, 2));
    });
  },
});

Deno.test({
  name: "s3 storage: keys never leave the prefix, whatever the paths",
  ignore,
  async fn() {
    const client = await testS3Client();
    const prefix = freshPrefix("fence");
    const outsideKey = `${prefix.slice(0, -1)}-outside/secret`;
    await putObject(client, outsideKey, "secret");
    const storage = createS3Storage({ client, prefix, partSize: PART });
    try {
      const before = await s3Files(client, prefix).around();
      const paths = [
        "../x",
        "/x",
        "a/../../x",
        "..",
        "./../x",
        "a\\..\\x",
        "%2e%2e/x",
        ".ferry-uploads/x",
      ];
      for (const path of paths) {
        const attempts: (() => Promise<unknown>)[] = [
          () => storage.stage({ user: "u", path, size: 1, mtime: null }),
          () => storage.openRead(path, 0),
          () => storage.remove(path),
          () => storage.mkdir(path, { parents: true }),
          () => storage.rename("nothing", path, { replace: true }),
          () => storage.list(path, new AbortController().signal),
        ];
        for (const attempt of attempts) {
          const staged = await attempt().catch(() => undefined);
          // "%2e%2e/x" is a literal name inside the prefix: allowed; its upload is dropped here
          if (typeof staged === "object" && staged !== null && "discard" in staged) {
            await (staged as { discard(): Promise<void> }).discard();
          }
        }
      }
      assert.deepEqual(await s3Files(client, prefix).around(), before, "nothing outside changed");
      assert.equal(new TextDecoder().decode(await readObject(client, outsideKey)), "secret");
    } finally {
      await emptyPrefix(client, prefix);
      await emptyPrefix(client, `${prefix.slice(0, -1)}-outside/`);
    }
  },
});
