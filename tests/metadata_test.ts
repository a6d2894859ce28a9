/** STAT, HASH, MKDIR and RENAME end to end over real TLS. */

import assert from "node:assert/strict";
import { type FerryClient, FerryError } from "../mod.ts";
import { randomBytes, sha256Hex, startServer, type TestServer, TOKENS } from "./helpers.ts";

async function withClient(
  token: string,
  fn: (c: FerryClient, t: TestServer) => Promise<void>,
): Promise<void> {
  const t = await startServer();
  const c = await t.client(token);
  try {
    await fn(c, t);
  } finally {
    c.close();
    await c.closed;
    await t.close();
  }
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err) => err instanceof FerryError && err.code === code, code);
}

Deno.test("stat and hash describe files and directories; hash matches the content", async () => {
  await withClient(TOKENS.read, async (c, t) => {
    const data = randomBytes(300_000);
    await t.files.mkdir("d");
    await t.files.write("d/f.bin", data);
    const f = await c.stat("d/f.bin");
    assert.equal(f.kind, "file");
    assert.equal(f.name, "f.bin");
    assert.equal(f.size, data.length);
    assert.ok(f.mtime !== null);
    assert.equal((await c.stat("d")).kind, "dir");
    assert.equal((await c.stat(".")).kind, "dir");
    assert.equal(await c.hash("d/f.bin"), sha256Hex(data));
    await rejectsWith(c.stat("missing"), "NOT_FOUND");
    await rejectsWith(c.hash("d"), "IS_A_DIRECTORY");
    await rejectsWith(c.stat("../x"), "OUTSIDE_ROOT");
    assert.equal((await c.list()).length, 1, "the connection is still usable");
  });
});

Deno.test("mkdir, mkdir -p, and the errors a user expects", async () => {
  await withClient(TOKENS.write, async (c, t) => {
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
  });
});

Deno.test("rename moves files and directories, refuses to clobber or to move into itself", async () => {
  await withClient(TOKENS.write, async (c, t) => {
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
  });
});

Deno.test("a read-only token cannot mkdir or rename", async () => {
  await withClient(TOKENS.read, async (c) => {
    await rejectsWith(c.mkdir("a"), "FORBIDDEN");
    await rejectsWith(c.rename("a", "b"), "FORBIDDEN");
  });
});
