/**
 * One file over several connections (`download(…, { streams })`, `get --streams N`; PROTOCOL.md
 * §4.4): the ranges and their cut, the file assembled byte for byte with the whole-file
 * checksum, a server file that changes under the download, cancelling, the cases that fall back
 * to one stream, ranges to a stream, and the CLI flag.
 *
 * @module
 */

import assert from "node:assert/strict";
import { MIN_RANGE, splitRanges } from "../../client/streams.ts";
import { openSession } from "../../client/connect.ts";
import { receive } from "../../client/receive.ts";
import { createHasher } from "../../common/hash_file.ts";
import { connect, FerryError } from "../../mod.ts";
import {
  assertOk,
  checksumHex,
  cliServer,
  concat,
  ON_S3,
  randomBytes,
  startServer,
  TEST_CHECKSUM,
  type TestServer,
  TOKENS,
} from "../_helpers/mod.ts";

const MiB = 1024 * 1024;

/** The ranged gets the server logged: [offset, length, bytes]. */
function rangedGets(t: TestServer): [unknown, unknown, unknown][] {
  return t.logs.filter((l) => l.op === "get" && l.result === "ok").map((l) => [
    l.offset ?? 0,
    l.length,
    l.bytes,
  ]);
}

/** Names in `dir`, sorted. */
async function names(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
}

Deno.test("streams: a file is cut into consecutive MiB-aligned ranges of at least MIN_RANGE", () => {
  assert.equal(MIN_RANGE, 16 * MiB);
  const check = (size: number, streams: number, expected: number) => {
    const ranges = splitRanges(size, streams);
    assert.equal(ranges.length, expected, `${size} bytes, ${streams} streams`);
    let at = 0;
    for (const r of ranges) {
      assert.equal(r.offset, at, "consecutive");
      assert.ok(r.length > 0 || size === 0);
      assert.equal(r.offset % MiB, 0, "aligned");
      at += r.length;
    }
    assert.equal(at, size, "they cover the file");
  };
  check(0, 4, 1);
  check(1, 4, 1);
  check(32 * MiB - 1, 4, 1);
  check(32 * MiB, 4, 2);
  check(40 * MiB + 12345, 4, 2);
  check(1024 * MiB, 4, 4);
  check(1024 * MiB + 7, 3, 3);
  check(100 * MiB, 1, 1);
});

Deno.test("streams: a 40 MiB file comes down over 2 connections, byte for byte, checked whole", async () => {
  const t = await startServer();
  try {
    const data = randomBytes(40 * MiB + 12345);
    await t.files.write("big.bin", data);
    const mtime = new Date("2024-03-04T05:06:07.000Z");
    await t.files.setMtime("big.bin", mtime);
    const c = await t.client(TOKENS.read);
    try {
      const progress: number[] = [];
      const target = `${t.outside}/big.bin`;
      const r = await c.download("big.bin", target, {
        streams: 4,
        preserveTimes: true,
        onProgress: (p) => progress.push(p.bytes),
      });
      assert.deepEqual(r, {
        bytes: data.length,
        checksum: null,
        algorithm: TEST_CHECKSUM,
        path: target,
        resumed: 0,
        ranges: 2,
      });
      assert.deepEqual(await Deno.readFile(target), data);
      assert.equal((await Deno.stat(target)).mtime?.getTime(), mtime.getTime(), "-p");
      assert.deepEqual(await names(t.outside), ["big.bin"], "no partial file left");
      assert.ok(progress.length > 2 && progress.at(-1) === data.length, "progress of all ranges");
      // Two ranges on two connections, each a ranged DOWNLOAD: half the file, rounded up to
      // whole MiB (21 MiB), and the rest.
      const half = 21 * MiB;
      assert.deepEqual(rangedGets(t).sort(), [
        [0, half, half],
        [half, data.length - half, data.length - half],
      ]);
      assert.equal(t.logs.filter((l) => l.event === "connect").length, 2);
    } finally {
      c.close();
    }
  } finally {
    await t.close();
  }
});

Deno.test("streams: a server file that changes under the download is CHECKSUM_MISMATCH, nothing kept", async () => {
  const t = await startServer();
  try {
    const data = randomBytes(36 * MiB);
    await t.files.write("big.bin", data);
    const mtime = (await t.files.mtime("big.bin"))!;
    const later = new Date(mtime + 1000);
    // On S3 the file is replaced by a PUT (there is no writing in place), which takes a while:
    // the download is paced (8 MiB/s) and the PUT starts once a third has come, long before the
    // end. On a disk the change is made at once, in place, once most of it has come.
    const c = ON_S3
      ? await connect({
        hostname: "localhost",
        port: t.port,
        token: TOKENS.read,
        caCerts: [t.ca],
        limitRate: 8 * MiB,
      })
      : await t.client(TOKENS.read);
    try {
      // Once every FILE_INFO has long been sent, the file's first bytes change, with its time:
      // the last STAT sees it.
      let change: Promise<void> | undefined;
      const changed = new Uint8Array(data);
      changed.fill(7, 0, 100);
      const target = `${t.outside}/big.bin`;
      const err = await c.download("big.bin", target, {
        streams: 2,
        onProgress: (p) => {
          if (change !== undefined || p.bytes < (ON_S3 ? 12 : 30) * MiB) return;
          if (ON_S3) {
            change = t.files.write("big.bin", changed).then(() =>
              t.files.setMtime("big.bin", later)
            );
            return;
          }
          using f = Deno.openSync(`${t.root}/big.bin`, { write: true });
          f.writeSync(changed.subarray(0, 100));
          f.utimeSync(later, later);
          change = Promise.resolve();
        },
      }).then(() => null, (e) => e);
      assert.ok(change !== undefined, "the file was changed mid-download");
      await change;
      assert.ok(err instanceof FerryError, `${err}`);
      assert.equal(err.code, "CHECKSUM_MISMATCH");
      assert.deepEqual(await names(t.outside), [], "no file, no partial file");
    } finally {
      c.close();
    }
  } finally {
    await t.close();
  }
});

