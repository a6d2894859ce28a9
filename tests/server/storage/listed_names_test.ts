/**
 * Names a ferry path cannot carry are listed escaped, never hidden (issue 10 item 7, server
 * part; PROTOCOL.md §7 "Names in listings"): the escaping itself, and `ls`, `get` and `rm` of
 * such names on a real server, on both storages.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { type Entry, type FerryClient, FerryError } from "../../../mod.ts";
import {
  escapeNameBytes,
  listedName,
  unescapeListedName,
} from "../../../server/storage/listed_names.ts";
import {
  ignoreWithoutS3,
  localOnly,
  startServer,
  STORAGE_KINDS,
  type StorageKind,
  TOKENS,
} from "../../_helpers/mod.ts";

const bytes = (...b: number[]) => new Uint8Array(b);

/**
 * Asserts that get, rm and ls of each listed `name` are refused with BAD_NAME (and a message
 * matching `message`, when given).
 */
async function expectBadNameEverywhere(
  c: FerryClient,
  names: string[],
  message?: RegExp,
): Promise<void> {
  for (const name of names) {
    for (
      const [what, op] of [
        ["get", () => c.download(name, new WritableStream())],
        ["rm", () => c.remove(name)],
        ["ls", () => c.list(name)],
      ] as const
    ) {
      await assert.rejects(op(), (err) => {
        assert.ok(err instanceof FerryError, `${what} ${name}: ${err}`);
        assert.equal(err.code, "BAD_NAME", `${what} ${name}: ${err.message}`);
        if (message !== undefined) assert.match(err.message, message, `${what} ${name}`);
        return true;
      });
    }
  }
}

Deno.test("listed names: valid UTF-8 stays, other bytes are \\xNN, backslashes are doubled", () => {
  assert.equal(escapeNameBytes(new TextEncoder().encode("plain été 👨‍👩‍👧")), "plain été 👨‍👩‍👧");
  assert.equal(escapeNameBytes(bytes(0x61, 0xff, 0x62)), "a\\xffb");
  assert.equal(escapeNameBytes(bytes(0x5c)), "\\\\");
  // Overlong forms, encoded surrogates, code points past U+10FFFF, truncated sequences.
  assert.equal(escapeNameBytes(bytes(0xc0, 0xaf)), "\\xc0\\xaf");
  assert.equal(escapeNameBytes(bytes(0xe0, 0x80, 0xaf)), "\\xe0\\x80\\xaf");
  assert.equal(escapeNameBytes(bytes(0xed, 0xa0, 0x80)), "\\xed\\xa0\\x80");
  assert.equal(escapeNameBytes(bytes(0xf4, 0x90, 0x80, 0x80)), "\\xf4\\x90\\x80\\x80");
  assert.equal(escapeNameBytes(bytes(0x61, 0xe2, 0x82)), "a\\xe2\\x82");
  assert.equal(escapeNameBytes(bytes(0xe2, 0x82, 0xac, 0xff)), "€\\xff");
  assert.equal(listedName("a\\xffb"), "a\\\\xffb", "a real name that looks escaped is not");
  assert.equal(listedName("plain"), "plain");
  assert.equal(unescapeListedName("a\\x"), undefined);
  assert.equal(unescapeListedName("a\\q"), undefined);
  assert.equal(unescapeListedName("a\\x??"), undefined, "the portable storage's unknown bytes");
});

Deno.test("listed names: escaping is lossless and unambiguous for any bytes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 40 }), (name) => {
      const listed = escapeNameBytes(name);
      assert.ok(listed.isWellFormed(), "a listed name is valid Unicode");
      assert.deepEqual(unescapeListedName(listed), name, "unescaping gives the bytes back");
      const valid = (() => {
        try {
          return new TextDecoder("utf-8", { fatal: true }).decode(name);
        } catch {
          return undefined;
        }
      })();
      if (valid !== undefined && !valid.includes("\\")) assert.equal(listed, valid);
      else assert.ok(listed.includes("\\"), "an escaped name always holds a backslash");
    }),
    { numRuns: 2000 },
  );
});

