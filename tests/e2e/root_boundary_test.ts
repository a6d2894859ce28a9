/**
 * End to end, the data root is a boundary: path escapes (.., absolute, backslash, drive, NUL),
 * symlinks pointing outside, the server's own `.ferry-` names, and a FIFO in the root are refused;
 * nothing outside the root changes.
 *
 * A real server (tests/_helpers/server.ts) over real TLS on 127.0.0.1, driven by the real client
 * library; every client and server is closed in `finally`, with the resource and op sanitizers
 * on.
 */

import assert from "node:assert/strict";
import { type ErrorCode, FerryError } from "../../mod.ts";
import {
  byName,
  collector,
  feeding,
  KiB,
  namesIn,
  randomBytes,
  rejectsWith,
  settlesWithin,
  snapshot,
  TOKENS,
  waitFor,
  withClient,
  withServer,
} from "../_helpers/mod.ts";

const encoder = new TextEncoder();

const ESCAPES: [string, ErrorCode][] = [
  ["../x", "OUTSIDE_ROOT"],
  ["/etc/passwd", "OUTSIDE_ROOT"],
  ["a/../../x", "OUTSIDE_ROOT"],
  ["..\\x", "BAD_NAME"],
  ["C:x", "BAD_NAME"],
  ["a\0b", "BAD_NAME"],
  ["outside/../x", "OUTSIDE_ROOT"],
  ["..", "OUTSIDE_ROOT"],
];

Deno.test("path escapes (.., absolute, backslash, drive, NUL) are refused for put, get, rm and ls; nothing outside changes", async () => {
  await withServer(async (t) => {
    const base = `${t.root}/..`;
    await Deno.mkdir(`${t.root}/a`);
    await Deno.writeTextFile(`${t.outside}/x`, "outside x");
    await Deno.mkdir(`${t.outside}/dl`);
    const before = await snapshot(base);
    await withClient(t, TOKENS.admin, async (c) => {
      for (const [path, code] of ESCAPES) {
        const label = JSON.stringify(path);
        await rejectsWith(c.upload(encoder.encode("pwned"), path), code, `put ${label}`);
        await rejectsWith(c.download(path, `${t.outside}/dl/out`), code, `get ${label} to a path`);
        await rejectsWith(c.download(path, collector().stream), code, `get ${label} to a stream`);
        await rejectsWith(c.remove(path), code, `rm ${label}`);
        await rejectsWith(c.list(path), code, `ls ${label}`);
      }
      assert.deepEqual(
        (await c.list()).map((e) => e.name),
        ["a"],
        "the connection is still usable",
      );
    });
    assert.deepEqual(await snapshot(base), before, "nothing outside the root (or in it) changed");
    assert.equal(await Deno.readTextFile(`${t.outside}/x`), "outside x");
  });
});

Deno.test("a symlink inside the root pointing outside is never followed; CANARY stays untouched", async () => {
  await withServer(async (t) => {
    const canary = `${t.outside}/CANARY`;
    await Deno.writeTextFile(canary, "canary content");
    await Deno.symlink(canary, `${t.root}/link`);
    await Deno.symlink(t.outside, `${t.root}/outdir`);
    const before = await snapshot(t.outside);
    await withClient(t, TOKENS.admin, async (c) => {
      // The links are listed as links, not as what they point at.
      assert.deepEqual(byName(await c.list()).map((e) => [e.name, e.kind, e.size]), [
        ["link", "symlink", 0],
        ["outdir", "symlink", 0],
      ]);
      // Nothing is read, listed, written or removed through them.
      const refused = ["OUTSIDE_ROOT", "BAD_NAME"];
      const through = async (what: string, p: Promise<unknown>) => {
        const err = await p.then(() => null, (e) => e);
        assert.ok(err instanceof FerryError, `${what}: must fail`);
        assert.ok(refused.includes(err.code), `${what}: ${err.code}: ${err.message}`);
      };
      await through("get link", c.download("link", collector().stream));
      await through("ls link", c.list("link"));
      await through("ls outdir", c.list("outdir"));
      await through("ls outdir/", c.list("outdir/"));
      await through("get outdir/CANARY", c.download("outdir/CANARY", collector().stream));
      await through("put outdir/CANARY", c.upload(encoder.encode("pwned"), "outdir/CANARY"));
      await through("put outdir/new", c.upload(encoder.encode("pwned"), "outdir/new"));
      await through("rm outdir/CANARY", c.remove("outdir/CANARY"));
      await through("ls outdir/CANARY", c.list("outdir/CANARY"));
      assert.equal(await Deno.readTextFile(canary), "canary content");
      assert.deepEqual(await snapshot(t.outside), before);

      // The final component of put and rm is the link itself (documented in server/paths.ts):
      // uploading onto the link replaces the link, and removing it removes only the link.
      await c.upload(encoder.encode("replacement"), "link");
      assert.ok(
        (await Deno.lstat(`${t.root}/link`)).isFile,
        "the link was replaced by a regular file",
      );
      assert.equal(await Deno.readTextFile(`${t.root}/link`), "replacement");
      await c.remove("outdir");
      await assert.rejects(Deno.lstat(`${t.root}/outdir`), Deno.errors.NotFound);
      assert.deepEqual((await c.list()).map((e) => [e.name, e.kind]), [["link", "file"]]);
    });
    assert.equal(await Deno.readTextFile(canary), "canary content", "CANARY unchanged");
    assert.deepEqual(await snapshot(t.outside), before, "no new or changed files outside the root");
  });
});

