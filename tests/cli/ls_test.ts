/**
 * Plain `ls` (issue 12): the names of a listing larger than one LIST_ENTRIES frame, sorted and
 * printed in large writes; the pieces that keep its memory small (`cli/name_list.ts`,
 * `cli/line_output.ts`); and the CLI end to end against a real server.
 *
 * @module
 */

import assert from "node:assert/strict";
import { CHUNK_CHARS, type SyncSink, writeLines } from "../../cli/line_output.ts";
import { NameList } from "../../cli/name_list.ts";
import type { Entry } from "../../protocol/messages/mod.ts";
import { assertFails, assertOk, cliServer } from "../_helpers/mod.ts";

/** A sink that takes at most `max` bytes a call and keeps what it got. */
function shortWrites(max: number): SyncSink & { writes: number; text(): string } {
  const parts: Uint8Array[] = [];
  let writes = 0;
  return {
    writeSync(p) {
      writes++;
      const n = Math.min(max, p.length);
      parts.push(p.slice(0, n));
      return n;
    },
    get writes() {
      return writes;
    },
    text: () => new TextDecoder().decode(new Uint8Array(parts.flatMap((p) => [...p]))),
  };
}

const entry = (name: string, kind: Entry["kind"] = "file"): Entry => ({
  name,
  kind,
  size: 0,
  mtime: null,
});

Deno.test("ls output: lines go out in chunks of about 64 Ki characters, short writes retried", () => {
  const lines = Array.from({ length: 20_000 }, (_, i) => `line-${i}-é`);
  const sink = shortWrites(4096);
  const chunks = writeLines(lines, sink);
  assert.equal(sink.text(), lines.map((l) => `${l}\n`).join(""));
  const chars = lines.reduce((n, l) => n + l.length + 1, 0);
  assert.equal(chunks, Math.ceil(chars / CHUNK_CHARS), "one write per chunk, not per line");
  assert.ok(sink.writes > chunks, "short writes were continued");
  const empty = shortWrites(10);
  assert.equal(writeLines([], empty), 0);
  assert.equal(empty.writes, 0, "nothing at all for no lines");
});

Deno.test("ls output: NameList sorts by name as `<` does, directories marked after sorting", () => {
  const names = new NameList();
  names.add([entry("b"), entry("a-b"), entry("a", "dir"), entry("Z"), entry("é")]);
  names.add([entry("\x1b[2Jx"), entry("skip me"), entry("a", "file")], (n) => n !== "skip me");
  assert.equal(names.length, 7);
  // "a/" would sort after "a-b" as text; by name, the directory "a" comes first. Equal names
  // keep their order of arrival.
  assert.deepEqual([...names.lines()], ["\\x1b[2Jx", "Z", "a/", "a", "a-b", "b", "é"]);
});

Deno.test("ls output: NameList grows past its first block and keeps each entry's kind", () => {
  const names = new NameList();
  const n = 5000;
  for (let i = n - 1; i >= 0; i -= 100) {
    const batch: Entry[] = [];
    for (let j = i; j > i - 100 && j >= 0; j--) {
      batch.push(entry(String(j).padStart(5, "0"), j % 3 === 0 ? "dir" : "file"));
    }
    names.add(batch);
  }
  assert.deepEqual(
    [...names.lines()],
    Array.from({ length: n }, (_, j) => `${String(j).padStart(5, "0")}${j % 3 === 0 ? "/" : ""}`),
  );
});

Deno.test("cli ls: a directory larger than one frame, sorted, directories marked; a wildcard", async () => {
  await using s = await cliServer();
  const expected: string[] = [];
  await s.ts.files.mkdir("big");
  // About 1,000 entries fit a frame: 3,000 take several. Written 50 at a time (on S3, PUTs).
  const n = 3000;
  for (let i = 0; i < n; i += 50) {
    await Promise.all(Array.from({ length: 50 }, (_, j) => {
      const name = `${String(((i + j) * 7919) % n).padStart(4, "0")}-${"n".repeat(40)}`;
      const dir = (i + j) % 250 === 0;
      expected.push(dir ? `${name}/` : name);
      return dir ? s.ts.files.mkdir(`big/${name}`) : s.ts.files.write(`big/${name}`, "x");
    }));
  }
  expected.sort();
  const ls = await s.run(["ls", "big"]);
  assertOk(ls, "ls");
  assert.equal(ls.stdout, expected.map((l) => `${l}\n`).join(""));
  const some = await s.run(["ls", "big/01*"]);
  assertOk(some, "ls with a wildcard");
  assert.equal(
    some.stdout,
    expected.filter((l) => l.startsWith("01")).map((l) => `${l}\n`).join(""),
  );
  assertFails(await s.run(["ls", "big/*.zip"]), 6, "NOT_FOUND", "no match");
  // -U: the server's order, batch by batch as it arrives; the same lines.
  const unsorted = await s.run(["ls", "-U", "big"]);
  assertOk(unsorted, "ls -U");
  assert.deepEqual(unsorted.stdout.split("\n").slice(0, -1).sort(), expected);
  const someUnsorted = await s.run(["ls", "--unsorted", "big/01*"]);
  assertOk(someUnsorted, "ls -U with a wildcard");
  assert.deepEqual(
    someUnsorted.stdout.split("\n").slice(0, -1).sort(),
    expected.filter((l) => l.startsWith("01")),
  );
  assertFails(await s.run(["ls", "-U", "big/*.zip"]), 6, "NOT_FOUND", "no match, unsorted");
  // The long listing still has sizes (it does not ask for names only).
  const long = await s.run(["ls", "-l", "big/0001*"]);
  assertOk(long, "ls -l");
  assert.match(long.stdout, /^file\s+1\s+\S+ \S+\s+0001-n+$/m);
});
