/**
 * The cleanup of stale temporary files: the local storage's pass (what it removes and keeps,
 * checked on disk), and the server's schedule of it, run through a real server process with
 * `--partial-ttl` and `--cleanup-interval`: once at start-up, then every interval.
 */

import assert from "node:assert/strict";
import { createLocalStorage } from "../../server/storage/local.ts";
import { UNKNOWN_SIZE } from "../../protocol/bytes.ts";
import { exists, sleep, spawnTestServer, waitFor } from "../_helpers/mod.ts";

async function backdate(path: string, ms: number): Promise<void> {
  const then = new Date(Date.now() - ms);
  await Deno.utime(path, then, then);
}

Deno.test("cleanup removes orphaned .part files and expired partials, keeps the rest", async () => {
  const base = await Deno.makeTempDir({ prefix: "ferry-cleanup-" });
  const root = `${base}/root`;
  try {
    await Deno.mkdir(`${root}/a/b`, { recursive: true });
    await Deno.mkdir(`${base}/outside`);
    const files = {
      orphan: `${root}/.ferry-0123.part`,
      deepOrphan: `${root}/a/b/.ferry-4567.part`,
      fresh: `${root}/a/.ferry-${"1".repeat(32)}.partial`,
      old: `${root}/a/b/.ferry-${"2".repeat(32)}.partial`,
      user: `${root}/a/user-file.txt`,
      outside: `${base}/outside/.ferry-9999.part`,
    };
    for (const path of Object.values(files)) await Deno.writeTextFile(path, "x");
    await backdate(files.old, 3_600_000);
    // A symlink to a directory outside the root is not followed.
    await Deno.symlink(`${base}/outside`, `${root}/link`);
    const storage = await createLocalStorage(root);
    // An upload being received: its temporary file is never removed.
    const upload = await storage.stage({
      user: "alice",
      path: "up.bin",
      size: UNKNOWN_SIZE,
      mtime: null,
    });
    await upload.write(new Uint8Array(10));
    const active = (await Array.fromAsync(Deno.readDir(root)))
      .map((e) => e.name).filter((n) => n.endsWith(".part") && n !== ".ferry-0123.part");
    assert.equal(active.length, 1, `the upload's temporary file: ${active}`);
    const result = await storage.cleanup({ ttlMs: 60_000 });
    assert.deepEqual(
      result.removed.sort(),
      [".ferry-0123.part", "a/b/.ferry-4567.part", `a/b/.ferry-${"2".repeat(32)}.partial`].sort(),
    );
    for (const gone of [files.orphan, files.deepOrphan, files.old]) {
      assert.equal(await exists(gone), false, `${gone} is gone from disk`);
    }
    for (const kept of [files.fresh, `${root}/${active[0]}`, files.user, files.outside]) {
      assert.ok((await Deno.lstat(kept)).isFile, kept);
    }
    await upload.discard();
    assert.equal(await exists(`${root}/${active[0]}`), false, "the discarded upload's file");
    // Once the upload is over, its leftover would be an orphan like any other.
    await Deno.writeTextFile(`${root}/${active[0]}`, "x");
    assert.deepEqual((await storage.cleanup({ ttlMs: 60_000 })).removed, [active[0]]);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("cleanup at server start-up: --partial-ttl decides which kept uploads are stale", async () => {
  const names = {
    orphan: ".ferry-0123.part",
    deepOrphan: "a/.ferry-4567.part",
    stale: `a/.ferry-${"2".repeat(32)}.partial`,
    fresh: `.ferry-${"1".repeat(32)}.partial`,
    user: "a/user-file.txt",
    hiddenUser: ".hidden.part",
  };
  const server = await spawnTestServer(["--partial-ttl", "30m"], {
    async prepare(root) {
      await Deno.mkdir(`${root}/a`);
      for (const name of Object.values(names)) await Deno.writeTextFile(`${root}/${name}`, "x");
      await backdate(`${root}/${names.stale}`, 3_600_000);
    },
  });
  try {
    const { root } = server;
    // The interval is the default hour: whatever goes now goes at start-up.
    await waitFor(
      async () => !(await exists(`${root}/${names.stale}`)),
      "the start-up cleanup",
    );
    for (const name of [names.orphan, names.deepOrphan, names.stale]) {
      assert.equal(await exists(`${root}/${name}`), false, `${name} removed at start-up`);
    }
    for (const name of [names.fresh, names.user, names.hiddenUser]) {
      assert.ok(await exists(`${root}/${name}`), `${name} kept`);
    }
    // The pass logs what it removed once it is over, a moment after the last removal.
    await waitFor(() => /event=cleanup /.test(server.stderr()), "the cleanup log line");
    assert.match(server.stderr(), /event=cleanup removed=3/);
  } finally {
    await server.stop();
  }
});

Deno.test("cleanup every --cleanup-interval while the server runs", async () => {
  const server = await spawnTestServer(["--partial-ttl", "10m", "--cleanup-interval", "300ms"]);
  try {
    const { root } = server;
    await Deno.mkdir(`${root}/d`);
    const orphan = `${root}/d/.ferry-0123.part`;
    const fresh = `${root}/d/.ferry-${"1".repeat(32)}.partial`;
    const user = `${root}/d/user-file.txt`;
    for (const path of [orphan, fresh, user]) await Deno.writeTextFile(path, "x");
    await waitFor(async () => !(await exists(orphan)), "an orphan removed by a later pass");
    await sleep(700); // two more passes
    assert.ok(await exists(fresh), "a partial younger than --partial-ttl is kept");
    assert.ok(await exists(user), "user files are never touched");
    await backdate(fresh, 3_600_000);
    await waitFor(async () => !(await exists(fresh)), "the partial, once older than the TTL");
    assert.ok(await exists(user), "user files are never touched");
    const passesRemovingOne = () => server.stderr().match(/event=cleanup removed=1/g)?.length ?? 0;
    await waitFor(() => passesRemovingOne() >= 2, "the second pass's log line");
    assert.ok(passesRemovingOne() >= 2);
  } finally {
    await server.stop();
  }
});
