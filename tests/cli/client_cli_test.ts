/**
 * The `ferry` CLI as a user meets it (issue 4): progress bars on a terminal, recursive get/put
 * of directory trees, -p, wildcards, mkdir/mv/stat/rm, --json documents, batch files over one
 * connection, profiles. The CLI runs as a subprocess with the `client` task's permissions
 * against an in-process server whose log the tests read.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  assertFails,
  assertOk,
  assertSameStored,
  assertSameTree,
  checksumHex,
  cliServer,
  exists,
  ferry,
  ferryTty,
  hasScript,
  randomBytes,
  relay,
  sha256Hex,
  tempDir,
  TEST_CHECKSUM,
  TOKENS,
  tree,
} from "../_helpers/mod.ts";

/** 300 files over nested folders, plus empty directories. */
async function makeTree(root: string): Promise<void> {
  await Deno.mkdir(root, { recursive: true });
  for (let i = 0; i < 300; i++) {
    const dir = `${root}/d${i % 5}/sub${i % 3}${i % 7 === 0 ? "/deep/er" : ""}`;
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeFile(`${dir}/f${i}.bin`, randomBytes(i * 37 % 5000));
  }
  await Deno.mkdir(`${root}/empty`);
  await Deno.mkdir(`${root}/d1/also-empty/inner-empty`, { recursive: true });
}