/** Creates a file and a directory whose names are not UTF-8, with `sh` (Deno paths are text). */
async function makeBadNames(root: string): Promise<void> {
  const script = 'cd "$1" && printf abc > "$(printf "a\\377b")" && mkdir "$(printf "d\\376")"';
  const { code } = await new Deno.Command("sh", { args: ["-c", script, "sh", root] }).output();
  assert.equal(code, 0, "sh could create the names");
}

for (const kind of STORAGE_KINDS) {
  Deno.test({
    name:
      `listed names (${kind}): ls shows names that are not UTF-8 escaped; get and rm of them fail clearly`,
    ignore: localOnly("names that are not UTF-8 exist on a local disk only (S3 keys are UTF-8)"),
    fn: () => badNamesOnDisk(kind),
  });
}

/** The non-UTF-8 names test on one local storage. */
async function badNamesOnDisk(kind: StorageKind): Promise<void> {
  const t = await startServer({}, { storage: kind });
  const c = await t.client(TOKENS.write);
  try {
    await makeBadNames(t.root);
    await Deno.writeTextFile(`${t.root}/ok.txt`, "ok");
    await Deno.writeTextFile(`${t.root}/x\\y`, "backslash");
    const entries = new Map<string, Entry>((await c.list()).map((e) => [e.name, e]));
    assert.equal(entries.size, 4, `every entry is listed: ${[...entries.keys()]}`);
    assert.equal(entries.get("ok.txt")?.kind, "file");
    assert.equal(entries.get("x\\\\y")?.kind, "file", "a real backslash is doubled");
    const file = kind === "race-free" ? "a\\xffb" : "a\\x??b";
    const dir = kind === "race-free" ? "d\\xfe" : "d\\x??";
    assert.ok(entries.has(file), `the file is listed as ${file}`);
    assert.ok(entries.has(dir), `the directory is listed as ${dir}`);
    if (kind === "race-free") {
      assert.deepEqual(
        [entries.get(file)?.kind, entries.get(file)?.size, entries.get(dir)?.kind],
        ["file", 3, "dir"],
        "the race-free storage reads their bytes: real kind and size",
      );
      assert.deepEqual(unescapeListedName(file), bytes(0x61, 0xff, 0x62));
    } else {
      assert.equal(entries.get(file)?.kind, "other", "the portable storage cannot read them");
    }
    // A names-only listing (no stat per entry) names and kinds them exactly the same way.
    const named = await c.list(".", { namesOnly: true });
    assert.deepEqual(
      named.map((e) => [e.name, e.kind]).sort(),
      [...entries.values()].map((e) => [e.name, e.kind]).sort(),
    );
    await expectBadNameEverywhere(c, [file, dir, "x\\\\y"], /not valid UTF-8 on the server/);
    assert.equal(
      [...Deno.readDirSync(t.root)].length,
      4,
      "nothing was removed or created",
    );
  } finally {
    c.close();
    await c.closed;
    await t.close();
  }
}

Deno.test({
  name:
    "listed names (s3): a key with a backslash (made by another S3 client) is listed with it doubled; get and rm of it fail clearly",
  ignore: ignoreWithoutS3("listed_names_test.ts"),
  async fn() {
    const t = await startServer({}, { storage: "s3" });
    const c = await t.client(TOKENS.write);
    try {
      await t.files.write("ok.txt", "ok");
      await t.files.write("x\\y", "backslash");
      await t.files.mkdir("d\\e");
      const entries = new Map<string, Entry>((await c.list()).map((e) => [e.name, e]));
      assert.deepEqual([...entries.keys()].sort(), ["d\\\\e", "ok.txt", "x\\\\y"]);
      assert.deepEqual(
        [entries.get("x\\\\y")?.kind, entries.get("x\\\\y")?.size, entries.get("d\\\\e")?.kind],
        ["file", 9, "dir"],
      );
      assert.equal(unescapeListedName("x\\\\y")?.length, 3, "unescaping gives the key's name back");
      await expectBadNameEverywhere(c, ["x\\\\y", "d\\\\e"]);
      assert.deepEqual(await t.files.names(), ["d\\e", "ok.txt", "x\\y"], "nothing removed");
    } finally {
      c.close();
      await c.closed;
      await t.close();
    }
  },
});
