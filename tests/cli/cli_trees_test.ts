/**
 * Trees after an interruption (issue 11): `get -r` and `put -r` stopped midway by Ctrl-C, then
 * run again with `--resume`, move nothing twice (files already complete are checked by size and
 * SHA-256 and skipped, partial ones continue), land where the first run put them (never a second
 * copy nested inside), and leave no partial file. `--update` (and `--checksum`) skip what the
 * destination has unchanged; a plain `get` says when it discards a partial download.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  assertOk,
  assertSameTree,
  cliServer,
  exists,
  randomBytes,
  sleep,
  startFerry,
  tempDir,
  type TestServer,
  tree,
} from "../_helpers/mod.ts";

/** 24 files of 96 KiB over nested folders (2.25 MiB), and an empty directory. */
async function makeTree(root: string): Promise<number> {
  let total = 0;
  for (let i = 0; i < 24; i++) {
    const dir = `${root}/d${i % 3}${i % 4 === 0 ? "/deep" : ""}`;
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeFile(`${dir}/f${String(i).padStart(2, "0")}.bin`, randomBytes(96 * 1024));
    total += 96 * 1024;
  }
  await Deno.mkdir(`${root}/empty`, { recursive: true });
  return total;
}

/** Every file below `dir` (relative paths), complete ones and hidden partial ones apart. */
async function localState(dir: string): Promise<{ complete: string[]; partial: string[] }> {
  const complete: string[] = [];
  const partial: string[] = [];
  for (const p of await tree(dir)) {
    if (p.endsWith("/")) continue;
    const name = p.slice(p.lastIndexOf("/") + 1);
    const m = name.match(/^\.(.+)\.ferry-partial$/);
    if (m) partial.push(p.slice(0, p.length - name.length) + m[1]);
    else complete.push(p);
  }
  return { complete, partial };
}

/** Server log entries of `op` after the first `from` entries. */
function ops(ts: TestServer, op: string, from: number): { path: string; bytes: number }[] {
  return ts.logs.slice(from).filter((l) => l.op === op && l.result === "ok").map((l) => ({
    path: String(l.path),
    bytes: Number(l.bytes),
  }));
}

/** Sends Ctrl-C to `run` once `ready()` holds; returns what it printed. */
async function interruptWhen(
  run: ReturnType<typeof startFerry>,
  ready: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await ready())) {
    assert.ok(Date.now() < deadline, "the transfer did not get going");
    await sleep(20);
  }
  run.child.kill("SIGINT");
  const ended = await run.done;
  assert.equal(ended.code, 12, `Ctrl-C ends with 12: ${ended.stderr}`);
}

Deno.test("cli trees: get -r interrupted by Ctrl-C, then --resume: nothing twice, no nesting, no partials", async () => {
  await using s = await cliServer();
  const total = await makeTree(`${s.ts.root}/src`);
  const dest = `${s.cwd}/restore`; // does not exist before the first run
  const env = { FERRY_CONFIG_DIR: `${s.cwd}/config` };
  // 1 MiB/s: the 2.25 MiB tree takes over two seconds, so Ctrl-C lands midway.
  const first = startFerry(
    s.cwd,
    [...s.args(), "--limit-rate", "1M", "get", "-r", "src", dest],
    env,
  );
  await interruptWhen(
    first,
    async () => (await exists(dest)) && (await localState(dest)).complete.length >= 6,
  );

  const before = await localState(dest);
  assert.ok(before.complete.length < 24, `interrupted midway: ${before.complete.length} done`);
  const partialSizes = new Map<string, number>();
  for (const p of before.partial) {
    const at = join(
      dest,
      p.slice(0, p.lastIndexOf("/") + 1),
      `.${p.slice(p.lastIndexOf("/") + 1)}.ferry-partial`,
    );
    partialSizes.set(`src/${p}`, (await Deno.stat(at)).size);
  }

  const logFrom = s.ts.logs.length;
  const again = await s.run(["get", "-r", "--resume", "--json", "src", dest]);
  assertOk(again, "get -r --resume");
  const doc = JSON.parse(again.stdout);

  await assertSameTree(`${s.ts.root}/src`, dest);
  assert.ok(!(await exists(`${dest}/src`)), "no second copy nested inside");
  assert.deepEqual((await localState(dest)).partial, [], "no partial file left");

  // Files complete before were checked and skipped, not sent again.
  const skipped = doc.skipped.map((f: { remote: string }) => f.remote).sort();
  assert.deepEqual(skipped, before.complete.map((p) => `src/${p}`).sort());
  assert.ok(doc.skipped.every((f: { reason: string }) => f.reason === "complete"));
  const sent = ops(s.ts, "get", logFrom);
  for (const p of before.complete) {
    assert.ok(!sent.some((o) => o.path === `src/${p}`), `src/${p} was not sent again`);
  }
  // Partial ones continued from what they had.
  for (const f of doc.files as { remote: string; resumed: number; bytes: number }[]) {
    assert.equal(f.resumed, partialSizes.get(f.remote) ?? 0, `${f.remote} resumed where it was`);
    assert.equal(f.resumed + f.bytes, 96 * 1024);
  }
  assert.equal(
    sent.reduce((n, o) => n + o.bytes, 0),
    total - before.complete.length * 96 * 1024 -
      [...partialSizes.values()].reduce((a, b) => a + b, 0),
    "the second run sent exactly what was missing",
  );
});

