/**
 * STAT, HASH, MKDIR and RENAME end to end over real TLS: what they report (kinds, sizes, exact
 * modification times, the SHA-256 of a whole file or of its first `length` bytes), what they do
 * on disk, and the errors a user expects.
 */

import assert from "node:assert/strict";
import { decodeDigest, encodeHashRequest } from "../../protocol/messages/mod.ts";
import { SERVICES } from "../../protocol/services.ts";
import { UNKNOWN_SIZE } from "../../protocol/bytes.ts";
import {
  expectError,
  expectFrame,
  openRaw,
  randomBytes,
  rawLogin,
  rejectsWith,
  sha256Hex,
  TOKENS,
  withClient,
  withServer,
} from "../_helpers/mod.ts";

Deno.test("stat and hash describe files and directories; hash matches the content", async () => {
  await withServer((t) =>
    withClient(t, TOKENS.read, async (c) => {
      const data = randomBytes(300_000);
      await t.files.mkdir("d");
      await t.files.write("d/f.bin", data);
      const fileTime = new Date("2021-02-03T04:05:06.789Z");
      await t.files.setMtime("d/f.bin", fileTime);
      const f = await c.stat("d/f.bin");
      assert.equal(f.kind, "file");
      assert.equal(f.name, "f.bin");
      assert.equal(f.size, data.length);
      assert.ok(f.mtime !== null);
      assert.equal(f.mtime, fileTime.getTime(), "the file's own mtime, to the millisecond");
      const d = await c.stat("d");
      assert.equal(d.kind, "dir");
      assert.equal(d.mtime, await t.files.mtime("d"), "the dir's mtime");
      assert.equal((await c.stat(".")).kind, "dir");
      assert.equal(await c.hash("d/f.bin"), sha256Hex(data));
      await rejectsWith(c.stat("missing"), "NOT_FOUND", "stat missing");
      await rejectsWith(c.hash("d"), "IS_A_DIRECTORY", "hash d");
      await rejectsWith(c.stat("../x"), "OUTSIDE_ROOT", "stat ../x");
      assert.equal((await c.list()).length, 1, "the connection is still usable");
    })
  );
});

Deno.test("HASH of the first `length` bytes: any prefix, the whole file, and past the end", async () => {
  await withServer(async (t) => {
    const data = randomBytes(300_000);
    await t.files.write("f.bin", data);
    const raw = await openRaw(t.port, t.ca);
    try {
      await rawLogin(raw, TOKENS.read);
      let id = 10;
      for (const length of [0, 1, 65_535, 65_536, 123_457, data.length - 1, data.length]) {
        await raw.send(encodeHashRequest({ id: ++id, length, path: "f.bin" }));
        const got = decodeDigest(
          expectFrame(await raw.next(), SERVICES.HASH_RESULT, `HASH ${length}`).payload,
        );
        assert.equal(got.id, id);
        assert.equal(got.length, length, `HASH ${length}: bytes hashed`);
        assert.equal(got.digest.toHex(), sha256Hex(data.subarray(0, length)), `HASH ${length}`);
      }
      await raw.send(encodeHashRequest({ id: ++id, length: UNKNOWN_SIZE, path: "f.bin" }));
      const whole = decodeDigest(
        expectFrame(await raw.next(), SERVICES.HASH_RESULT, "HASH all").payload,
      );
      assert.equal(whole.length, data.length, "all ones: the whole file");
      assert.equal(whole.digest.toHex(), sha256Hex(data));
      await raw.send(encodeHashRequest({ id: ++id, length: data.length + 1, path: "f.bin" }));
      expectError(await raw.next(), "BAD_ARGUMENT", "HASH past the end", id);
    } finally {
      await raw.close();
    }
  });
});

Deno.test("mkdir, mkdir -p, and the errors a user expects", async () => {
  await withServer((t) =>
    withClient(t, TOKENS.write, async (c) => {
      await c.mkdir("a");
      await rejectsWith(c.mkdir("a"), "ALREADY_EXISTS");
      await c.mkdir("a", { parents: true });
      await c.mkdir("a/b/c/d", { parents: true });
      assert.equal(await t.files.kind("a/b/c/d"), "dir");
      await rejectsWith(c.mkdir("x/y"), "NOT_FOUND");
      await t.files.write("file", "x");
      await rejectsWith(c.mkdir("file", { parents: true }), "ALREADY_EXISTS");
      await rejectsWith(c.mkdir("file/sub", { parents: true }), "NOT_A_DIRECTORY");
      await rejectsWith(c.mkdir("CON"), "BAD_NAME");
      await rejectsWith(c.mkdir("../escape"), "OUTSIDE_ROOT");
      await rejectsWith(c.mkdir(".ferry-x"), "BAD_NAME");
    })
  );
});

Deno.test("rename moves files and directories, refuses to clobber or to move into itself", async () => {
  await withServer((t) =>
    withClient(t, TOKENS.write, async (c) => {
      await t.files.mkdir("d");
      await t.files.mkdir("d/e");
      await t.files.write("a.txt", "A");
      await t.files.write("b.txt", "B");
      await c.rename("a.txt", "d/a.txt");
      assert.equal(await t.files.readText("d/a.txt"), "A");
      await rejectsWith(c.rename("b.txt", "d/a.txt"), "ALREADY_EXISTS");
      await c.rename("b.txt", "d/a.txt", { replace: true });
      assert.equal(await t.files.readText("d/a.txt"), "B");
      await rejectsWith(c.rename("d", "d/e/inside"), "BAD_ARGUMENT");
      await rejectsWith(c.rename("d/a.txt", "d/e", { replace: true }), "ALREADY_EXISTS");
      await c.rename("d", "moved");
      assert.equal(await t.files.kind("moved/e"), "dir");
      await rejectsWith(c.rename("missing", "x"), "NOT_FOUND");
      await rejectsWith(c.rename("moved", "../out"), "OUTSIDE_ROOT");
      await rejectsWith(c.rename("moved", "nul.txt"), "BAD_NAME");
    })
  );
});

Deno.test("a read-only token cannot mkdir or rename", async () => {
  await withServer((t) =>
    withClient(t, TOKENS.read, async (c) => {
      await rejectsWith(c.mkdir("a"), "FORBIDDEN");
      await rejectsWith(c.rename("a", "b"), "FORBIDDEN");
    })
  );
});
