/**
 * Tests for server/storage/beneath/: race-free primitives below the data root (issue 10,
 * "Symlink race"; catalogue rows 10, 17-20, 22).
 *
 * The race test runs every primitive on `d/f` while a Worker exchanges the real directory
 * `ROOT/d` with a symbolic link to a directory outside (`renameat2(RENAME_EXCHANGE)` in a
 * loop), and checks that nothing outside was read, listed, created, changed or removed. A
 * positive control runs the plain path-based way (check the real path, then open by path)
 * under the same race and must be caught escaping, so the detector can fail.
 *
 * Run: deno test --allow-read --allow-write --allow-ffi tests/server/storage/storage_beneath_test.ts
 * Longer race by hand: FERRY_RACE_SECONDS=60 (same command, plus --allow-env).
 */

import assert from "node:assert/strict";
import { type ErrorCode, FerryError } from "../../../protocol/errors.ts";
import {
  type BeneathDirectory,
  BeneathRoot,
  checkSupport,
  type FileStat,
  SYNC_IO_MAX,
} from "../../../server/storage/beneath/mod.ts";
import { parseDirents } from "../../../server/storage/beneath/dirents.ts";
import { ERRNO, errnoCode, errnoError } from "../../../server/storage/beneath/errno.ts";
import { SymlinkRace } from "./symlink_race.ts";

const support = checkSupport();
const ignore = !support.supported;
if (ignore) console.warn(`storage_beneath_test: skipped, ${support.reason}`);

const HIDDEN_PREFIX = ".ferry-";
const isHidden = (name: string) => name.toLowerCase().startsWith(HIDDEN_PREFIX);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Seconds the race test runs (FERRY_RACE_SECONDS, default 3). */
function raceSeconds(): number {
  const granted = Deno.permissions.querySync({ name: "env", variable: "FERRY_RACE_SECONDS" });
  const value = granted.state === "granted" ? Deno.env.get("FERRY_RACE_SECONDS") : undefined;
  const seconds = Number(value ?? "3");
  return Number.isFinite(seconds) && seconds > 0 ? seconds : 3;
}

