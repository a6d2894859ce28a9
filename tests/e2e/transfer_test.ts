/**
 * End to end, every operation once: uploads of bytes, a local file and a stream of unknown size;
 * listings (names, sizes, kinds, mtimes, several LIST_ENTRIES batches); downloads to a path, a
 * directory and a stream, from an offset; removal; errors that leave the connection usable; and
 * a 50 MiB file up and down.
 *
 * A real server (tests/_helpers/server.ts) over real TLS on 127.0.0.1, driven by the real client
 * library; every client and server is closed in `finally`, with the resource and op sanitizers
 * on.
 */

import assert from "node:assert/strict";
import {
  assertSameBytes,
  byName,
  checksumHex,
  collector,
  concat,
  KiB,
  MiB,
  namesIn,
  randomBytes,
  rejectsWith,
  sha256Hex,
  streamOf,
  TEST_CHECKSUM,
  TOKENS,
  withClient,
  withServer,
} from "../_helpers/mod.ts";

const encoder = new TextEncoder();

Deno.test("upload of bytes, a local file and a stream of unknown size, then list names, sizes, kinds and mtimes", async () => {
  await withServer(async (t) => {
    await t.files.mkdir("sub");
    await withClient(t, TOKENS.admin, async (c) => {
      const before = Date.now();

      // Bytes.
      const bytes = randomBytes(1000);
      const r1 = await c.upload(bytes, "a.bin");
      assert.deepEqual(r1, {
        bytes: 1000,
        checksum: await checksumHex(bytes),
        algorithm: TEST_CHECKSUM,
        path: "a.bin",
        resumed: 0,
      });

      // Bytes with an explicit mtime.
      const stamped = encoder.encode("stamped");
      const stampedTime = new Date("2021-06-07T08:09:10.123Z");
      await c.upload(stamped, "stamped.txt", { mtime: stampedTime });

      // An empty file.
      const r0 = await c.upload(new Uint8Array(0), "empty");
      assert.equal(r0.bytes, 0);
      assert.equal(r0.checksum, await checksumHex(new Uint8Array(0)));

      // A local file: its mtime travels with it.
      const local = `${t.outside}/local.txt`;
      const localBytes = randomBytes(300 * KiB + 7);
      await Deno.writeFile(local, localBytes);
      const localTime = new Date("2020-01-02T03:04:05.678Z");
      await Deno.utime(local, localTime, localTime);
      const r2 = await c.upload(local, "sub/local.txt");
      assert.deepEqual(r2, {
        bytes: localBytes.length,
        checksum: await checksumHex(localBytes),
        algorithm: TEST_CHECKSUM,
        path: "sub/local.txt",
        resumed: 0,
      });

      // A stream whose size is not known in advance.
      const parts = [
        randomBytes(100 * KiB),
        randomBytes(300 * KiB),
        randomBytes(7),
        randomBytes(64 * KiB),
      ];
      const streamed = concat(parts);
      const progress: { bytes: number; total: number | null }[] = [];
      const r3 = await c.upload(streamOf(parts), "stream.bin", {
        onProgress: (p) => progress.push(p),
      });
      assert.deepEqual(r3, {
        bytes: streamed.length,
        checksum: await checksumHex(streamed),
        algorithm: TEST_CHECKSUM,
        path: "stream.bin",
        resumed: 0,
      });
      assert.ok(
        progress.some((p) => p.total === null),
        "progress of a stream of unknown size has total null",
      );
      assert.deepEqual(progress.at(-1), { bytes: streamed.length, total: streamed.length });
      const after = Date.now();

      // What the server stored.
      assertSameBytes(await t.files.read("a.bin"), bytes, "a.bin on disk");
      assertSameBytes(
        await t.files.read("sub/local.txt"),
        localBytes,
        "sub/local.txt on disk",
      );
      assertSameBytes(await t.files.read("stream.bin"), streamed, "stream.bin on disk");
      assert.equal((await t.files.read("empty")).length, 0);

      // The root listing.
      const root = byName(await c.list());
      assert.deepEqual(root.map((e) => e.name), [
        "a.bin",
        "empty",
        "stamped.txt",
        "stream.bin",
        "sub",
      ]);
      assert.deepEqual(root.map((e) => e.kind), ["file", "file", "file", "file", "dir"]);
      assert.deepEqual(root.map((e) => e.size), [1000, 0, stamped.length, streamed.length, 0]);
      for (const e of root) assert.equal(typeof e.mtime, "number", `${e.name} has an mtime`);
      for (const name of ["a.bin", "empty", "stream.bin"]) {
        const m = root.find((e) => e.name === name)!.mtime!;
        assert.ok(m >= before - 2_000 && m <= after + 2_000, `${name} mtime ${m} is about now`);
      }
      assert.equal(root.find((e) => e.name === "stamped.txt")!.mtime, stampedTime.getTime());
      assert.deepEqual(byName(await c.list(".")), root, "'.' is the root");

      // A subdirectory.
      assert.deepEqual(await c.list("sub"), [
        { name: "local.txt", kind: "file", size: localBytes.length, mtime: localTime.getTime() },
      ]);
      // A single file.
      assert.deepEqual(await c.list("sub/local.txt"), [
        { name: "local.txt", kind: "file", size: localBytes.length, mtime: localTime.getTime() },
      ]);
      assert.deepEqual(await c.list("a.bin"), [root[0]]);
    });
  });
});

