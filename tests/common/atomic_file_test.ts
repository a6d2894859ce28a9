/**
 * Tests for common/atomic_file.ts: a file appears under its name only once committed; a kept
 * temporary file is resumed with its prefix re-hashed; small files are written atomically
 * with their exact mode; directory fsyncs are shared; the write buffer follows the length the
 * file is expected to reach, and more bytes than that are still written whole.
 */

import assert from "node:assert/strict";
import {
  BackgroundSync,
  createAtomicFile,
  createDirectorySync,
  createGroupSync,
  openAtomicFile,
  resumeAtomicFile,
  SYNC_EVERY,
  writeFileAtomic,
} from "../../common/atomic_file.ts";
import { FerryError } from "../../protocol/errors.ts";
import { namesIn as names, sha256Bytes as sha256 } from "../_helpers/mod.ts";

function bytes(n: number, seed = 1): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 131 + seed * 17) & 0xff);
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ferry-atomic-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("an atomic file appears under its name only on commit, hashed and with its mtime", async () => {
  await withDir(async (dir) => {
    const target = `${dir}/file.bin`;
    await Deno.writeTextFile(target, "old version");
    const data = bytes(3 * 1024 * 1024 + 5);
    const file = await createAtomicFile({ target, temp: `${dir}/.file.tmp`, bufferSize: 100_000 });
    for (let o = 0; o < data.length; o += 65_531) await file.write(data.subarray(o, o + 65_531));
    assert.equal(file.length, data.length);
    assert.equal(file.existing, 0);
    assert.equal(await Deno.readTextFile(target), "old version", "the target is untouched");
    assert.deepEqual(await names(dir), [".file.tmp", "file.bin"]);
    assert.deepEqual(file.hasher.copy().digest(), sha256(data));
    const mtime = new Date("2024-02-03T04:05:06.000Z");
    const { replacedSize } = await file.commit({ mtime });
    assert.equal(replacedSize, "old version".length);
    assert.deepEqual(await names(dir), ["file.bin"]);
    assert.deepEqual(await Deno.readFile(target), data);
    assert.equal((await Deno.stat(target)).mtime?.getTime(), mtime.getTime());
    await file.discard(); // after a commit: leaves the file alone
    assert.deepEqual(await Deno.readFile(target), data);
  });
});

Deno.test("a new target: replacedSize 0; discard removes the temporary file", async () => {
  await withDir(async (dir) => {
    const first = await createAtomicFile({ target: `${dir}/a`, temp: `${dir}/.a.tmp` });
    await first.write(bytes(10));
    assert.equal((await first.commit()).replacedSize, 0);
    const second = await createAtomicFile({ target: `${dir}/b`, temp: `${dir}/.b.tmp` });
    await second.write(bytes(2 * 1024 * 1024));
    await second.discard();
    await second.discard();
    assert.deepEqual(await names(dir), ["a"]);
  });
});

