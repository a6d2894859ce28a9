/** The data root's quota: uploads that would pass it get NO_SPACE, deletes free space. */

import assert from "node:assert/strict";
import { FerryError } from "../../mod.ts";
import {
  expectError,
  expectFrame,
  fdCount,
  KiB,
  openRaw,
  randomBytes,
  rawLogin,
  rejectsWith,
  sha256Hex,
  spawnTestServer,
  startServer,
  storeSocketCount,
  streamOf,
  TOKENS,
  waitFor,
} from "../_helpers/mod.ts";
import { createQuota } from "../../server/quota.ts";
import { createLocalStorage } from "../../server/storage/local.ts";
import { encodeEof, encodePathRequest, encodeUpload } from "../../protocol/messages/mod.ts";
import { SERVICES } from "../../protocol/services.ts";
import { encodeDataFrames } from "../protocol/_frames.ts";

Deno.test("quota: declared uploads past it are refused up front, replacing counts the old size, deletes free space", async () => {
  const t = await startServer({ quotaBytes: 1024 * KiB });
  const c = await t.client(TOKENS.write);
  try {
    const a = randomBytes(600 * KiB);
    await c.upload(a, "a.bin");
    await rejectsWith(c.upload(randomBytes(600 * KiB), "b.bin"), "NO_SPACE");
    assert.deepEqual((await c.list()).map((e) => e.name), ["a.bin"], "nothing was created");
    // Replacing a.bin with a larger version fits: the old 600 KiB are given back.
    const a2 = randomBytes(900 * KiB);
    await c.upload(a2, "a.bin");
    await rejectsWith(c.upload(randomBytes(200 * KiB), "c.bin"), "NO_SPACE");
    // A stream of unknown size is stopped when it passes the quota; the old version stays.
    await rejectsWith(c.upload(streamOf(randomBytes(1100 * KiB)), "a.bin"), "NO_SPACE");
    assert.equal(await c.hash("a.bin"), sha256Hex(a2), "the old version is intact");
    await c.remove("a.bin");
    await c.upload(randomBytes(1000 * KiB), "d.bin");
  } finally {
    c.close();
    await c.closed;
    await t.close();
  }
});