Deno.test("a listing of 2,000 long names spans several LIST_ENTRIES batches and is complete", async () => {
  await withServer(async (t) => {
    await t.files.mkdir("many");
    const expected = Array.from(
      { length: 2000 },
      (_, i) => `${String(i).padStart(4, "0")}-${"n".repeat(120)}`,
    );
    // written 25 at a time (on S3 each is a PUT)
    for (let i = 0; i < expected.length; i += 25) {
      await Promise.all(
        expected.slice(i, i + 25).map((name, j) =>
          t.files.write(`many/${name}`, new Uint8Array((i + j) % 17))
        ),
      );
    }
    await withClient(t, TOKENS.read, async (c) => {
      const entries = byName(await c.list("many"));
      assert.deepEqual(entries.map((e) => e.name), expected);
      assert.deepEqual(entries.map((e) => e.size), expected.map((_, i) => i % 17));
      // Names only (the server announced LIST_NAMES): the same names and kinds, no times.
      const named = byName(await c.list("many", { namesOnly: true }));
      assert.deepEqual(named.map((e) => e.name), expected);
      assert.ok(named.every((e) => e.kind === "file" && e.mtime === null));
      // And batch by batch, never all at once: each batch is one LIST_ENTRIES frame.
      const batches: number[] = [];
      const count = await c.listEach("many", (batch) => batches.push(batch.length), {
        namesOnly: true,
      });
      assert.equal(count, expected.length);
      assert.ok(batches.length > 1, `several batches: ${batches}`);
      assert.equal(batches.reduce((a, b) => a + b, 0), expected.length);
    });
  });
});

Deno.test("download to a local path, into a local directory, to a WritableStream, with preserveTimes", async () => {
  await withServer(async (t) => {
    const data = randomBytes(700 * KiB + 3);
    const remoteTime = new Date("2019-05-06T07:08:09.250Z");
    await withClient(t, TOKENS.write, async (c) => {
      await c.upload(data, "file.bin", { mtime: remoteTime });

      // To a path.
      const dest = `${t.outside}/copy.bin`;
      const progress: { bytes: number; total: number | null }[] = [];
      const r1 = await c.download("file.bin", dest, { onProgress: (p) => progress.push(p) });
      assert.deepEqual(r1, {
        bytes: data.length,
        checksum: await checksumHex(data),
        algorithm: TEST_CHECKSUM,
        path: dest,
        resumed: 0,
      });
      assertSameBytes(await Deno.readFile(dest), data, "downloaded file");
      assert.deepEqual(progress[0], { bytes: 0, total: data.length });
      assert.deepEqual(progress.at(-1), { bytes: data.length, total: data.length });

      // Over an existing file (replaced), with the remote mtime kept.
      await Deno.writeTextFile(dest, "old local content");
      const r2 = await c.download("file.bin", dest, { preserveTimes: true });
      assert.equal(r2.checksum, await checksumHex(data));
      assertSameBytes(await Deno.readFile(dest), data, "replaced local file");
      assert.equal((await Deno.stat(dest)).mtime?.getTime(), remoteTime.getTime());

      // Into a directory: the file keeps its remote name.
      await Deno.mkdir(`${t.outside}/into`);
      const r3 = await c.download("file.bin", `${t.outside}/into`);
      assert.equal(r3.path, `${t.outside}/into/file.bin`);
      assert.deepEqual(await namesIn(`${t.outside}/into`), ["file.bin"]);
      assertSameBytes(await Deno.readFile(`${t.outside}/into/file.bin`), data, "file in directory");

      // To a WritableStream.
      const sink = collector();
      const r4 = await c.download("file.bin", sink.stream);
      assert.deepEqual(r4, {
        bytes: data.length,
        checksum: await checksumHex(data),
        algorithm: TEST_CHECKSUM,
        path: "file.bin",
        resumed: 0,
      });
      assertSameBytes(sink.bytes(), data, "streamed download");
      assert.ok(sink.closed, "the stream is closed after a verified download");

      // From an offset: only the tail is sent, and its hash is the tail's.
      const tail = collector();
      const r5 = await c.download("file.bin", tail.stream, { offset: 500 * KiB });
      assert.equal(r5.bytes, data.length - 500 * KiB);
      assert.equal(r5.checksum, await checksumHex(data.subarray(500 * KiB)));
      assertSameBytes(tail.bytes(), data.subarray(500 * KiB), "download from an offset");
      await rejectsWith(
        c.download("file.bin", collector().stream, { offset: data.length + 1 }),
        "BAD_ARGUMENT",
        "offset past the end",
      );

      // No temporary files were left beside the targets.
      assert.deepEqual(await namesIn(t.outside), ["copy.bin", "into"]);
    });
  });
});

