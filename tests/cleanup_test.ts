import assert from "node:assert/strict";
import { cleanTemporaryFiles } from "../server/cleanup.ts";
import { activeTemps } from "../server/handlers/upload.ts";

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
      active: `${root}/.ferry-active.part`,
      user: `${root}/a/user-file.txt`,
      outside: `${base}/outside/.ferry-9999.part`,
    };
    for (const path of Object.values(files)) await Deno.writeTextFile(path, "x");
    const hourAgo = new Date(Date.now() - 3_600_000);
    await Deno.utime(files.old, hourAgo, hourAgo);
    // A symlink to a directory outside the root is not followed.
    await Deno.symlink(`${base}/outside`, `${root}/link`);
    activeTemps.add(files.active);
    const result = await cleanTemporaryFiles(root, { partialTtlMs: 60_000 });
    activeTemps.delete(files.active);
    assert.deepEqual(
      result.removed.sort(),
      [".ferry-0123.part", "a/b/.ferry-4567.part", `a/b/.ferry-${"2".repeat(32)}.partial`].sort(),
    );
    for (const kept of [files.fresh, files.active, files.user, files.outside]) {
      assert.ok((await Deno.lstat(kept)).isFile, kept);
    }
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
