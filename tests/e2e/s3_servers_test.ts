/**
 * Several ferry servers on one bucket: two server processes (`server/main.ts --storage s3`) serve
 * the same prefix of the S3 test bucket, with the same users file and admin token, as README
 * "Two servers behind one name" describes. What one writes, the other lists and serves at once;
 * two uploads to one name through both leave exactly one complete version; an upload cut off by
 * killing its server (SIGKILL) is resumed through the other and verified.
 *
 * Needs an S3 store (see `tests/_helpers/storage.ts`); ignored with a message without one, except
 * in CI.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { connect, type FerryClient } from "../../mod.ts";
import { encodeUpload } from "../../protocol/messages/mod.ts";
import { SERVICES } from "../../protocol/services.ts";
import {
  emptyPrefix,
  freshPrefix,
  ignoreWithoutS3,
  listObjectsFor,
  openRaw,
  randomBytes,
  rawLogin,
  s3Files,
  sha256Hex,
  spawnTestServer,
  testS3Client,
  type TestServerProcess,
  TOKENS,
  waitFor,
} from "../_helpers/mod.ts";
import { encodeDataFrames } from "../protocol/_frames.ts";
import { decodeCheckpoint, listMultipartUploads } from "../../server/storage/s3/mod.ts";

const MiB = 1024 * 1024;
const ignore = ignoreWithoutS3("s3_servers_test.ts");

/** Two server processes on one fresh prefix of the bucket. */
async function withTwoServers(
  fn: (a: TestServerProcess, b: TestServerProcess, prefix: string) => Promise<void>,
): Promise<void> {
  const client = await testS3Client();
  const prefix = freshPrefix("two");
  const a = await spawnTestServer([], { s3Prefix: prefix });
  let b: TestServerProcess | undefined;
  try {
    b = await spawnTestServer([], { s3Prefix: prefix });
    await fn(a, b, prefix);
  } finally {
    await a.stop();
    await b?.stop();
    await emptyPrefix(client, prefix);
  }
}

function clientOf(server: TestServerProcess, token = TOKENS.write): Promise<FerryClient> {
  return connect({ hostname: "localhost", port: server.port, token, caCerts: [server.ca] });
}

/** Downloads `remote` and returns the SHA-256 of the bytes received, computed here. */
async function downloadedSha256(c: FerryClient, remote: string): Promise<string> {
  const hash = createHash("sha256");
  let bytes = 0;
  await c.download(
    remote,
    new WritableStream({
      write(chunk) {
        hash.update(chunk);
        bytes += chunk.length;
      },
    }),
  );
  return `${hash.digest("hex")}:${bytes}`;
}

Deno.test({
  name: "two servers, one bucket: a file put through one is listed and served by the other",
  ignore,
  async fn() {
    await withTwoServers(async (a, b) => {
      const ca = await clientOf(a);
      const cb = await clientOf(b, TOKENS.read); // the same users file on both servers
      try {
        const small = randomBytes(100_000);
        const big = randomBytes(20 * MiB + 123); // three parts
        await ca.mkdir("shared");
        await ca.upload(small, "shared/small.bin");
        await ca.upload(big, "shared/big.bin", { mtime: new Date("2024-01-02T03:04:05Z") });
        const listed = await cb.list("shared");
        assert.deepEqual(
          listed.map((e) => [e.name, e.kind, e.size]),
          [["big.bin", "file", big.length], ["small.bin", "file", small.length]],
        );
        assert.equal(
          listed[0].mtime,
          Date.parse("2024-01-02T03:04:05Z"),
          "the client's mtime, kept in the object's metadata, is listed",
        );
        assert.equal(
          await downloadedSha256(cb, "shared/big.bin"),
          `${sha256Hex(big)}:${big.length}`,
        );
        assert.equal(
          await downloadedSha256(cb, "shared/small.bin"),
          `${sha256Hex(small)}:${small.length}`,
        );
        assert.equal(await cb.hash("shared/big.bin"), sha256Hex(big));
        // and back: a delete through the other server is seen at once
        await cb.close();
        const cbw = await clientOf(b);
        try {
          await cbw.remove("shared/small.bin");
        } finally {
          cbw.close();
        }
        assert.deepEqual((await ca.list("shared")).map((e) => e.name), ["big.bin"]);
      } finally {
        ca.close();
        cb.close();
      }
    });
  },
});

