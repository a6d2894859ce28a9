/** The data root's quota: uploads that would pass it get NO_SPACE, deletes free space. */

import assert from "node:assert/strict";
import { FerryError } from "../mod.ts";
import { randomBytes, sha256Hex, startServer, TOKENS } from "./helpers.ts";
import { createQuota, reserve } from "../server/quota.ts";

const KiB = 1024;

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err) => err instanceof FerryError && err.code === code, code);
}

function streamOf(data: Uint8Array, chunk = 64 * KiB): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= data.length) return controller.close();
      controller.enqueue(data.slice(offset, offset + chunk));
      offset += chunk;
    },
  });
}

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
    const quota = await createQuota(`${base}/root`, 1024 * KiB);
    assert.equal(quota.used, 700 * KiB);
    assert.throws(
      () => reserve(quota, 400 * KiB),
      (e) => e instanceof FerryError && e.code === "NO_SPACE",
    );
    reserve(quota, 300 * KiB);
    assert.equal(quota.reserved, 300 * KiB);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