Deno.test("quota: what is in the root at start-up counts; symlinks are not followed", async () => {
  const base = await Deno.makeTempDir({ prefix: "ferry-quota-" });
  try {
    await Deno.mkdir(`${base}/root/sub`, { recursive: true });
    await Deno.writeFile(`${base}/root/sub/old.bin`, new Uint8Array(700 * KiB));
    await Deno.writeFile(`${base}/big-outside.bin`, new Uint8Array(5000 * KiB));
    await Deno.symlink(`${base}/big-outside.bin`, `${base}/root/link`);
    const storage = await createLocalStorage(`${base}/root`);
    const quota = createQuota(1024 * KiB, await storage.usage());
    assert.equal(quota.used, 700 * KiB);
    assert.throws(
      () => quota.reserve(400 * KiB),
      (e) => e instanceof FerryError && e.code === "NO_SPACE",
    );
    quota.reserve(300 * KiB);
    assert.equal(quota.reserved, 300 * KiB);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("quota: a stream stopped by NO_SPACE leaves no temporary file on disk", async () => {
  const t = await startServer({ quotaBytes: 1024 * KiB });
  const c = await t.client(TOKENS.write);
  try {
    await c.upload(randomBytes(100 * KiB), "a.bin");
    await rejectsWith(c.upload(streamOf(randomBytes(1100 * KiB)), "b.bin"), "NO_SPACE");
    await rejectsWith(c.upload(streamOf(randomBytes(1100 * KiB)), "a.bin"), "NO_SPACE");
    assert.deepEqual(await t.files.names(), ["a.bin"]);
    assert.deepEqual(await t.files.temporaries(), []);
  } finally {
    c.close();
    await c.closed;
    await t.close();
  }
});

Deno.test({
  name: "quota: a declared upload refused with NO_SPACE leaves no temporary file and no open file",
  async fn() {
    const t = await startServer({ quotaBytes: 1024 * KiB });
    const c = await t.client(TOKENS.write);
    try {
      await c.upload(randomBytes(600 * KiB), "a.bin");
      const baseline = fdCount() - storeSocketCount();
      for (let i = 0; i < 5; i++) {
        await rejectsWith(c.upload(randomBytes(600 * KiB), `b${i}.bin`), "NO_SPACE");
      }
      assert.deepEqual(await t.files.names(), ["a.bin"], "no temporary file is left");
      assert.deepEqual(await t.files.temporaries(), [], "nothing kept for a refused upload");
      // (connections to an S3 store come and go: _helpers/storage.ts)
      const open = () => fdCount() - storeSocketCount();
      assert.ok(open() <= baseline, `open files back to ${baseline}, not ${open()}`);
    } finally {
      c.close();
      await c.closed;
      await t.close();
    }
  },
});

Deno.test({
  name: "quota: an upload cut off by its connection gives its reservation back",
  async fn() {
    const t = await startServer({ quotaBytes: 1024 * KiB });
    try {
      const raw = await openRaw(t.port, t.ca);
      try {
        await rawLogin(raw);
        await raw.send(
          encodeUpload({ id: 7, size: 800 * KiB, mtime: null, path: "cut.bin" }),
          encodeDataFrames(SERVICES.UPLOAD_DATA, 7, randomBytes(100 * KiB)),
          // answered once the UPLOAD and its data were handled
          encodePathRequest(SERVICES.STAT, { id: 8, path: "." }),
        );
        expectFrame(await raw.next(), SERVICES.STAT_RESULT, "STAT after the upload's data");
        // on disk its temporary file is there at once; on S3 the bytes wait in memory for a part
        if (t.files.stagedAfter <= 100 * KiB) {
          assert.equal((await t.files.names()).length, 1, "the upload's temporary file");
        }
      } finally {
        await raw.close();
      }
      await waitFor(
        () => t.logs.some((l) => l.event === "disconnect" && l.user === "alice"),
        "the server to see the connection end",
      );
      const c = await t.client(TOKENS.write);
      try {
        const data = randomBytes(800 * KiB);
        await c.upload(data, "whole.bin");
        assert.equal(await c.hash("whole.bin"), sha256Hex(data));
      } finally {
        c.close();
        await c.closed;
      }
    } finally {
      await t.close();
    }
  },
});

Deno.test("quota: a refused upload repeated many times leaves the server's descriptors flat", async () => {
  const server = await spawnTestServer(["--quota", String(100 * KiB)]);
  try {
    const raw = await openRaw(server.port, server.ca);
    try {
      await rawLogin(raw, server.tokens.write);
      const refuse = async (first: number, count: number) => {
        const frames: Uint8Array[] = [];
        for (let id = first; id < first + count; id++) {
          frames.push(
            encodeUpload({ id, size: 200 * KiB, mtime: null, path: `big-${id % 7}.bin` }),
            encodeDataFrames(SERVICES.UPLOAD_DATA, id, new Uint8Array(1000)),
            encodeEof({ id, size: 1000, digest: new Uint8Array(32) }),
          );
        }
        await raw.send(...frames);
        for (let id = first; id < first + count; id++) {
          expectError(await raw.next(), "NO_SPACE", `upload ${id}`, id);
        }
      };
      await refuse(10, 20); // warm up: the first refusals may open what stays open
      const baseline = server.fdCount();
      for (let round = 0; round < 10; round++) await refuse(100 + round * 50, 50);
      assert.equal(raw.pending.length, 0, "one ERROR per refused upload, then silence");
      const after = server.fdCount();
      assert.ok(after <= baseline + 2, `descriptors grew from ${baseline} to ${after}`);
    } finally {
      await raw.close();
    }
    assert.deepEqual(await server.files.names(), [], "no temporary file is left");
  } finally {
    await server.stop();
  }
});