Deno.test("streams: a range whose FILE_INFO differs from the STAT's size or time is CHECKSUM_MISMATCH", async () => {
  const t = await startServer();
  try {
    await t.files.write("f.bin", randomBytes(100_000));
    const mtime = await t.files.mtime("f.bin");
    const session = await openSession({
      hostname: "localhost",
      port: t.port,
      token: TOKENS.read,
      caCerts: [t.ca],
    });
    try {
      for (
        const expect of [{ size: 99_999, mtime: mtime! }, { size: 100_000, mtime: 1 }]
      ) {
        const err = await receive(session.mux, {
          remote: "f.bin",
          offset: 0,
          length: 10,
          sink: { write: () => Promise.resolve() },
          hash: () => createHasher(TEST_CHECKSUM),
          hashHere: false,
          expect,
          transfers: session.transfers,
          algorithm: TEST_CHECKSUM,
        }).then(() => null, (e) => e);
        assert.equal(err?.code, "CHECKSUM_MISMATCH", JSON.stringify(expect));
      }
    } finally {
      session.mux.close();
    }
  } finally {
    await t.close();
  }
});

Deno.test("streams: cancelling stops every stream and leaves nothing", async () => {
  const t = await startServer();
  try {
    await t.files.write("big.bin", randomBytes(48 * MiB));
    const c = await t.client(TOKENS.read);
    try {
      const controller = new AbortController();
      const err = await c.download("big.bin", `${t.outside}/big.bin`, {
        streams: 3,
        signal: controller.signal,
        onProgress: (p) => {
          if (p.bytes > 4 * MiB) controller.abort();
        },
      }).then(() => null, (e) => e);
      assert.ok(err instanceof FerryError, `${err}`);
      assert.equal(err.code, "CANCELLED");
      assert.deepEqual(await names(t.outside), []);
      // The connection still works.
      assert.equal((await c.stat("big.bin")).size, 48 * MiB);
    } finally {
      c.close();
    }
  } finally {
    await t.close();
  }
});

Deno.test("streams: a small file and a download to a stream use one connection", async () => {
  const t = await startServer();
  try {
    const data = randomBytes(20 * MiB);
    await t.files.write("f.bin", data);
    const c = await t.client(TOKENS.read);
    try {
      const r = await c.download("f.bin", `${t.outside}/f.bin`, { streams: 8 });
      assert.equal(r.checksum, await checksumHex(data));
      assert.deepEqual(rangedGets(t), [[0, undefined, data.length]], "one plain DOWNLOAD");
      assert.equal(t.logs.filter((l) => l.event === "connect").length, 1);
      // To a stream: one connection too, the whole file.
      const chunks: Uint8Array[] = [];
      await c.download("f.bin", new WritableStream({ write: (x) => void chunks.push(x) }), {
        streams: 4,
      });
      assert.deepEqual(concat(chunks), data);
      assert.equal(t.logs.filter((l) => l.event === "connect").length, 1);
    } finally {
      c.close();
    }
  } finally {
    await t.close();
  }
});

Deno.test("streams: a range of a file to a stream (length), refused to a path", async () => {
  const t = await startServer();
  try {
    const data = randomBytes(300_000);
    await t.files.write("f.bin", data);
    const c = await t.client(TOKENS.read);
    try {
      const chunks: Uint8Array[] = [];
      const r = await c.download(
        "f.bin",
        new WritableStream({ write: (x) => void chunks.push(x) }),
        { offset: 1000, length: 70_000 },
      );
      assert.deepEqual(concat(chunks), data.subarray(1000, 71_000));
      assert.equal(r.bytes, 70_000);
      assert.equal(r.checksum, await checksumHex(data.subarray(1000, 71_000)));
      const err = await c.download("f.bin", `${t.outside}/x`, { length: 5 }).then(
        () => null,
        (e) => e,
      );
      assert.equal(err?.code, "USAGE");
    } finally {
      c.close();
    }
  } finally {
    await t.close();
  }
});

Deno.test("streams: the CLI's get --streams N; put does not take it", async () => {
  await using s = await cliServer();
  const data = randomBytes(33 * MiB);
  await s.ts.files.write("big.bin", data);
  const run = await s.run(["get", "--streams", "2", "--json", "big.bin", "out.bin"]);
  assertOk(run, "get --streams 2");
  const doc = JSON.parse(run.stdout);
  assert.deepEqual([doc.files[0].checksum, doc.files[0].ranges], [null, 2]);
  assert.deepEqual(await Deno.readFile(`${s.cwd}/out.bin`), data);
  const text = await s.run(["get", "--streams", "2", "big.bin", "out2.bin"]);
  assertOk(text, "get --streams 2, text");
  assert.match(text.stdout, new RegExp(`, ${TEST_CHECKSUM} checked in 2 ranges\n$`));
  assert.equal(rangedGets(s.ts).length, 4, "two ranges, twice");
  for (const bad of ["0", "x", "33"]) {
    const r = await s.run(["get", "--streams", bad, "big.bin", "o2.bin"]);
    assert.equal(r.code, 2, `--streams ${bad}: ${r.stderr}`);
  }
  const put = await s.run(["put", "--streams", "2", "out.bin", "back.bin"]);
  assert.equal(put.code, 2);
  assert.match(put.stderr, /put does not take --streams/);
});