Deno.test("remove a file and an empty directory; a non-empty directory is refused with NOT_EMPTY", async () => {
  await withServer(async (t) => {
    await withClient(t, TOKENS.write, async (c) => {
      await c.upload(encoder.encode("bye"), "gone.txt");
      await c.remove("gone.txt");
      assert.equal(await t.files.exists("gone.txt"), false, "gone.txt is gone");

      await t.files.mkdir("empty-dir");
      await c.remove("empty-dir");
      assert.equal(await t.files.exists("empty-dir"), false, "empty-dir is gone");

      await t.files.mkdir("full");
      await t.files.write("full/keep.txt", "keep");
      await rejectsWith(c.remove("full"), "NOT_EMPTY", "rm full");
      assert.equal(await t.files.readText("full/keep.txt"), "keep");

      await c.remove("full/keep.txt");
      await c.remove("full");
      assert.deepEqual(await c.list(), []);
      await rejectsWith(c.remove("."), "BAD_NAME", "rm of the root");
    });
  });
});

Deno.test("NOT_FOUND and IS_A_DIRECTORY errors leave the connection usable and leave no local files", async () => {
  await withServer(async (t) => {
    await t.files.mkdir("dir");
    await t.files.write("present.txt", "present");
    await Deno.mkdir(`${t.outside}/dl`);
    await withClient(t, TOKENS.admin, async (c) => {
      const usable = async () => {
        assert.deepEqual((await c.list()).map((e) => e.name).sort(), ["dir", "present.txt"]);
      };
      await rejectsWith(
        c.download("missing.txt", `${t.outside}/dl/missing.txt`),
        "NOT_FOUND",
        "get to path",
      );
      await usable();
      await rejectsWith(
        c.download("missing.txt", collector().stream),
        "NOT_FOUND",
        "get to stream",
      );
      await usable();
      await rejectsWith(c.list("missing"), "NOT_FOUND", "ls");
      await usable();
      await rejectsWith(c.remove("missing.txt"), "NOT_FOUND", "rm");
      await usable();
      await rejectsWith(
        c.upload(encoder.encode("x"), "no-such-dir/x.txt"),
        "NOT_FOUND",
        "put into missing dir",
      );
      await usable();
      await rejectsWith(
        c.download("dir", `${t.outside}/dl/dir`),
        "IS_A_DIRECTORY",
        "get of a directory",
      );
      await usable();
      await rejectsWith(c.download(".", collector().stream), "IS_A_DIRECTORY", "get of the root");
      await usable();
      await rejectsWith(
        c.upload(randomBytes(200 * KiB), "dir"),
        "IS_A_DIRECTORY",
        "put onto a directory",
      );
      await usable();
      await rejectsWith(c.list("present.txt/x"), "NOT_A_DIRECTORY", "ls below a file");
      await usable();
      const sink = collector();
      await rejectsWith(
        c.download("present.txt/x", sink.stream),
        "NOT_A_DIRECTORY",
        "get below a file",
      );
      assert.ok(sink.aborted !== undefined, "the WritableStream is aborted when a download fails");
      await usable();
      // Failed downloads to a path left nothing behind, not even a temporary file.
      assert.deepEqual(await namesIn(`${t.outside}/dl`), []);
      assert.deepEqual(await t.files.names("dir"), []);
      assert.equal(await t.files.readText("present.txt"), "present");
    });
  });
});

Deno.test("a 50 MiB random file goes up and comes back down with identical SHA-256", async () => {
  await withServer(async (t) => {
    const data = randomBytes(50 * MiB);
    const hash = sha256Hex(data);
    const checksum = await checksumHex(data);
    const source = `${t.outside}/big.bin`;
    await Deno.writeFile(source, data);
    await withClient(t, TOKENS.write, async (c) => {
      const up = await c.upload(source, "big.bin");
      assert.equal(up.bytes, data.length);
      assert.equal(up.algorithm, TEST_CHECKSUM);
      assert.equal(up.checksum, checksum, "upload TransferResult.checksum is the real hash");
      assert.equal(sha256Hex(await t.files.read("big.bin")), hash, "stored file");
      assert.deepEqual((await c.list("big.bin"))[0].size, data.length);

      const dest = `${t.outside}/big-copy.bin`;
      const down = await c.download("big.bin", dest);
      assert.equal(down.bytes, data.length);
      assert.equal(down.checksum, checksum, "download TransferResult.checksum is the real hash");
      assert.equal(sha256Hex(await Deno.readFile(dest)), hash, "downloaded file");
    });
    assert.deepEqual(await t.files.names(), ["big.bin"], "no server temp files remain");
    assert.deepEqual(
      await namesIn(t.outside),
      ["big-copy.bin", "big.bin"],
      "no client temp files remain",
    );
  });
});