Deno.test("cli trees: put -r interrupted by Ctrl-C, then --resume: nothing twice, no nesting", async () => {
  await using s = await cliServer();
  await using local = await tempDir("ferry-trees-put-");
  const src = `${local.path}/src`;
  await makeTree(src);
  const env = { FERRY_CONFIG_DIR: `${s.cwd}/config` };
  // "up" does not exist on the server before the first run.
  const first = startFerry(s.cwd, [...s.args(), "--limit-rate", "1M", "put", "-r", src, "up"], env);
  const upRoot = `${s.ts.root}/up`;
  await interruptWhen(
    first,
    () => Promise.resolve(s.ts.logs.filter((l) => l.op === "put" && l.result === "ok").length >= 6),
  );

  // What the server finished of the first run, once it has wound that connection down.
  const deadline = Date.now() + 10_000;
  while (!s.ts.logs.some((l) => l.event === "disconnect")) {
    assert.ok(Date.now() < deadline, "the server saw the first run's connection end");
    await sleep(20);
  }
  const done = s.ts.logs.filter((l) => l.op === "put" && l.result === "ok").map((l) =>
    String(l.path)
  );
  assert.ok(done.length < 24, `interrupted midway: ${done.length} done`);

  const logFrom = s.ts.logs.length;
  const again = await s.run(["put", "-r", "--resume", "--json", src, "up"]);
  assertOk(again, "put -r --resume");
  const doc = JSON.parse(again.stdout);
  await assertSameTree(src, upRoot);
  assert.ok(!(await exists(`${upRoot}/src`)), "no second copy nested inside");
  const skipped = doc.skipped.map((f: { remote: string }) => f.remote).sort();
  assert.deepEqual(skipped, [...done].sort(), "what the first run finished was skipped");
  const sent = ops(s.ts, "put", logFrom).map((o) => o.path);
  for (const p of done) assert.ok(!sent.includes(p), `${p} was not sent again`);
  assert.equal(sent.length + done.length, 24, "every other file was sent once");
});

Deno.test("cli trees: --update skips what is unchanged (size and time), --checksum compares SHA-256", async () => {
  await using s = await cliServer();
  await using local = await tempDir("ferry-trees-update-");
  await makeTree(`${s.ts.root}/src`);
  const dest = `${local.path}/copy`;
  assertOk(await s.run(["get", "-r", "src", dest]), "the first copy");

  // One file changes size, one is new, one changes in place with its old time put back.
  await Deno.writeFile(`${s.ts.root}/src/d0/f03.bin`, randomBytes(1000));
  await Deno.writeFile(`${s.ts.root}/src/d1/new.bin`, randomBytes(2000));
  const sneaky = `${s.ts.root}/src/d2/f02.bin`;
  const { mtime } = await Deno.stat(sneaky);
  await Deno.writeFile(sneaky, randomBytes(96 * 1024));
  await Deno.utime(sneaky, mtime!, mtime!);
  await Deno.utime(`${dest}/d2/f02.bin`, mtime!, mtime!);

  const update = await s.run(["get", "-r", "--update", "--json", "src", dest]);
  assertOk(update, "get -r --update");
  const doc = JSON.parse(update.stdout);
  assert.deepEqual(doc.files.map((f: { remote: string }) => f.remote).sort(), [
    "src/d0/f03.bin",
    "src/d1/new.bin",
  ]);
  assert.equal(doc.skipped.length, 23, "the rest was unchanged");
  assert.ok(!(await exists(`${dest}/src`)), "the copy is updated in place, not nested");
  assert.deepEqual(
    await Deno.readFile(`${dest}/d0/f03.bin`),
    await Deno.readFile(`${s.ts.root}/src/d0/f03.bin`),
  );

  const checksum = await s.run(["get", "-r", "--update", "--checksum", "--json", "src", dest]);
  assertOk(checksum, "get -r --update --checksum");
  assert.deepEqual(
    JSON.parse(checksum.stdout).files.map((f: { remote: string }) => f.remote),
    ["src/d2/f02.bin"],
    "same size and time, other bytes: only SHA-256 sees it",
  );
  await assertSameTree(`${s.ts.root}/src`, dest);

  // put -r --update: only the local change goes up.
  assertOk(await s.run(["put", "-r", dest, "mirror"]), "put -r");
  await Deno.writeFile(`${dest}/d1/new.bin`, randomBytes(3000));
  const from = s.ts.logs.length;
  const put = await s.run(["put", "-r", "--update", "--json", dest, "mirror"]);
  assertOk(put, "put -r --update");
  assert.deepEqual(ops(s.ts, "put", from).map((o) => o.path), ["mirror/d1/new.bin"]);
  await assertSameTree(dest, `${s.ts.root}/mirror`);
});

Deno.test("cli trees: a plain get that discards a partial download says so in one line", async () => {
  await using s = await cliServer();
  await Deno.writeFile(`${s.ts.root}/file.bin`, randomBytes(5000));
  await Deno.writeFile(`${s.cwd}/.file.bin.ferry-partial`, randomBytes(1234));
  const run = await s.run(["get", "file.bin"]);
  assertOk(run, "get over a partial");
  assert.equal(
    run.stderr,
    "ferry: discarding the partial download of file.bin (1.2 KiB); --resume would continue it\n",
  );
  assert.deepEqual(
    await Deno.readFile(`${s.cwd}/file.bin`),
    await Deno.readFile(`${s.ts.root}/file.bin`),
  );
  assert.ok(!(await exists(`${s.cwd}/.file.bin.ferry-partial`)));
});