Deno.test(".ferry- names are refused with BAD_NAME and the server's temporary files never appear in a listing", async () => {
  await withServer(async (t) => {
    await Deno.mkdir(`${t.root}/sub`);
    await Deno.writeTextFile(`${t.root}/.ferry-planted.part`, "server-owned");
    await withClient(t, TOKENS.admin, async (c) => {
      for (const path of [".ferry-x", ".FERRY-x", "sub/.ferry-x", ".ferry-planted.part"]) {
        await rejectsWith(c.upload(encoder.encode("x"), path), "BAD_NAME", `put ${path}`);
        await rejectsWith(c.download(path, collector().stream), "BAD_NAME", `get ${path}`);
        await rejectsWith(c.remove(path), "BAD_NAME", `rm ${path}`);
        await rejectsWith(c.list(path), "BAD_NAME", `ls ${path}`);
      }
      assert.equal(await Deno.readTextFile(`${t.root}/.ferry-planted.part`), "server-owned");
      assert.deepEqual((await c.list()).map((e) => e.name), ["sub"]);

      // While an upload is in flight its temporary file exists on disk but is not listed.
      const result = await feeding((stream) => c.upload(stream, "sub/new.bin"), async (feed) => {
        feed.push(randomBytes(100 * KiB));
        await waitFor(
          async () => (await namesIn(`${t.root}/sub`)).some((n) => n.startsWith(".ferry-")),
          "temp file",
          5_000,
        );
        assert.deepEqual(await c.list("sub"), [], "the in-flight upload is not listed");
        assert.deepEqual((await c.list()).map((e) => e.name), ["sub"]);
        feed.push(randomBytes(10));
        feed.end();
      });
      assert.equal(result.bytes, 100 * KiB + 10);
      assert.deepEqual(await namesIn(`${t.root}/sub`), ["new.bin"], "the temp file is gone");
      assert.deepEqual((await c.list("sub")).map((e) => e.name), ["new.bin"]);
    });
  });
});

Deno.test("downloading a FIFO in the root is refused with BAD_ARGUMENT and shutdown still finishes", async () => {
  await withServer(async (t) => {
    const fifo = `${t.root}/fifo`;
    const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.ok(made.success, "mkfifo");
    await withClient(t, TOKENS.read, async (c) => {
      assert.deepEqual((await c.list()).map((e) => [e.name, e.kind]), [["fifo", "other"]]);
      const download = c.download("fifo", collector().stream);
      const got = await settlesWithin(download, 10_000);
      const shutdown = t.server.shutdown("test");
      const finished = await settlesWithin(t.server.finished, 10_000);
      if (!got.settled) {
        // Unblock the server's Deno.open(fifo, read) by opening the other end.
        const writer = await Deno.open(fifo, { write: true });
        writer.close();
      }
      await download.catch(() => {});
      await shutdown;
      const problems: string[] = [];
      if (!got.settled) problems.push("get of a FIFO did not settle within 10 s");
      else if (!(got.error instanceof FerryError && got.error.code === "BAD_ARGUMENT")) {
        problems.push(`get of a FIFO: expected BAD_ARGUMENT, got ${got.error}`);
      }
      if (!finished.settled) {
        problems.push("server.finished did not resolve 10 s after shutdown (grace 300 ms)");
      }
      assert.deepEqual(problems, []);
    });
  }, { shutdownGraceMs: 300 });
});