Deno.test("createAtomicFile replaces a leftover regular file, refuses anything else", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/.t.tmp`, "stale leftover");
    const file = await createAtomicFile({ target: `${dir}/t`, temp: `${dir}/.t.tmp` });
    await file.write(new TextEncoder().encode("fresh"));
    await file.commit();
    assert.equal(await Deno.readTextFile(`${dir}/t`), "fresh");
    await Deno.mkdir(`${dir}/.d.tmp`);
    await Deno.symlink(`${dir}/t`, `${dir}/.l.tmp`);
    for (const temp of [`${dir}/.d.tmp`, `${dir}/.l.tmp`]) {
      await assert.rejects(
        createAtomicFile({ target: `${dir}/x`, temp }),
        (e) => e instanceof FerryError && e.code === "INTERNAL" && /name is taken/.test(e.message),
        temp,
      );
    }
    assert.equal(await Deno.readTextFile(`${dir}/t`), "fresh", "a symlink is never followed");
  });
});

Deno.test("discard(keep) keeps what was written; resumeAtomicFile goes on after the kept prefix", async () => {
  await withDir(async (dir) => {
    const target = `${dir}/big.bin`;
    const temp = `${dir}/.big.partial`;
    const data = bytes(5 * 1024 * 1024 + 321, 3);
    const first = await createAtomicFile({ target, temp });
    await first.write(data.subarray(0, 3_000_000));
    await first.discard(true);
    assert.equal((await Deno.stat(temp)).size, 3_000_000, "buffered bytes are written first");
    // Keep only the first 2,000,000 bytes: the rest is cut off and the prefix re-hashed.
    const resumed = await resumeAtomicFile({ target, temp, keep: 2_000_000 });
    assert.equal(resumed.existing, 2_000_000);
    assert.equal(resumed.length, 2_000_000);
    assert.deepEqual(resumed.hasher.copy().digest(), sha256(data.subarray(0, 2_000_000)));
    await resumed.write(data.subarray(2_000_000));
    assert.deepEqual(resumed.hasher.copy().digest(), sha256(data));
    await resumed.commit();
    assert.deepEqual(await Deno.readFile(target), data);
    assert.deepEqual(await names(dir), ["big.bin"]);
  });
});

Deno.test("resumeAtomicFile: all of it by default; refused when missing, not a file, or too short", async () => {
  await withDir(async (dir) => {
    const temp = `${dir}/.p`;
    await Deno.writeFile(temp, bytes(1000));
    const all = await resumeAtomicFile({ target: `${dir}/p`, temp });
    assert.equal(all.existing, 1000);
    assert.deepEqual(all.hasher.copy().digest(), sha256(bytes(1000)));
    // The other side did not match: start over.
    await all.restart();
    assert.equal(all.existing, 0);
    await all.write(bytes(5, 9));
    await all.commit();
    assert.deepEqual(await Deno.readFile(`${dir}/p`), bytes(5, 9));

    await assert.rejects(
      resumeAtomicFile({ target: `${dir}/q`, temp: `${dir}/.missing` }),
      Deno.errors.NotFound,
    );
    await Deno.mkdir(`${dir}/.dir`);
    await assert.rejects(
      resumeAtomicFile({ target: `${dir}/q`, temp: `${dir}/.dir` }),
      (e) => e instanceof FerryError && e.code === "INTERNAL",
    );
    await Deno.writeFile(`${dir}/.short`, bytes(10));
    await assert.rejects(
      resumeAtomicFile({ target: `${dir}/q`, temp: `${dir}/.short`, keep: 11 }),
      (e) => e instanceof FerryError && e.code === "INTERNAL" && /shrank/.test(e.message),
    );
    assert.equal((await Deno.stat(`${dir}/.short`)).size, 10, "a refused resume changes nothing");
  });
});

Deno.test("openAtomicFile resumes a kept file when asked and there is one, else starts afresh", async () => {
  await withDir(async (dir) => {
    const target = `${dir}/t`;
    const temp = `${dir}/.t.partial`;
    const fresh = await openAtomicFile({ target, temp, resume: true });
    assert.equal(fresh.existing, 0, "nothing kept: a new file");
    await fresh.write(bytes(700));
    await fresh.discard(true);
    const resumed = await openAtomicFile({ target, temp, resume: true });
    assert.equal(resumed.existing, 700);
    assert.deepEqual(resumed.hasher.copy().digest(), sha256(bytes(700)));
    await resumed.discard(true);
    const replaced = await openAtomicFile({ target, temp });
    assert.equal(replaced.existing, 0, "without resume, a kept file is replaced");
    await replaced.write(bytes(3, 5));
    await replaced.commit();
    assert.deepEqual(await Deno.readFile(target), bytes(3, 5));
    assert.deepEqual(await names(dir), ["t"]);
  });
});

Deno.test("writeFileAtomic replaces a file with exact permissions and leaves nothing else", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/token`;
    await Deno.writeTextFile(path, "old\n");
    await writeFileAtomic(path, "secret\n", { mode: 0o600 });
    // Group-writable: the usual umask (022) would narrow it at creation.
    await writeFileAtomic(`${dir}/ca.pem`, new TextEncoder().encode("cert\n"), { mode: 0o664 });
    assert.equal(await Deno.readTextFile(path), "secret\n");
    if (Deno.build.os !== "windows") {
      assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
      assert.equal((await Deno.stat(`${dir}/ca.pem`)).mode! & 0o777, 0o664, "despite the umask");
    }
    await writeFileAtomic(`${dir}/empty`, "");
    assert.equal(await Deno.readTextFile(`${dir}/empty`), "");
    assert.deepEqual(await names(dir), ["ca.pem", "empty", "token"]);
    await assert.rejects(writeFileAtomic(`${dir}/no/such/dir/x`, "x"), Deno.errors.NotFound);
    assert.deepEqual(await names(dir), ["ca.pem", "empty", "token"]);
  });
});