Deno.test("client cli: a progress bar on a terminal, one summary line when piped", {
  ignore: !hasScript(),
}, async () => {
  await using s = await cliServer();
  const data = randomBytes(8 * 1024 * 1024);
  await s.ts.files.write("movie.bin", data);
  // A relay at 8 MiB/s makes the transfer last about a second, whatever the machine.
  await using slow = relay(s.ts.port, { bytesPerSecond: 8 * 1024 * 1024 });

  const tty = await ferryTty(s.cwd, [...s.args(slow.port), "get", "movie.bin", "tty.bin"], {
    FERRY_CONFIG_DIR: `${s.cwd}/config`,
  });
  assert.equal(tty.code, 0, tty.stdout);
  const screen = tty.stdout;
  assert.match(screen, /movie\.bin +\d{1,3}% \[[#-]+\]/, "a bar with the name and a percent");
  assert.match(screen, /\d+\.\d (?:KiB|MiB)\/s/, "a speed");
  assert.match(screen, /ETA \d+:\d\d/, "an ETA");
  // deno-lint-ignore no-control-regex
  assert.match(screen, /\x1b\[J/, "the bar is erased before redrawing");
  assert.match(screen, /get movie\.bin -> tty\.bin: 8\.0 MiB in [\d.]+ s/, "the summary");
  assert.deepEqual(await Deno.readFile(`${s.cwd}/tty.bin`), data);

  const piped = await s.run(["get", "movie.bin", "piped.bin"]);
  assertOk(piped, "piped get");
  assert.equal(piped.stderr, "", "nothing on stderr when piped");
  const lines = piped.stdout.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one summary line: ${piped.stdout}`);
  assert.match(
    lines[0],
    new RegExp(
      `^get movie\\.bin -> piped\\.bin: 8\\.0 MiB in .*, ${TEST_CHECKSUM} ${await checksumHex(
        data,
      )}$`,
    ),
  );
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(piped.stdout, /\r|\x1b/, "no terminal control characters");

  const quiet = await s.run(["get", "-q", "movie.bin", "quiet.bin"]);
  assertOk(quiet, "quiet get");
  assert.equal(quiet.stdout + quiet.stderr, "", "--quiet prints nothing");
  assert.deepEqual(await Deno.readFile(`${s.cwd}/quiet.bin`), data);
});

Deno.test("client cli: a terminal shows one line per file of a many-file transfer", {
  ignore: !hasScript(),
}, async () => {
  await using s = await cliServer();
  await s.ts.files.mkdir("many");
  for (let i = 0; i < 5; i++) {
    await s.ts.files.write(`many/f${i}.bin`, randomBytes(300_000));
  }
  await using slow = relay(s.ts.port, { bytesPerSecond: 1024 * 1024 });
  const run = await ferryTty(s.cwd, [...s.args(slow.port), "get", "-r", "many", "out"], {
    FERRY_CONFIG_DIR: `${s.cwd}/config`,
  });
  assert.equal(run.code, 0, run.stdout);
  for (let i = 0; i < 5; i++) {
    assert.match(
      run.stdout,
      new RegExp(`many/f${i}\\.bin +100% +293\\.0 KiB`),
      `finished line ${i}`,
    );
  }
  assert.match(run.stdout, /\d\/5 files/, "an overall line");
  assert.match(run.stdout, /get -r many -> out: 5 files, 1 directories/);
});

Deno.test("client cli: put -r and get -r copy a tree of 300 files with empty directories; -p keeps times", async () => {
  await using s = await cliServer();
  await using local = await tempDir("ferry-cli-tree-");
  const src = `${local.path}/src`;
  await makeTree(src);
  const old = new Date("2020-02-02T12:34:56Z");
  await Deno.utime(`${src}/d1/sub1/f1.bin`, old, old);
  await Deno.utime(`${src}/d3/sub0/f123.bin`, old, old);

  // put -r without -p: the server's clock sets the times (like scp).
  const put = await s.run(["put", "-r", src, "up"]);
  assertOk(put, "put -r");
  assert.match(put.stdout, /^put -r .* -> up: 300 files, \d+ directories, .* in [\d.]+ s/);
  await assertSameStored(src, s.ts.files, "up");
  const fresh = (await s.ts.files.mtime("up/d1/sub1/f1.bin"))!;
  assert.ok(Math.abs(fresh - Date.now()) < 60_000, `mtime not preserved: ${fresh}`);

  // put -r -p into an existing directory: lands under the source's name, times kept.
  await s.ts.files.mkdir("into");
  assertOk(await s.run(["put", "-r", "-p", src, "into"]), "put -r -p");
  await assertSameStored(src, s.ts.files, "into/src");
  assert.equal(await s.ts.files.mtime("into/src/d1/sub1/f1.bin"), old.getTime());

  // get -r -p: the whole tree back, times of files and directories kept.
  const dirTime = new Date("2021-03-04T05:06:07Z");
  await s.ts.files.setMtime("into/src/empty", dirTime);
  const get = await s.run(["get", "-r", "-p", "into/src", `${local.path}/back`]);
  assertOk(get, "get -r -p");
  await assertSameTree(src, `${local.path}/back`);
  assert.equal(
    (await Deno.stat(`${local.path}/back/d3/sub0/f123.bin`)).mtime!.getTime(),
    old.getTime(),
  );
  assert.equal((await Deno.stat(`${local.path}/back/empty`)).mtime!.getTime(), dirTime.getTime());

  // get -r without -p into an existing directory: under the remote name, fresh times; --json
  // prints one document describing every file.
  await Deno.mkdir(`${local.path}/existing`);
  const json = await s.run(["get", "-r", "--json", "up", `${local.path}/existing`]);
  assertOk(json, "get -r --json into a directory");
  await assertSameTree(src, `${local.path}/existing/up`);
  const t = (await Deno.stat(`${local.path}/existing/up/d1/sub1/f1.bin`)).mtime!;
  assert.ok(Math.abs(t.getTime() - Date.now()) < 60_000);

  // Many files moved over the one connection per command.
  const connects = s.ts.logs.filter((l) => l.event === "connect").length;
  assert.equal(connects, 4, "one connection per command");

  const doc = JSON.parse(json.stdout);
  assert.equal(doc.files.length, 300);
  assert.equal(doc.directories, (await tree(src)).filter((p) => p.endsWith("/")).length + 1);
  assert.deepEqual(doc.failed, []);
  const f = doc.files.find((x: { remote: string }) => x.remote === "up/d1/sub1/f1.bin");
  assert.equal(f.algorithm, TEST_CHECKSUM);
  assert.equal(f.checksum, await checksumHex(await Deno.readFile(`${src}/d1/sub1/f1.bin`)));
});

Deno.test("client cli: wildcards in remote paths", async () => {
  await using s = await cliServer();
  await s.ts.files.mkdir("logs");
  for (const n of ["a1.txt", "a2.txt", "b.txt", "c.log", ".hidden.txt"]) {
    await s.ts.files.write(`logs/${n}`, `log ${n}\n`);
  }
  await s.ts.files.mkdir("logs/dir.txt");

  const get = await s.run(["get", "logs/*.txt", "out/"]);
  assert.equal(get.code, 6, "the directory matched without -r is reported");
  assert.match(get.stderr, /logs\/dir\.txt.*use -r/);
  assert.deepEqual(await tree(`${s.cwd}/out`), ["a1.txt", "a2.txt", "b.txt"]);
  assert.equal(await Deno.readTextFile(`${s.cwd}/out/b.txt`), "log b.txt\n");

  assertOk(await s.run(["get", "logs/a?.txt", "logs/[bc].*", "out2"]), "? and [..]");
  assert.deepEqual(await tree(`${s.cwd}/out2`), ["a1.txt", "a2.txt", "b.txt", "c.log"]);

  assertOk(await s.run(["get", "logs/[!a]*.log", "one.log"]), "one match to a file name");
  assert.equal(await Deno.readTextFile(`${s.cwd}/one.log`), "log c.log\n");

  const none = await s.run(["get", "logs/*.zip", "out3/"]);
  assertFails(none, 6, "NOT_FOUND", "no match");
  assert.match(none.stderr, /no remote file matches logs\/\*\.zip/);

  const ls = await s.run(["ls", "logs/a*"]);
  assertOk(ls, "ls with a wildcard");
  assert.equal(ls.stdout, "a1.txt\na2.txt\n");

  assertOk(await s.run(["rm", "logs/a*.txt"]), "rm with a wildcard");
  assert.ok(!(await s.ts.files.exists("logs/a1.txt")));
  assert.ok(await s.ts.files.exists("logs/b.txt"));

  assertFails(await s.run(["get", "l*/b.txt"]), 2, "USAGE", "wildcard in a directory part");
});

Deno.test("client cli: mkdir, mv, stat, rm -r", async () => {
  await using s = await cliServer();

  assertFails(await s.run(["mkdir", "a/b/c"]), 6, "NOT_FOUND", "mkdir without -p");
  assertOk(await s.run(["mkdir", "-p", "a/b/c"]), "mkdir -p");
  assert.equal(await s.ts.files.kind("a/b/c"), "dir");
  assertOk(await s.run(["mkdir", "-p", "a/b/c"]), "mkdir -p of an existing directory");
  assertFails(await s.run(["mkdir", "a"]), 6, "ALREADY_EXISTS", "mkdir of an existing directory");
  assertOk(await s.run(["mkdir", "x", "y"]), "mkdir of two");

  await s.ts.files.write("one.txt", "one\n");
  await s.ts.files.write("two.txt", "two\n");
  assertOk(await s.run(["mv", "one.txt", "uno.txt"]), "mv");
  assert.equal(await s.ts.files.readText("uno.txt"), "one\n");
  const clash = await s.run(["mv", "uno.txt", "two.txt"]);
  assertFails(clash, 6, "ALREADY_EXISTS", "mv onto a file");
  assert.match(clash.stderr, /--force/);
  assertOk(await s.run(["mv", "--force", "uno.txt", "two.txt"]), "mv --force");
  assert.equal(await s.ts.files.readText("two.txt"), "one\n");
  assertOk(await s.run(["mv", "two.txt", "x"]), "mv into a directory");
  assert.equal(await s.ts.files.readText("x/two.txt"), "one\n");

  const stat = await s.run(["stat", "x/two.txt"]);
  assertOk(stat, "stat");
  assert.match(stat.stdout, /kind: file/);
  assert.match(stat.stdout, /size: 4 /);
  assert.match(stat.stdout, /mtime: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d/);
  assert.match(stat.stdout, new RegExp(`sha256: ${sha256Hex(new TextEncoder().encode("one\n"))}`));
  const statJson = await s.run(["stat", "--json", "a"]);
  assertOk(statJson, "stat --json");
  const doc = JSON.parse(statJson.stdout);
  assert.equal(doc.kind, "dir");
  assert.equal(doc.sha256, null);
  assert.equal(typeof doc.mtime, "number");
  assertFails(await s.run(["stat", "nope"]), 6, "NOT_FOUND", "stat of nothing");

  await s.ts.files.write("a/b/c/f.txt", "f");
  await s.ts.files.write("a/g.txt", "g");
  const refused = await s.run(["rm", "-r", "a"]);
  assertFails(refused, 2, "USAGE", "rm -r without --yes and no terminal");
  assert.match(refused.stderr, /--yes/);
  assert.ok(await s.ts.files.exists("a/b/c/f.txt"), "nothing was removed");
  assertFails(await s.run(["rm", "a"]), 6, "NOT_EMPTY", "rm of a full directory");
  assertOk(await s.run(["rm", "-r", "--yes", "a"]), "rm -r --yes");
  assert.ok(!(await s.ts.files.exists("a")));
  assertFails(await s.run(["rm", "-r", "-y", "."]), 2, "USAGE", "rm -r of the root");
  assert.ok(await s.ts.files.exists("x/two.txt"));
});

Deno.test("client cli: rm -r asks on a terminal", { ignore: !hasScript() }, async () => {
  await using s = await cliServer();
  await s.ts.files.mkdir("d");
  await s.ts.files.mkdir("d/e");
  await s.ts.files.write("d/e/f.txt", "f");
  const env = { FERRY_CONFIG_DIR: `${s.cwd}/config` };
  const no = await ferryTty(s.cwd, [...s.args(), "rm", "-r", "d"], env, "n\n");
  assert.equal(no.code, 12, no.stdout);
  assert.match(no.stdout, /remove d and everything in it \(1 files, 1 directories\)\? \[y\/N\]/);
  assert.ok(await s.ts.files.exists("d/e/f.txt"));
  const yes = await ferryTty(s.cwd, [...s.args(), "rm", "-r", "d"], env, "y\n");
  assert.equal(yes.code, 0, yes.stdout);
  assert.ok(!(await s.ts.files.exists("d")));
});

Deno.test("client cli: --json prints one document per command", async () => {
  await using s = await cliServer();
  const content = new TextEncoder().encode("json me\n");
  await Deno.writeFile(`${s.cwd}/up.txt`, content);
  // The digests the documents must report, computed apart from the client (hash-wasm from npm
  // for XXH3-128, the default; WebCrypto, not node, for SHA-256 with --checksum-choice).
  const expected = await checksumHex(content);
  const expectedSha256 = new Uint8Array(await crypto.subtle.digest("SHA-256", content)).toHex();
  const put = await s.run(["put", "--json", "up.txt", "j.txt"]);
  assertOk(put, "put --json");
  const p = JSON.parse(put.stdout);
  assert.equal(p.files.length, 1);
  assert.deepEqual(Object.keys(p.files[0]).sort(), [
    "algorithm",
    "bytes",
    "checksum",
    "local",
    "remote",
    "resumed",
  ]);
  assert.equal(p.files[0].remote, "j.txt");
  assert.equal(p.bytes, 8);
  assert.equal(p.files[0].algorithm, TEST_CHECKSUM);
  assert.equal(p.files[0].checksum, expected, "put reports the checksum of the bytes");
  assert.deepEqual(await s.ts.files.read("j.txt"), content, "the server has the bytes");
  const get = await s.run(["get", "--json", "j.txt", "back.txt"]);
  assertOk(get, "get --json");
  const g = JSON.parse(get.stdout);
  assert.equal(g.files[0].checksum, p.files[0].checksum);
  assert.equal(g.files[0].checksum, expected, "get reports the checksum of the bytes");
  const sha = await s.run(["--checksum-choice", "sha256", "get", "--json", "j.txt", "sha.txt"]);
  assertOk(sha, "--checksum-choice sha256 get --json");
  const s256 = JSON.parse(sha.stdout).files[0];
  assert.deepEqual([s256.algorithm, s256.checksum], ["sha256", expectedSha256]);
  assert.deepEqual(await Deno.readFile(`${s.cwd}/sha.txt`), content, "sha.txt has the bytes");
  assert.deepEqual(await Deno.readFile(`${s.cwd}/back.txt`), content, "back.txt has the bytes");
  assert.equal(typeof g.seconds, "number");
  const ls = JSON.parse((await s.run(["ls", "-l", "--json"])).stdout);
  assert.deepEqual(ls.map((e: { name: string }) => e.name), ["j.txt"]);
});

Deno.test("client cli: a batch of 20 commands runs over one connection; - lets a line fail", async () => {
  await using s = await cliServer();
  await Deno.writeTextFile(`${s.cwd}/a.txt`, "batch a\n");
  const lines = [
    "# a batch file",
    "mkdir -p batch/in",
    "",
    "put a.txt batch/a.txt",
    "put a.txt 'batch/in/with space.txt'",
    "-rm batch/missing.txt",
    "ls batch",
    "ls -l batch/in",
    "stat batch/a.txt",
    "mv batch/a.txt batch/b.txt",
    "get batch/b.txt got.txt",
    "mkdir batch/more",
    "put a.txt batch/more/c.txt",
    "get -r batch got-tree",
    "-get batch/none.txt",
    "mv batch/more/c.txt batch/more/d.txt",
    "rm batch/more/d.txt",
    "ls batch/more",
    "mkdir batch/last",
    "stat batch/in",
    "ls",
    "rm batch/last",
  ];
  assert.equal(lines.filter((l) => l.trim() !== "" && !l.startsWith("#")).length, 20);
  await Deno.writeTextFile(`${s.cwd}/cmds.txt`, lines.join("\n") + "\n");
  const before = s.ts.logs.filter((l) => l.event === "connect").length;
  const run = await s.run(["-b", "cmds.txt"]);
  assertOk(run, "batch");
  assert.equal(s.ts.logs.filter((l) => l.event === "connect").length - before, 1, "one connection");
  assert.match(run.stderr, /cmds\.txt:6 \(ignored\): .*NOT_FOUND/);
  assert.match(run.stderr, /cmds\.txt:15 \(ignored\): .*NOT_FOUND/);
  assert.equal(await Deno.readTextFile(`${s.cwd}/got.txt`), "batch a\n");
  assert.equal(await s.ts.files.readText("batch/in/with space.txt"), "batch a\n");
  assert.ok(await exists(`${s.cwd}/got-tree/in/with space.txt`));
  assert.ok(!(await s.ts.files.exists("batch/last")));

  // Without the -, a failure stops the batch with its exit status.
  await Deno.writeTextFile(
    `${s.cwd}/stop.txt`,
    "mkdir s1\nget nothing-here.txt\nmkdir s2\n",
  );
  const stop = await s.run(["-b", "stop.txt"]);
  assertFails(stop, 6, "NOT_FOUND", "a failing batch line");
  assert.match(stop.stderr, /^ferry: stop\.txt:2: /);
  assert.ok(await s.ts.files.exists("s1"));
  assert.ok(!(await s.ts.files.exists("s2")), "the batch stopped at the failure");

  // A typo anywhere is found before anything runs.
  await Deno.writeTextFile(`${s.cwd}/typo.txt`, "mkdir t1\nfrobnicate\n");
  assertFails(await s.run(["-b", "typo.txt"]), 2, "USAGE", "typo in a batch");
  assert.ok(!(await s.ts.files.exists("t1")));

  // -b - reads standard input.
  const stdin = await s.run(["-b", "-", "--json"], { stdin: "mkdir from-stdin\nls\n" });
  assertOk(stdin, "-b -");
  assert.ok(JSON.parse(stdin.stdout).some((e: { name: string }) => e.name === "from-stdin"));
});

Deno.test("client cli: --profile supplies host, port, CA and token; flags override it", async () => {
  await using s = await cliServer();
  const config = `${s.cwd}/config`;
  await Deno.mkdir(config);
  await Deno.writeTextFile(`${config}/work-token`, `${TOKENS.read}\n`);
  await Deno.writeTextFile(
    `${config}/profiles.json`,
    JSON.stringify({
      work: { host: "127.0.0.1", port: s.ts.port, ca: `${s.cwd}/ca.pem`, tokenFile: "work-token" },
    }),
  );
  await s.ts.files.write("p.txt", "profile\n");
  const env = { FERRY_CONFIG_DIR: config };
  const ls = await ferry(s.cwd, ["--profile", "work", "ls"], env);
  assertOk(ls, "ls with a profile");
  assert.equal(ls.stdout, "p.txt\n");
  // The profile's token is read-only.
  assertFails(await ferry(s.cwd, ["--profile", "work", "mkdir", "x"], env), 5, "FORBIDDEN", "ro");
  // A flag beats the profile.
  assertOk(
    await ferry(s.cwd, ["--profile", "work", "--token", TOKENS.write, "mkdir", "x"], env),
    "--token overrides",
  );
  assertFails(
    await ferry(s.cwd, ["--profile", "nope", "ls"], env),
    2,
    "USAGE",
    "an unknown profile",
  );
});
