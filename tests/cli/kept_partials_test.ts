/**
 * Tests for cli/kept_partials.ts: the partial download kept beside a target is found, with its
 * size, whether its directory is listed (a `get` of many files) or each file is looked up alone
 * (a few files); a target with none, a partial name that is not a regular file, and a directory
 * that does not exist give `null`.
 */

import assert from "node:assert/strict";
import { KeptPartials, LIST_FROM_FILES } from "../../cli/kept_partials.ts";

Deno.test("kept partials: found by listing (many files) and alone (few), the same way", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ferry-kept-" });
  try {
    await Deno.writeTextFile(`${dir}/.a.bin.ferry-partial`, "abc");
    await Deno.writeTextFile(`${dir}/b.bin`, "whole");
    await Deno.mkdir(`${dir}/.c.bin.ferry-partial`);
    for (const files of [1, LIST_FROM_FILES]) {
      const kept = new KeptPartials(files);
      assert.equal(await kept.sizeFor(`${dir}/a.bin`), 3, `${files} files`);
      assert.equal(await kept.sizeFor(`${dir}/b.bin`), null);
      assert.equal(await kept.sizeFor(`${dir}/c.bin`), null, "a directory is no partial file");
      assert.equal(await kept.sizeFor(`${dir}/missing/x.bin`), null);
    }
    // A listing is made once per directory, when its first file asks: a partial file written
    // later (by this run's own downloads) is not taken for a kept one.
    const listing = new KeptPartials(LIST_FROM_FILES);
    assert.equal(await listing.sizeFor(`${dir}/b.bin`), null);
    await Deno.writeTextFile(`${dir}/.d.bin.ferry-partial`, "new");
    assert.equal(await listing.sizeFor(`${dir}/d.bin`), null);
    assert.equal(await new KeptPartials(1).sizeFor(`${dir}/d.bin`), 3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