Deno.test("createDirectorySync: concurrent syncs of one directory all resolve; errors reach callers", async () => {
  await withDir(async (dir) => {
    const directories = createDirectorySync();
    await Promise.all(Array.from({ length: 50 }, () => directories.sync(dir)));
    const missing = `${dir}/missing`;
    const failures = await Promise.allSettled(
      Array.from({ length: 5 }, () => directories.sync(missing)),
    );
    if (Deno.build.os !== "windows") {
      assert.ok(failures.every((f) => f.status === "rejected"), "each caller sees the failure");
    }
    await Deno.mkdir(missing);
    await directories.sync(missing); // the failure did not poison the directory's queue
  });
});

Deno.test("a file past SYNC_EVERY syncs in the background and still commits, discards and restarts", async () => {
  await withDir(async (dir) => {
    const piece = bytes(1024 * 1024, 3);
    const pieces = SYNC_EVERY / piece.length + 6;
    const write = async (file: Awaited<ReturnType<typeof createAtomicFile>>) => {
      for (let i = 0; i < pieces; i++) await file.write(piece);
    };
    // Committed: every byte there, hashed.
    const target = `${dir}/big.bin`;
    const file = await createAtomicFile({ target, temp: `${dir}/.big.tmp` });
    await write(file);
    await file.commit();
    const got = await Deno.readFile(target);
    assert.equal(got.length, pieces * piece.length);
    assert.ok(got.every((b, i) => b === piece[i % piece.length]));
    // Discarded right after a background sync may have started: nothing left, no error.
    const dropped = await createAtomicFile({ target: `${dir}/x.bin`, temp: `${dir}/.x.tmp` });
    await write(dropped);
    await dropped.discard();
    assert.deepEqual(await names(dir), ["big.bin"]);
    // Restarted after one: starts over from nothing.
    const again = await createAtomicFile({ target: `${dir}/y.bin`, temp: `${dir}/.y.tmp` });
    await write(again);
    await again.restart();
    await again.write(piece.subarray(0, 10));
    await again.commit();
    assert.deepEqual(await Deno.readFile(`${dir}/y.bin`), piece.subarray(0, 10));
  });
});

Deno.test("expect: a file told its length is written whole, also when more bytes come", async () => {
  await withDir(async (dir) => {
    // Told exactly: one small buffer.
    const small = bytes(4096, 5);
    const exact = await createAtomicFile({ target: `${dir}/exact`, temp: `${dir}/.exact.tmp` });
    exact.expect(small.length);
    await exact.write(small);
    await exact.commit();
    assert.deepEqual(await Deno.readFile(`${dir}/exact`), small);
    // Told too little: the buffers stay small, every byte still lands, in order.
    const data = bytes(300_000, 6);
    const short = await createAtomicFile({ target: `${dir}/short`, temp: `${dir}/.short.tmp` });
    short.expect(10);
    for (let o = 0; o < data.length; o += 7_001) await short.write(data.subarray(o, o + 7_001));
    assert.equal(short.length, data.length);
    assert.deepEqual(short.hasher.copy().digest(), sha256(data));
    await short.commit();
    assert.deepEqual(await Deno.readFile(`${dir}/short`), data);
    // A resumed file: the kept bytes count towards the length expected.
    const temp = `${dir}/.resumed.tmp`;
    await Deno.writeFile(temp, data.subarray(0, 100_000));
    const resumed = await resumeAtomicFile({ target: `${dir}/resumed`, temp });
    resumed.expect(data.length);
    await resumed.write(data.subarray(100_000));
    await resumed.commit();
    assert.deepEqual(await Deno.readFile(`${dir}/resumed`), data);
    assert.deepEqual(await names(dir), ["exact", "resumed", "short"]);
  });
});