Deno.test({
  name:
    "two servers, one bucket: concurrent uploads to one name leave exactly one complete version",
  ignore,
  async fn() {
    await withTwoServers(async (a, b, prefix) => {
      const ca = await clientOf(a);
      const cb = await clientOf(b);
      try {
        for (const size of [300_000, 18 * MiB]) { // a single PUT each; multipart uploads each
          const one = randomBytes(size);
          const two = randomBytes(size + 1000);
          const results = await Promise.allSettled([
            ca.upload(one, "same.bin"),
            cb.upload(two, "same.bin"),
          ]);
          assert.deepEqual(
            results.map((r) => r.status),
            ["fulfilled", "fulfilled"],
            String(
              results.map((r) => r.status === "rejected" ? r.reason : "").join(" "),
            ),
          );
          const seenA = await downloadedSha256(ca, "same.bin");
          const seenB = await downloadedSha256(cb, "same.bin");
          assert.equal(seenA, seenB, "both servers serve the same version");
          const versions = [`${sha256Hex(one)}:${one.length}`, `${sha256Hex(two)}:${two.length}`];
          assert.ok(versions.includes(seenA), `one of the two uploads, whole (${seenA})`);
          // the checksum kept with it belongs to it, whichever server wrote it
          assert.equal(`${await ca.hash("same.bin")}:${seenA.split(":")[1]}`, seenA);
          assert.equal(`${await cb.hash("same.bin")}:${seenA.split(":")[1]}`, seenA);
        }
        const client = await testS3Client();
        assert.deepEqual(
          await Array.fromAsync(listMultipartUploads(client, { prefix })),
          [],
          "no multipart upload is left",
        );
        assert.deepEqual(
          (await s3Files(client, prefix).names()).filter((n) => n !== "same.bin"),
          [],
          "no checkpoint is left",
        );
      } finally {
        ca.close();
        cb.close();
      }
    });
  },
});

Deno.test({
  name:
    "two servers, one bucket: an upload cut off by killing its server (SIGKILL) resumes through the other",
  ignore,
  async fn() {
    await withTwoServers(async (a, b, prefix) => {
      const data = randomBytes(40 * MiB + 7);
      const client = await testS3Client();
      // Through server A by raw frames: the upload (known size, so resumable) and 26 MiB of it.
      const raw = await openRaw(a.port, a.ca);
      try {
        await rawLogin(raw, TOKENS.write);
        await raw.send(encodeUpload({ id: 3, size: data.length, mtime: null, path: "big.bin" }));
        for (let at = 0; at < 26 * MiB; at += 2 * MiB) {
          await raw.send(
            encodeDataFrames(SERVICES.UPLOAD_DATA, 3, data.subarray(at, at + 2 * MiB)),
          );
        }
        // Wait until the store holds a checkpoint of two parts (16 MiB), then kill A outright.
        let parts = 0;
        await waitFor(
          async () => {
            for (const key of await listObjectsFor(client, `${prefix}.ferry-uploads/`)) {
              if (key.endsWith(".tail")) continue;
              const got = await s3Files(client, prefix).read(key.slice(prefix.length));
              parts = decodeCheckpoint(got).parts.length;
            }
            return parts >= 2;
          },
          "a checkpoint of two parts",
          30_000,
        );
        Deno.kill(a.pid, "SIGKILL");
        await a.stop();
      } finally {
        await raw.close();
      }
      // Through server B: the client asks what is kept, checks its own first bytes against the
      // kept SHA-256, and sends the rest.
      const cb = await clientOf(b);
      try {
        const result = await cb.upload(data, "big.bin", { resume: true });
        assert.ok(result.resumed >= 16 * MiB, `resumed from ${result.resumed}`);
        assert.equal(result.resumed % (8 * MiB), 0, "from the end of a part");
        assert.equal(result.checksum, sha256Hex(data));
        assert.equal(await downloadedSha256(cb, "big.bin"), `${sha256Hex(data)}:${data.length}`);
        assert.equal(await cb.hash("big.bin"), sha256Hex(data));
        assert.equal((await cb.stat("big.bin")).size, data.length);
      } finally {
        cb.close();
      }
      assert.deepEqual(await Array.fromAsync(listMultipartUploads(client, { prefix })), []);
      assert.deepEqual(await s3Files(client, prefix).names(), ["big.bin"], "nothing else kept");
    });
  },
});