/** Asserts that `fn` throws (or rejects with) a FerryError with `code`; returns it. */
async function assertCode(code: ErrorCode, fn: () => unknown): Promise<FerryError> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof FerryError, `expected a FerryError, got ${err}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

async function readAll(root: BeneathRoot, components: string[]): Promise<string> {
  const file = root.openFile(components);
  try {
    const chunks: Uint8Array[] = [];
    for (;;) {
      const buf = new Uint8Array(4096);
      const n = await file.read(buf);
      if (n === null) break;
      chunks.push(buf.subarray(0, n));
    }
    return decoder.decode(new Uint8Array(chunks.flatMap((c) => [...c])));
  } finally {
    await file.close();
  }
}

async function names(root: BeneathRoot, components: string[]): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of root.list(components)) out.push(`${entry.name}:${entry.stat.kind}`);
  return out.sort();
}

/** A fresh base directory with `root/` and `outside/` (real paths). */
async function fixture(): Promise<{ base: string; root: string; outside: string }> {
  const base = await Deno.realPath(await Deno.makeTempDir({ prefix: "ferry-beneath-" }));
  await Deno.mkdir(`${base}/root/d`, { recursive: true });
  await Deno.mkdir(`${base}/outside`);
  await Deno.writeTextFile(`${base}/root/d/f`, "inside\n");
  await Deno.writeTextFile(`${base}/outside/canary`, "OUTSIDE-CANARY\n");
  return { base, root: `${base}/root`, outside: `${base}/outside` };
}

// --- pure parts ------------------------------------------------------------------------------

Deno.test("beneath: errno mapping (EXDEV is an escape on lookup, a device move on rename)", () => {
  assert.equal(errnoCode(ERRNO.EXDEV, "lookup"), "OUTSIDE_ROOT");
  assert.equal(errnoCode(ERRNO.EXDEV, "rename"), "BAD_ARGUMENT");
  assert.equal(errnoCode(ERRNO.ENOENT, "other"), "NOT_FOUND");
  assert.equal(errnoCode(ERRNO.ENOTDIR, "lookup"), "NOT_A_DIRECTORY");
  assert.equal(errnoCode(ERRNO.EISDIR, "other"), "IS_A_DIRECTORY");
  assert.equal(errnoCode(ERRNO.EEXIST, "other"), "ALREADY_EXISTS");
  assert.equal(errnoCode(ERRNO.ENAMETOOLONG, "other"), "NAME_TOO_LONG");
  assert.equal(errnoCode(ERRNO.ENOSPC, "other"), "NO_SPACE");
  assert.equal(errnoCode(ERRNO.EDQUOT, "other"), "NO_SPACE");
  assert.equal(errnoCode(ERRNO.EACCES, "other"), "PERMISSION_DENIED");
  assert.equal(errnoCode(ERRNO.ENOTEMPTY, "other"), "NOT_EMPTY");
  assert.equal(errnoCode(ERRNO.ELOOP, "lookup"), "OUTSIDE_ROOT");
  assert.equal(errnoCode(9999, "other"), "INTERNAL");
  const e = errnoError(ERRNO.EIO, "other", `"a/b"`);
  assert.equal(e.code, "INTERNAL");
  assert.equal(e.message, `"a/b": file system error (EIO)`);
});

Deno.test("beneath: parseDirents drops . and .., skips invalid UTF-8, refuses corrupt records", () => {
  const records: Uint8Array[] = [];
  const record = (name: Uint8Array, type: number) => {
    const reclen = Math.ceil((19 + name.length + 1) / 8) * 8;
    const rec = new Uint8Array(reclen);
    const view = new DataView(rec.buffer);
    view.setBigUint64(0, 42n, true);
    view.setUint16(16, reclen, true);
    rec[18] = type;
    rec.set(name, 19);
    records.push(rec);
  };
  record(encoder.encode("."), 4);
  record(encoder.encode(".."), 4);
  record(encoder.encode("plain.txt"), 8);
  record(new Uint8Array([0x61, 0xff, 0x62]), 8);
  record(encoder.encode("été"), 10);
  record(encoder.encode("sub"), 4);
  record(encoder.encode("fifo"), 1);
  record(encoder.encode("unknown"), 0);
  const total = records.reduce((n, r) => n + r.length, 0);
  const buf = new Uint8Array(total + 16);
  let at = 0;
  for (const r of records) {
    buf.set(r, at);
    at += r.length;
  }
  const parsed = parseDirents(buf, total);
  assert.deepEqual(parsed.entries, [
    { name: "plain.txt", kind: "file" },
    { name: "été", kind: "symlink" },
    { name: "sub", kind: "dir" },
    { name: "fifo", kind: "other" },
    { name: "unknown", kind: "unknown" },
  ]);
  assert.equal(parsed.skippedInvalid, 1);
  assert.throws(() => parseDirents(buf, total + 8), RangeError);
});

// --- semantics, against the real file system ---------------------------------------------------

Deno.test({
  name: "beneath: small reads and writes (on this thread) and large ones (on the pool) agree",
  ignore,
  async fn() {
    const { base, root } = await fixture();
    const r = BeneathRoot.open(root, { isHidden });
    try {
      const { dir } = r.openParent(["d", "x"]);
      try {
        const data = Uint8Array.from({ length: SYNC_IO_MAX * 3 + 17 }, (_, i) => (i * 7) & 0xff);
        const file = dir.createFile("x", { read: true });
        const small = data.subarray(0, SYNC_IO_MAX); // at the limit: on this thread
        await file.writeAt(small, 0);
        await file.writeAt(data.subarray(SYNC_IO_MAX), SYNC_IO_MAX); // above it: the pool
        await file.sync();
        const back = new Uint8Array(data.length);
        assert.equal(await file.readAt(back.subarray(0, 100), 0), 100);
        assert.equal(await file.readAt(back.subarray(100), 100), data.length - 100);
        assert.deepEqual(back, data);
        // A close on this thread, refused while a call runs on the pool.
        const reading = file.readAt(new Uint8Array(SYNC_IO_MAX + 1), 0);
        assert.equal(file.idle, false);
        await assertCode("INTERNAL", () => file.closeSync());
        await reading;
        assert.equal(file.idle, true);
        file.closeSync();
        file.closeSync(); // twice is fine
        await assertCode("INTERNAL", () => file.readAt(back, 0));
        assert.deepEqual(await Deno.readFile(`${root}/d/x`), data);
      } finally {
        dir.close();
      }
    } finally {
      r.close();
      await Deno.remove(base, { recursive: true });
    }
  },
});

Deno.test({
  name: "beneath: links inside are followed, links out refused, even to come back (row 19)",
  ignore,
  async fn() {
    const { base, root, outside } = await fixture();
    await Deno.symlink("d", `${root}/rel`); // relative, inside
    await Deno.symlink(`${root}/d`, `${root}/abs`); // absolute, inside
    await Deno.symlink("../d/f", `${root}/d/up`); // `..` that stays inside
    await Deno.symlink("../../outside/canary", `${root}/d/esc`); // `..` above the root
    await Deno.symlink(outside, `${root}/out`); // absolute, outside
    await Deno.symlink(`../${base.split("/").at(-1)}/root/d`, `${root}/back`); // leaves, returns
    await Deno.symlink("loop2", `${root}/loop1`);
    await Deno.symlink("loop1", `${root}/loop2`);
    const r = BeneathRoot.open(root, { isHidden });
    try {
      assert.equal(await readAll(r, ["d", "f"]), "inside\n");
      assert.equal(await readAll(r, ["rel", "f"]), "inside\n");
      assert.equal(await readAll(r, ["abs", "f"]), "inside\n");
      assert.equal(await readAll(r, ["d", "up"]), "inside\n");
      assert.equal(r.stat(["rel"]).kind, "dir");
      assert.equal(r.lstat(["rel"]).kind, "symlink");
      for (const p of [["d", "esc"], ["out", "canary"], ["out"], ["back", "f"], ["loop1"]]) {
        const err = await assertCode("OUTSIDE_ROOT", () => readAll(r, p));
        assert.ok(!err.message.includes(base), err.message);
        await assertCode("OUTSIDE_ROOT", () => r.stat(p));
      }
      await assertCode("OUTSIDE_ROOT", () => names(r, ["out"]));
      await assertCode("OUTSIDE_ROOT", () => r.mkdir(["out", "new"]));
      await assertCode("OUTSIDE_ROOT", () => r.remove(["out", "canary"]));
      await assertCode("OUTSIDE_ROOT", () => r.rename(["out", "canary"], ["stolen"]));
      await assertCode("OUTSIDE_ROOT", () => r.rename(["d", "f"], ["out", "planted"]));
      assert.deepEqual(await names(r, []), [
        "abs:symlink",
        "back:symlink",
        "d:dir",
        "loop1:symlink",
        "loop2:symlink",
        "out:symlink",
        "rel:symlink",
      ]);
      assert.deepEqual(
        [...Deno.readDirSync(outside)].map((e) => e.name),
        ["canary"],
      );
      assert.equal(Deno.readTextFileSync(`${outside}/canary`), "OUTSIDE-CANARY\n");
    } finally {
      r.close();
      await Deno.remove(base, { recursive: true });
    }
  },
});

Deno.test({
  name: "beneath: names reached through a link into the temporary namespace are NOT_FOUND (22)",
  ignore,
  async fn() {
    const { base, root } = await fixture();
    await Deno.writeTextFile(`${root}/d/.ferry-abc.part`, "partial");
    await Deno.symlink(".ferry-abc.part", `${root}/d/peek`);
    await Deno.symlink("d", `${root}/.ferry-dir`);
    await Deno.symlink(".ferry-dir/f", `${root}/via`);
    const r = BeneathRoot.open(root, { isHidden });
    try {
      await assertCode("NOT_FOUND", () => readAll(r, ["d", "peek"]));
      await assertCode("NOT_FOUND", () => r.stat(["via"]));
      // The storage layer itself may name its temporary files directly.
      assert.equal(await readAll(r, ["d", ".ferry-abc.part"]), "partial");
    } finally {
      r.close();
      await Deno.remove(base, { recursive: true });
    }
  },
});

Deno.test({
  name: "beneath: the final component is never followed by remove, rename, mkdir, create (20)",
  ignore,
  async fn() {
    const { base, root, outside } = await fixture();
    await Deno.symlink(`${outside}/canary`, `${root}/link`);
    await Deno.symlink(outside, `${root}/dirlink`);
    const r = BeneathRoot.open(root, { isHidden });
    try {
      await assertCode("ALREADY_EXISTS", () => r.mkdir(["dirlink"]));
      const top = r.openDirectory([]);
      try {
        await assertCode("ALREADY_EXISTS", () => top.createFile("link"));
        await assertCode("OUTSIDE_ROOT", () => top.openFile("link"));
        // Replacing the link by rename replaces the link, never its target.
        const tmp = top.createFile(".ferry-1.part");
        await tmp.write(encoder.encode("new contents"));
        await tmp.close();
        await top.rename(".ferry-1.part", "link", { replace: true });
        assert.equal(top.lstat("link").kind, "file");
        // lstatIfAny: the same description, and null (not an error) for a missing name.
        assert.deepEqual(top.lstatIfAny("link"), top.lstat("link"));
        assert.equal(top.lstatIfAny("dirlink")?.kind, "symlink");
        assert.equal(top.lstatIfAny("no-such-name"), null);
        await assertCode("BAD_NAME", () => top.lstatIfAny("a/b"));
      } finally {
        top.close();
      }
      assert.equal(await readAll(r, ["link"]), "new contents");
      await r.rename(["dirlink"], ["dirlink2"]);
      assert.equal(r.lstat(["dirlink2"]).kind, "symlink");
      assert.equal((await r.remove(["dirlink2"])).kind, "symlink");
      assert.equal(Deno.readTextFileSync(`${outside}/canary`), "OUTSIDE-CANARY\n");
      assert.deepEqual([...Deno.readDirSync(outside)].map((e) => e.name), ["canary"]);
    } finally {
      r.close();
      await Deno.remove(base, { recursive: true });
    }
  },
});

Deno.test({
  name: "beneath: kinds, errors and names: directory, FIFO, missing, not a directory, too long",
  ignore,
  async fn() {
    const { base, root } = await fixture();
    const fifo = new Deno.Command("mkfifo", { args: [`${root}/fifo`] }).outputSync();
    assert.ok(fifo.success);
    const r = BeneathRoot.open(root, { isHidden });
    try {
      await assertCode("IS_A_DIRECTORY", () => r.openFile(["d"]));
      await assertCode("BAD_ARGUMENT", () => r.openFile(["fifo"])); // does not block
      await assertCode("NOT_FOUND", () => r.openFile(["missing"]));
      await assertCode("NOT_FOUND", () => r.remove(["d", "missing"]));
      await assertCode("NOT_A_DIRECTORY", () => r.openFile(["d", "f", "x"]));
      await assertCode("NOT_A_DIRECTORY", () => r.openDirectory(["d", "f"]));
      await assertCode("NAME_TOO_LONG", () => r.mkdir(["é".repeat(128)]));
      r.mkdir(["a".repeat(255)]);
      await assertCode("ALREADY_EXISTS", () => r.mkdir(["d"]));
      await assertCode("NOT_EMPTY", () => r.remove(["d"]));
      await assertCode("BAD_ARGUMENT", () => r.rename(["d"], ["d", "inner"]));
      await assertCode("ALREADY_EXISTS", () => r.rename(["fifo"], ["d", "f"]));
      await assertCode("BAD_NAME", () => r.stat([".."]));
      await assertCode("BAD_NAME", () => r.stat(["d/f"]));
      await assertCode("BAD_NAME", () => r.stat([""]));
      await assertCode("BAD_NAME", () => r.remove([]));
      const err = await assertCode("NOT_FOUND", () => r.stat(["d", "nothing\u202e"]));
      assert.ok(!err.message.includes(base));
      assert.ok(err.message.includes("\\u202e"), err.message);
    } finally {
      r.close();
      await Deno.remove(base, { recursive: true });
    }
  },
});

Deno.test({
  name: "beneath: file I/O, times, stat and listing agree with Deno's own calls",
  ignore,
  async fn() {
    const { base, root } = await fixture();
    const r = BeneathRoot.open(root, { isHidden });
    try {
      const { dir, name } = r.openParent(["d", "g"]);
      try {
        const file = dir.createFile(".ferry-up.part", { read: true });
        const data = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 31 + i / 256) & 255);
        await file.write(data.subarray(0, 100_000));
        await file.write(data.subarray(100_000));
        await file.truncate(250_000);
        const back = new Uint8Array(250_000);
        let got = 0;
        while (got < back.length) {
          const n = await file.readAt(back.subarray(got), got);
          assert.ok(n > 0);
          got += n;
        }
        assert.deepEqual(back, data.subarray(0, 250_000));
        assert.equal(await file.readAt(new Uint8Array(10), 250_000), 0);
        file.setTimes(null, Date.UTC(2020, 0, 2, 3, 4, 5, 678));
        await file.sync();
        assert.equal(file.stat().size, 250_000);
        await file.close();
        await file.close(); // twice is fine
        await dir.rename(".ferry-up.part", name, { replace: true });
        await dir.sync();
      } finally {
        dir.close();
      }
      const mine: FileStat = r.stat(["d", "g"]);
      const theirs = Deno.statSync(`${root}/d/g`);
      assert.equal(mine.kind, "file");
      assert.equal(mine.size, theirs.size);
      assert.equal(mine.ino, theirs.ino);
      assert.equal(mine.dev, theirs.dev);
      assert.equal(mine.mode, (theirs.mode ?? 0) & 0o7777);
      assert.equal(mine.mtimeMs, Date.UTC(2020, 0, 2, 3, 4, 5, 678));
      assert.equal(theirs.mtime?.getTime(), mine.mtimeMs);

      // A directory larger than one getdents64 buffer (64 KiB) lists completely.
      r.mkdir(["many"]);
      const many = r.openDirectory(["many"]);
      try {
        for (let i = 0; i < 1500; i++) {
          const f = many.createFile(`${"n".repeat(60)}-${i}`);
          await f.close();
        }
      } finally {
        many.close();
      }
      const listed = await names(r, ["many"]);
      assert.equal(listed.length, 1500);
      assert.ok(listed.every((n) => n.endsWith(":file")));
      assert.deepEqual(await names(r, ["d"]), ["f:file", "g:file"]);
    } finally {
      r.close();
      await Deno.remove(base, { recursive: true });
    }
  },
});

// --- the race ---------------------------------------------------------------------------------

/** What lstat says about an entry, as one comparable string (reads move atime, the last). */
function describe(info: Deno.FileInfo): string {
  return JSON.stringify([
    info.ino,
    info.size,
    info.nlink,
    info.mtime?.getTime(),
    info.ctime?.getTime(),
    info.atime?.getTime(),
  ]);
}

/**
 * Sets the atimes of `paths` (the outside directory and its files) to the epoch, so that (on a
 * relatime or strictatime mount) any read of a file or listing of the directory moves them.
 * Returns whether this file system does record such reads.
 */
function armAtimes(base: string, paths: string[]): boolean {
  for (const p of paths) {
    Deno.utimeSync(p, 0, Deno.lstatSync(p).mtime ?? new Date());
  }
  const probe = `${base}/atime-probe`;
  Deno.writeTextFileSync(probe, "x");
  Deno.utimeSync(probe, 0, Deno.lstatSync(probe).mtime ?? new Date());
  Deno.readTextFileSync(probe);
  return (Deno.lstatSync(probe).atime?.getTime() ?? 0) > 0;
}

/** Counts of one racing operation. */
interface OpTally {
  ok: number;
  refused: Partial<Record<ErrorCode, number>>;
}

/** What the race found. */
interface RaceTally {
  attempts: number;
  ops: Record<string, OpTally>;
  outsideBytes: number;
  outsideNames: number;
  outsideInode: number;
}

/** Refusals a racing operation may meet; anything else fails the test. */
const EXPECTED_REFUSALS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  "OUTSIDE_ROOT",
  "NOT_FOUND",
]);

/** One primitive run on `d/f` (or `d`) during the race, after a race-free `setup`. */
interface RacingOp {
  name: string;
  setup?: () => Promise<unknown> | unknown;
  run: () => Promise<unknown> | unknown;
}

Deno.test({
  name: "beneath: no primitive escapes while ROOT/d is exchanged with a link out (issue 10)",
  ignore,
  async fn() {
    const { base, root, outside } = await fixture();
    await Deno.writeTextFile(`${outside}/f`, "OUTSIDE-F\n"); // what d/f names when d is the link
    await Deno.mkdir(`${outside}/sub`); // what d/sub names when d is the link
    await Deno.symlink(outside, `${root}/s`);
    const outsideFiles = ["canary", "f", "sub"].map((n) => `${outside}/${n}`);
    const canaryIno = Deno.lstatSync(`${outside}/f`).ino;
    const atimes = armAtimes(base, [outside, ...outsideFiles]);
    const snapshot = () => [outside, ...outsideFiles].map((p) => describe(Deno.lstatSync(p)));
    const before = snapshot();
    const r = BeneathRoot.open(root, { isHidden });
    // Descriptors held on the real directories: setup and clean-up through them cannot race.
    const home: BeneathDirectory = r.openDirectory(["d"]);
    const top: BeneathDirectory = r.openDirectory([]);
    const tally: RaceTally = {
      attempts: 0,
      ops: {},
      outsideBytes: 0,
      outsideNames: 0,
      outsideInode: 0,
    };
    const ignoreMissing = async (fn: () => Promise<unknown> | unknown) => {
      try {
        await fn();
      } catch (err) {
        if (!(err instanceof FerryError && err.code === "NOT_FOUND")) throw err;
      }
    };
    const write = async (dir: BeneathDirectory, name: string, text: string) => {
      const f = dir.createFile(name);
      try {
        await f.write(encoder.encode(text));
      } finally {
        await f.close();
      }
    };
    /** Back to d/f present, nothing else in d or the top but d and s. */
    const restore = async () => {
      await ignoreMissing(() => top.rename("moved", "f", { to: home, replace: true }));
      for (const stray of ["g", "sub", ".ferry-race.part"]) {
        await ignoreMissing(() => home.remove(stray));
      }
      try {
        home.lstat("f");
      } catch {
        await write(home, "f", "inside\n");
      }
    };
    const checkText = (text: string) => {
      if (text.includes("OUTSIDE")) tally.outsideBytes += text.length;
    };
    const checkIno = (stat: FileStat) => {
      if (stat.ino === canaryIno) tally.outsideInode++;
    };

    const ops: RacingOp[] = [
      { name: "get", run: async () => checkText(await readAll(r, ["d", "f"])) },
      { name: "stat", run: () => checkIno(r.stat(["d", "f"])) },
      { name: "lstat", run: () => checkIno(r.lstat(["d", "f"])) },
      {
        name: "put (temp, write, rename over)",
        run: async () => {
          const { dir, name } = r.openParent(["d", "f"]);
          try {
            await write(dir, ".ferry-race.part", "inside, put\n");
            await dir.rename(".ferry-race.part", name, { replace: true });
          } finally {
            dir.close();
          }
        },
      },
      {
        name: "create new",
        setup: () => home.remove("f"),
        run: async () => {
          const { dir, name } = r.openParent(["d", "f"]);
          try {
            await write(dir, name, "inside, created\n");
          } finally {
            dir.close();
          }
        },
      },
      {
        name: "resume (open for write, read, truncate, write)",
        run: async () => {
          const { dir, name } = r.openParent(["d", "f"]);
          try {
            const f = dir.openFile(name, { write: true });
            try {
              const buf = new Uint8Array(64);
              checkText(decoder.decode(buf.subarray(0, await f.readAt(buf, 0))));
              await f.truncate(0);
              await f.writeAt(encoder.encode("inside, resumed\n"), 0);
            } finally {
              await f.close();
            }
          } finally {
            dir.close();
          }
        },
      },
      { name: "rm", run: async () => checkIno(await r.remove(["d", "f"])) },
      { name: "mv d/f d/g", run: () => r.rename(["d", "f"], ["d", "g"]) },
      {
        name: "mv d/f moved (out of d)",
        run: async () => {
          await r.rename(["d", "f"], ["moved"]);
          checkIno(top.lstat("moved"));
        },
      },
      {
        name: "mv moved d/f (into d)",
        setup: () => home.rename("f", "moved", { to: top }),
        run: () => r.rename(["moved"], ["d", "f"], { replace: true }),
      },
      { name: "mkdir", run: () => r.mkdir(["d", "sub"]) },
      { name: "rmdir", setup: () => home.mkdir("sub"), run: () => r.remove(["d", "sub"]) },
      {
        name: "ls",
        run: async () => {
          for (const n of await names(r, ["d"])) if (n.startsWith("canary:")) tally.outsideNames++;
        },
      },
      {
        name: "open directory, read names",
        run: () => {
          const dir = r.openDirectory(["d"]);
          try {
            for (let batch = dir.readNames(); batch !== null; batch = dir.readNames()) {
              tally.outsideNames += batch.filter((e) => e.name === "canary").length;
            }
          } finally {
            dir.close();
          }
        },
      },
    ];

    const race = await SymlinkRace.start(`${root}/d`, `${root}/s`);
    const seconds = raceSeconds();
    const deadline = performance.now() + seconds * 1000;
    let counts;
    try {
      for (let i = 0; performance.now() < deadline; i++) {
        const op = ops[i % ops.length];
        const t = (tally.ops[op.name] ??= { ok: 0, refused: {} });
        await op.setup?.();
        tally.attempts++;
        try {
          await op.run();
          t.ok++;
        } catch (err) {
          if (!(err instanceof FerryError) || !EXPECTED_REFUSALS.has(err.code)) throw err;
          assert.ok(!err.message.includes(base), err.message);
          t.refused[err.code] = (t.refused[err.code] ?? 0) + 1;
        }
        await restore();
      }
    } finally {
      counts = await race.stop();
      home.close();
      top.close();
      r.close();
    }
    const after = snapshot();
    const outsideNames = [...Deno.readDirSync(outside)].map((e) => e.name).sort();
    const canary = Deno.readTextFileSync(`${outside}/canary`);
    const f = Deno.readTextFileSync(`${outside}/f`);
    await Deno.remove(base, { recursive: true });
    console.log(
      `race ${seconds}s: ${counts.exchanges} exchanges, ${tally.attempts} attempts; ` +
        `outside bytes ${tally.outsideBytes}, outside names ${tally.outsideNames}, ` +
        `outside inode ${tally.outsideInode}; atime detector ${atimes ? "on" : "off"}`,
    );
    for (const [name, t] of Object.entries(tally.ops)) {
      console.log(`  ${name}: ${t.ok} ok, refused ${JSON.stringify(t.refused)}`);
    }

    // The race really ran, and every primitive was hit both ways.
    assert.ok(counts.exchanges > 1000, `only ${counts.exchanges} exchanges`);
    for (const op of ops) {
      const t = tally.ops[op.name];
      assert.ok(t !== undefined && t.ok > 0, `${op.name}: no attempt succeeded`);
      assert.ok((t.refused.OUTSIDE_ROOT ?? 0) > 0, `${op.name}: no attempt met the link`);
    }
    // Nothing outside was returned...
    assert.equal(tally.outsideBytes, 0);
    assert.equal(tally.outsideNames, 0);
    assert.equal(tally.outsideInode, 0);
    // ...nor created, changed, removed, renamed, read or listed (atime moves on a read).
    assert.deepEqual(outsideNames, ["canary", "f", "sub"]);
    assert.equal(canary, "OUTSIDE-CANARY\n");
    assert.equal(f, "OUTSIDE-F\n");
    const withoutAtime = (rows: string[]) => rows.map((row) => JSON.parse(row).slice(0, 5));
    assert.deepEqual(atimes ? after : withoutAtime(after), atimes ? before : withoutAtime(before));
  },
});

Deno.test({
  name: "beneath race control: the path-based check-then-open does escape under the same race",
  ignore,
  async fn() {
    const { base, root, outside } = await fixture();
    await Deno.writeTextFile(`${outside}/f`, "OUTSIDE-F\n");
    await Deno.symlink(outside, `${root}/s`);
    const race = await SymlinkRace.start(`${root}/d`, `${root}/s`);
    let read = 0;
    let planted = 0;
    try {
      const deadline = performance.now() + 10_000;
      for (let i = 0; performance.now() < deadline && (read === 0 || planted === 0); i++) {
        try {
          // What server/paths.ts does: check the real path is inside, then use the path.
          const real = await Deno.realPath(`${root}/d/f`);
          if (!real.startsWith(`${root}/`)) continue;
          if (i % 2 === 0) {
            if ((await Deno.readTextFile(`${root}/d/f`)).includes("OUTSIDE")) read++;
          } else {
            await Deno.writeTextFile(`${root}/d/.ferry-x.part`, "planted\n");
            await Deno.rename(`${root}/d/.ferry-x.part`, `${root}/d/planted`);
          }
        } catch { /* a refusal, or the name moved between the calls */ }
        try {
          Deno.lstatSync(`${outside}/planted`);
          planted++;
          Deno.removeSync(`${outside}/planted`);
        } catch { /* not planted */ }
      }
    } finally {
      await race.stop();
      await Deno.remove(base, { recursive: true });
    }
    assert.ok(read > 0, "the path-based read never escaped: the race detector would be blind");
    assert.ok(planted > 0, "the path-based write never escaped: the race detector would be blind");
  },
});
