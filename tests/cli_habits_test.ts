/**
 * The `ferry` command meets scp, curl and rclone habits (issue 11): `HOST:PATH` and
 * `ferry://HOST:PORT/PATH` remote paths, `-P PORT`, `--host HOST:PORT`, combined short flags,
 * `--limit-rate`, `-` for standard input and output, tokens that begin with `-`, `--token-file`,
 * `--version` and shell completions; and the one-line advice when a habit does not apply.
 *
 * @module
 */

import assert from "node:assert/strict";
import { assertFails, cliServer, exists } from "./cli_helpers.ts";

Deno.test("cli habits: get of a directory without -r says to use -r, as put does", async () => {
  await using s = await cliServer();
  await Deno.mkdir(`${s.ts.root}/docs`);
  await Deno.writeTextFile(`${s.ts.root}/docs/a.txt`, "a\n");
  const get = await s.run(["get", "docs", "out"]);
  assertFails(get, 6, "IS_A_DIRECTORY", "get of a directory");
  assert.match(get.stderr, /^ferry: docs is a directory \(use -r\) \[IS_A_DIRECTORY\]$/m);
  assert.ok(!(await exists(`${s.cwd}/out`)));
  await Deno.mkdir(`${s.cwd}/local-dir`);
  const put = await s.run(["put", "local-dir"]);
  assertFails(put, 6, "IS_A_DIRECTORY", "put of a directory");
  assert.match(put.stderr, /use -r/);
});
