/**
 * Names and times the client cannot carry as they are (issue 10): `-r` never skips a name in
 * silence (one that is not valid UTF-8 is reported, escaped, and the command fails once the rest
 * is copied); names are normalised to NFC once, on the client, before they are sent (macOS gives
 * NFD); the library refuses a lone surrogate instead of sending U+FFFD; a modification time the
 * protocol cannot carry is refused, not stored as 1970.
 *
 * @module
 */

import assert from "node:assert/strict";
import { assertFails, assertOk, cliServer, exists, namesIn, startServer } from "../_helpers/mod.ts";
import { FerryError } from "../../mod.ts";

/** Creates a file whose name holds the byte 0xFF (not UTF-8) in `dir`, through Python. */
async function makeNonUtf8File(dir: string, prefix: string): Promise<void> {
  const out = await new Deno.Command("python3", {
    args: [
      "-c",
      "import sys, os; open(os.fsencode(sys.argv[1]) + b'/' + sys.argv[2].encode() + b'\\xff.txt', 'wb').write(b'x')",
      dir,
      prefix,
    ],
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
}

function hasPython(): boolean {
  try {
    return new Deno.Command("python3", { args: ["-c", "pass"] }).outputSync().success;
  } catch {
    return false;
  }
}

Deno.test({
  name:
    "cli names: put -r reports a local name that is not UTF-8 (escaped) and fails; the rest is copied",
  ignore: !hasPython() || Deno.build.os !== "linux",
  async fn() {
    await using s = await cliServer();
    await Deno.mkdir(`${s.cwd}/up/sub`, { recursive: true });
    await Deno.writeTextFile(`${s.cwd}/up/fine.txt`, "fine\n");
    await Deno.writeTextFile(`${s.cwd}/up/sub/also.txt`, "also\n");
    await makeNonUtf8File(`${s.cwd}/up/sub`, "bad");
    const run = await s.run(["put", "-r", "up"]);
    assert.notEqual(run.code, 0, `a name it cannot carry fails the command: ${run.stderr}`);
    assert.equal(run.code, 7, "BAD_NAME");
    assert.match(run.stderr, /up\/sub\/bad\\ufffd\.txt: the name is not valid UTF-8/);
    assert.doesNotMatch(run.stderr, /\ufffd/, "the name is escaped, not printed raw");
    assert.equal(await Deno.readTextFile(`${s.ts.root}/up/fine.txt`), "fine\n");
    assert.equal(await Deno.readTextFile(`${s.ts.root}/up/sub/also.txt`), "also\n");
    assert.deepEqual(await namesIn(`${s.ts.root}/up/sub`), ["also.txt"]);
  },
});

Deno.test({
  // The server lists a name that is not UTF-8 escaped (PROTOCOL.md §7); the CLI reports it.
  name: "cli names: get -r reports a remote name that is not UTF-8 and fails; the rest is copied",
  ignore: !hasPython() || Deno.build.os !== "linux",
  async fn() {
    await using s = await cliServer();
    await Deno.mkdir(`${s.ts.root}/t`);
    await Deno.writeTextFile(`${s.ts.root}/t/ok.txt`, "ok\n");
    await makeNonUtf8File(`${s.ts.root}/t`, "bad");
    const run = await s.run(["get", "-r", "t", "out"]);
    assert.notEqual(run.code, 0, `a name the server cannot carry fails get -r: ${run.stderr}`);
    assert.match(run.stderr, /bad\\(?:xff|ufffd)\.txt/, "the name, escaped");
    assert.equal(await Deno.readTextFile(`${s.cwd}/out/ok.txt`), "ok\n");
  },
});

Deno.test("cli names: NFD names (as macOS gives them) are uploaded in NFC", async () => {
  await using s = await cliServer();
  const nfd = "cafe\u0301"; // "café" decomposed
  const nfc = nfd.normalize("NFC");
  assert.notEqual(nfd, nfc);
  await Deno.mkdir(`${s.cwd}/tree/${nfd}-dir`, { recursive: true });
  await Deno.writeTextFile(`${s.cwd}/tree/${nfd}-dir/${nfd}.txt`, "in a tree\n");
  await Deno.writeTextFile(`${s.cwd}/${nfd}.txt`, "alone\n");
  assertOk(await s.run(["put", "-r", "tree"]), "put -r of NFD names");
  assert.equal(await Deno.readTextFile(`${s.ts.root}/tree/${nfc}-dir/${nfc}.txt`), "in a tree\n");
  assert.deepEqual(await namesIn(`${s.ts.root}/tree`), [`${nfc}-dir`]);
  assertOk(await s.run(["put", `${nfd}.txt`]), "put of an NFD name");
  assertOk(await s.run(["put", `${nfd}.txt`, `copy-${nfd}.txt`]), "put to an NFD remote name");
  assert.equal(await Deno.readTextFile(`${s.ts.root}/${nfc}.txt`), "alone\n");
  assert.equal(await Deno.readTextFile(`${s.ts.root}/copy-${nfc}.txt`), "alone\n");
  // Typed the other way round too: get with an NFD remote path finds the NFC file.
  assertOk(await s.run(["get", `${nfd}.txt`, "back.txt"]), "get by an NFD name");
  assert.equal(await Deno.readTextFile(`${s.cwd}/back.txt`), "alone\n");
});

Deno.test("cli names: two local names that are one in NFC are reported, not merged", async () => {
  await using s = await cliServer();
  const nfd = "e\u0301.txt";
  const nfc = nfd.normalize("NFC");
  await Deno.mkdir(`${s.cwd}/twins`);
  await Deno.writeTextFile(`${s.cwd}/twins/${nfc}`, "composed\n");
  try {
    await Deno.writeTextFile(`${s.cwd}/twins/${nfd}`, "decomposed\n");
  } catch {
    return; // a file system that normalises names (macOS) cannot hold both
  }
  if ((await namesIn(`${s.cwd}/twins`)).length !== 2) return;
  const run = await s.run(["put", "-r", "twins"]);
  assert.equal(run.code, 7, `NFC twins fail with BAD_NAME: ${run.stderr}`);
  assert.match(run.stderr, /are one name once normalised to NFC; rename one \[BAD_NAME\]\n$/);
  assert.deepEqual(await namesIn(`${s.ts.root}/twins`), [nfc], "one of them, not a mix");
});

Deno.test("client names: the library refuses a lone surrogate before sending anything", async () => {
  const ts = await startServer();
  try {
    const client = await ts.client();
    try {
      const before = ts.logs.length;
      for (
        const attempt of [
          () => client.upload(new Uint8Array([1]), "lone\ud800.txt"),
          () => client.download("lone\udc00.txt", `${ts.outside}/x`),
          () => client.mkdir("dir\ud800"),
          () => client.stat("\ud800"),
          () => client.list("x\udfff"),
          () => client.rename("ok.txt", "bad\ud800"),
          () => client.remove("bad\ud800"),
          () => client.hash("bad\ud800"),
        ]
      ) {
        await assert.rejects(
          attempt(),
          (e) =>
            e instanceof FerryError && e.code === "BAD_NAME" && /lone surrogate/.test(e.message),
        );
      }
      assert.equal(ts.logs.length, before, "nothing reached the server");
      assert.deepEqual(await namesIn(ts.root), [], "no file named with U+FFFD");
      assert.ok(!(await exists(`${ts.outside}/x`)));
    } finally {
      client.close();
      await client.closed;
    }
  } finally {
    await ts.close();
  }
});

Deno.test("cli names: a modification time before 1970 is refused with -p, not mangled", async () => {
  await using s = await cliServer();
  await Deno.writeTextFile(`${s.cwd}/old.txt`, "old\n");
  const sixties = new Date("1960-01-01T00:00:00Z");
  await Deno.utime(`${s.cwd}/old.txt`, sixties, sixties);
  const run = await s.run(["put", "-p", "old.txt"]);
  assertFails(run, 7, "BAD_ARGUMENT", "put -p of a 1960 file");
  assert.match(
    run.stderr,
    /the modification time of old\.txt \(1960-01-01T00:00:00\.000Z\) cannot be kept/,
  );
  assert.match(run.stderr, /without -p/);
  assert.ok(!(await exists(`${s.ts.root}/old.txt`)), "nothing stored");
  // Without -p the server's clock sets the time: nothing to refuse.
  assertOk(await s.run(["put", "old.txt"]), "put without -p");
  const client = await s.ts.client();
  try {
    await assert.rejects(
      client.upload(new Uint8Array([1]), "neg.bin", { mtime: new Date(-1) }),
      (e) => e instanceof FerryError && e.code === "BAD_ARGUMENT",
    );
    await assert.rejects(
      client.upload(new Uint8Array([1]), "nan.bin", { mtime: new Date(NaN) }),
      (e) => e instanceof FerryError && e.code === "BAD_ARGUMENT",
    );
  } finally {
    client.close();
    await client.closed;
  }
  assert.ok(!(await exists(`${s.ts.root}/neg.bin`)));
});