Deno.test("createGroupSync: callers arriving while a flush runs share the next one; keys are apart", async () => {
  const syncs = createGroupSync();
  const flushed: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const flush = (key: string, who: number) => async () => {
    flushed.push(`${key}:${who}`);
    if (who === 0) await gate;
  };
  const first = syncs.sync("a", flush("a", 0)); // runs at once, held open by the gate
  const joiners = Array.from({ length: 20 }, (_, i) => syncs.sync("a", flush("a", i + 1)));
  const other = syncs.sync("b", flush("b", 99)); // another key does not wait
  await other;
  assert.deepEqual(flushed, ["a:0", "b:99"]);
  release();
  await Promise.all([first, ...joiners]);
  // The twenty callers shared one flush, the first of them's, started after the first ended.
  assert.deepEqual(flushed, ["a:0", "b:99", "a:1"]);
  // Once idle, the next caller starts a flush of its own.
  await syncs.sync("a", flush("a", 42));
  assert.deepEqual(flushed, ["a:0", "b:99", "a:1", "a:42"]);
  // A failed flush fails every caller that shares it, and the chain goes on.
  const failing = () => Promise.reject(new Error("disk on fire"));
  const results = await Promise.allSettled([
    syncs.sync("c", failing),
    syncs.sync("c", failing),
    syncs.sync("c", failing),
  ]);
  assert.ok(results.every((r) => r.status === "rejected"));
  await syncs.sync("c", flush("c", 7));
  assert.equal(flushed.at(-1), "c:7");
});

Deno.test("BackgroundSync: one sync at a time, every SYNC_EVERY bytes, after the write before it", async () => {
  const order: string[] = [];
  let release!: () => void;
  const syncs = new BackgroundSync(async () => {
    order.push("sync");
    await new Promise<void>((r) => release = r);
  }, 10);
  syncs.after(Promise.resolve(), 10 + SYNC_EVERY - 1);
  await syncs.settled();
  assert.equal(order.length, 0, "not yet SYNC_EVERY bytes past the start");
  let endWrite!: () => void;
  const write = new Promise<void>((r) => endWrite = r).then(() => void order.push("write"));
  syncs.after(write, 10 + SYNC_EVERY);
  syncs.after(Promise.resolve(), 10 + 3 * SYNC_EVERY); // one runs already: not started
  endWrite();
  await write;
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(order, ["write", "sync"]);
  release();
  await syncs.settled();
  syncs.after(Promise.resolve(), 10 + 2 * SYNC_EVERY);
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(order, ["write", "sync", "sync"], "a new one once the first ended");
  release();
  await syncs.check();
});

Deno.test("BackgroundSync: a failed sync fails check(), not settled(), and is kept", async () => {
  let calls = 0;
  const syncs = new BackgroundSync(() => {
    calls++;
    return Promise.reject(new Error(`writeback failed ${calls}`));
  });
  syncs.after(Promise.resolve(), SYNC_EVERY);
  await syncs.settled();
  await assert.rejects(syncs.check(), /writeback failed 1/);
  // a later sync that fails too does not replace the first failure; one that is not started
  // (too few bytes) changes nothing
  syncs.after(Promise.resolve(), 2 * SYNC_EVERY);
  syncs.after(Promise.resolve(), 2 * SYNC_EVERY + 1);
  await syncs.settled();
  assert.equal(calls, 2);
  await assert.rejects(syncs.check(), /writeback failed 1/);
  // a write that failed is reported the same way (the sync after it never ran)
  const other = new BackgroundSync(() => Promise.resolve());
  const failedWrite = Promise.reject(new Error("write failed"));
  other.after(failedWrite, SYNC_EVERY);
  await assert.rejects(other.check(), /write failed/);
});
