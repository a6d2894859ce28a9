/**
 * End-to-end tests: a real server (tests/helpers.ts) over real TLS on 127.0.0.1, driven by the
 * real client library and, where the client would never send what is tested, by raw frames
 * written with the protocol codec. No mocks. Every client and server is closed in `finally`,
 * with the resource and op sanitizers on.
 */

import assert from "node:assert/strict";
import { connect, type ErrorCode, type FerryClient, FerryError } from "../mod.ts";
import { randomBytes, sha256Hex, startServer, type TestServer, TOKENS } from "./helpers.ts";
import type { Limits } from "../server/limits.ts";
import { readFrames } from "../protocol/frame_reader.ts";
import { writeAll } from "../protocol/frame_writer.ts";
import type { Frame } from "../protocol/frame.ts";
import {
  decodeAuthOk,
  decodeError,
  decodeIdOnly,
  decodeListEntries,
  decodeWelcome,
  encodeAuth,
  encodeDownload,
  encodeEof,
  encodeHello,
  encodeIdOnly,
  encodePathRequest,
  encodeUpload,
  type Entry,
} from "../protocol/messages/mod.ts";
import { type Service, SERVICES } from "../protocol/services.ts";
import { HEADER_SIZE } from "../protocol/frame.ts";
import { UNKNOWN_SIZE } from "../protocol/bytes.ts";
import { concat } from "./bytes.ts";
import { encodeDataFrames, encodeFrame } from "./protocol/_frames.ts";

// ---------------------------------------------------------------------------------------------
// Helpers

const KiB = 1024;
const MiB = 1024 * 1024;
const encoder = new TextEncoder();

/** Runs `fn` against a fresh server and always shuts it down. */
async function withServer(
  fn: (t: TestServer) => Promise<void>,
  limits: Partial<Limits> = {},
): Promise<void> {
  const t = await startServer(limits);
  try {
    await fn(t);
  } finally {
    await t.close();
  }
}

/** Connects a client with `token`, runs `fn`, and always closes the client. */
async function withClient(
  t: TestServer,
  token: string,
  fn: (c: FerryClient) => Promise<void>,
): Promise<void> {
  const c = await t.client(token);
  try {
    await fn(c);
  } finally {
    c.close();
    await c.closed;
  }
}

/** Asserts that `p` rejects with a FerryError of `code`, and returns that error. */
async function rejectsWith(p: Promise<unknown>, code: ErrorCode, what = ""): Promise<FerryError> {
  let value: unknown;
  try {
    value = await p;
  } catch (err) {
    if (!(err instanceof FerryError)) {
      assert.fail(`${what}: expected FerryError ${code}, got ${err}`);
    }
    assert.equal(err.code, code, `${what}: expected ${code}, got ${err.code}: ${err.message}`);
    return err;
  }
  assert.fail(
    `${what}: expected FerryError ${code}, but it succeeded with ${JSON.stringify(value)}`,
  );
}

/** Asserts two byte arrays are equal (by length and SHA-256, so large ones stay cheap). */
function assertSameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  assert.equal(sha256Hex(actual), sha256Hex(expected), `${what}: content`);
}

/** A WritableStream that keeps what it receives; `delayMs` slows every write. */
function collector(delayMs = 0) {
  const chunks: Uint8Array[] = [];
  let closed = false;
  let aborted: unknown = undefined;
  const stream = new WritableStream<Uint8Array>({
    async write(chunk) {
      if (delayMs > 0) await sleep(delayMs);
      chunks.push(chunk);
    },
    close() {
      closed = true;
    },
    abort(reason) {
      aborted = reason ?? "aborted";
    },
  });
  return {
    stream,
    bytes: () => concat(chunks),
    get closed() {
      return closed;
    },
    get aborted() {
      return aborted;
    },
  };
}

/** A ReadableStream the test feeds by hand: `push` a chunk, `end` it, or `fail` it. */
function handFedStream() {
  let ctrl!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      ctrl = c;
    },
  });
  return {
    stream,
    push: (b: Uint8Array) => ctrl.enqueue(b),
    end: () => ctrl.close(),
    fail: (e: unknown) => ctrl.error(e),
  };
}

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (i < chunks.length) c.enqueue(chunks[i++]);
      else c.close();
    },
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `cond` every 10 ms until it is true, failing after `ms`. */
async function waitFor(cond: () => boolean | Promise<boolean>, what: string, ms = 5_000) {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Races `p` against a timer; resolves `{ settled: false }` when the timer wins. */
async function settlesWithin<T>(
  p: Promise<T>,
  ms: number,
): Promise<{ settled: true; value?: T; error?: unknown } | { settled: false }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<{ settled: false }>((r) => {
    timer = setTimeout(() => r({ settled: false }), ms);
  });
  try {
    return await Promise.race([
      p.then(
        (value) => ({ settled: true as const, value }),
        (error) => ({ settled: true as const, error }),
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Sorted names in `dir`. */
async function namesIn(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

/** Every path below `dir` with its kind, size and file mtime (symlinks not followed), sorted. */
async function snapshot(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const info = await Deno.lstat(`${dir}/${e.name}`);
    const kind = info.isSymlink ? "link" : info.isDirectory ? "dir" : "file";
    // A directory's own mtime is left out: the client's temporary files for failed
    // downloads come and go in it, which is allowed as long as none is left behind.
    const mtime = info.isDirectory ? "" : ` ${info.mtime?.getTime()}`;
    out.push(`${prefix}${e.name} ${kind} ${info.size}${mtime}`);
    if (info.isDirectory) out.push(...await snapshot(`${dir}/${e.name}`, `${prefix}${e.name}/`));
  }
  return out.sort();
}

function byName(entries: Entry[]): Entry[] {
  return [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

// ---------------------------------------------------------------------------------------------
// Raw protocol connections

interface RawConn {
  /** Writes encoded frames (concatenated into one write). */
  send(...frames: Uint8Array[]): Promise<void>;
  /** The next frame from the server, or `null` once the server closed the connection. */
  next(ms?: number): Promise<Frame | null>;
  /** Half-closes: sends TLS close_notify, keeps reading. */
  closeWrite(): Promise<void>;
  /** Closes and waits for the reader to stop. */
  close(): Promise<void>;
}

/** A TLS connection to the test server, speaking raw frames. */
async function openRaw(t: TestServer): Promise<RawConn> {
  const conn = await Deno.connectTls({ hostname: "localhost", port: t.port, caCerts: [t.ca] });
  await conn.handshake();
  const frames: Frame[] = [];
  let ended = false;
  let wake = null as (() => void) | null;
  const pump = (async () => {
    try {
      for await (const f of readFrames(conn)) {
        frames.push(f);
        wake?.();
      }
    } catch {
      // the server closed abruptly, or we closed: either way the stream is over
    } finally {
      ended = true;
      wake?.();
    }
  })();
  let closed = false;
  return {
    async send(...parts) {
      await writeAll(conn, concat(parts));
    },
    async next(ms = 5_000) {
      const deadline = Date.now() + ms;
      while (frames.length === 0 && !ended) {
        const left = deadline - Date.now();
        if (left <= 0) assert.fail(`no frame from the server within ${ms} ms`);
        let timer: ReturnType<typeof setTimeout> | undefined;
        await new Promise<void>((r) => {
          wake = r;
          timer = setTimeout(r, left);
        });
        clearTimeout(timer);
        wake = null;
      }
      return frames.shift() ?? null;
    },
    async closeWrite() {
      await conn.closeWrite();
    },
    async close() {
      if (!closed) {
        closed = true;
        try {
          conn.close();
        } catch {
          // already closed
        }
      }
      await pump;
    },
  };
}

function serviceOf(f: Frame): string {
  const hit = Object.entries(SERVICES).find(([, s]) => s.type === f.type && s.num === f.num);
  return hit ? hit[0] : `(${f.type},${f.num})`;
}

function expectFrame(f: Frame | null, service: Service, what: string): Frame {
  assert.ok(f !== null, `${what}: the server closed the connection`);
  const name = Object.entries(SERVICES).find(([, s]) => s === service)?.[0];
  if (
    f.type === SERVICES.ERROR.type && f.num === SERVICES.ERROR.num && service !== SERVICES.ERROR
  ) {
    const e = decodeError(f.payload);
    assert.fail(`${what}: expected ${name}, got ERROR ${e.code}: ${e.message}`);
  }
  assert.equal(serviceOf(f), name, `${what}: unexpected frame`);
  return f;
}

function expectError(f: Frame | null, code: ErrorCode, id: number, what: string): void {
  const frame = expectFrame(f, SERVICES.ERROR, what);
  const e = decodeError(frame.payload);
  assert.equal(e.code, code, `${what}: ${e.message}`);
  assert.equal(e.id, id, `${what}: request id of the ERROR`);
}

/** HELLO (id 1) and AUTH (id 2) on a raw connection. */
async function rawLogin(raw: RawConn, token = TOKENS.admin): Promise<void> {
  await raw.send(
    encodeHello({ id: 1, minVersion: 1, maxVersion: 1, agent: "e2e-raw" }),
    encodeAuth({ id: 2, token }),
  );
  assert.equal(
    decodeWelcome(expectFrame(await raw.next(), SERVICES.WELCOME, "HELLO").payload).id,
    1,
  );
  const ok = decodeAuthOk(expectFrame(await raw.next(), SERVICES.AUTH_OK, "AUTH").payload);
  assert.equal(ok.id, 2);
}

/** LIST `path` as request `id` on a raw connection; returns all entries. */
async function rawList(raw: RawConn, id: number, path = "."): Promise<Entry[]> {
  await raw.send(encodePathRequest(SERVICES.LIST, { id, path }));
  const entries: Entry[] = [];
  while (true) {
    const batch = decodeListEntries(
      expectFrame(await raw.next(), SERVICES.LIST_ENTRIES, "LIST").payload,
    );
    assert.equal(batch.id, id);
    entries.push(...batch.entries);
    if (batch.last) return entries;
  }
}

/** The frames of a complete raw upload with a chosen EOF checksum. */
function rawUpload(id: number, path: string, data: Uint8Array, sha256: Uint8Array): Uint8Array[] {
  return [
    encodeUpload({ id, size: data.length, mtime: null, path }),
    encodeDataFrames(SERVICES.UPLOAD_DATA, id, data),
    encodeEof({ id, size: data.length, sha256 }),
  ];
}

function sha256Bytes(data: Uint8Array): Uint8Array {
  const hex = sha256Hex(data);
  return Uint8Array.from({ length: 32 }, (_, i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16));
}

// ---------------------------------------------------------------------------------------------
// 1. Every operation

Deno.test("upload of bytes, a local file and a stream of unknown size, then list names, sizes, kinds and mtimes", async () => {
  await withServer(async (t) => {
    await Deno.mkdir(`${t.root}/sub`);
    await withClient(t, TOKENS.admin, async (c) => {
      const before = Date.now();

      // Bytes.
      const bytes = randomBytes(1000);
      const r1 = await c.upload(bytes, "a.bin");
      assert.deepEqual(r1, { bytes: 1000, sha256: sha256Hex(bytes), path: "a.bin", resumed: 0 });

      // Bytes with an explicit mtime.
      const stamped = encoder.encode("stamped");
      const stampedTime = new Date("2021-06-07T08:09:10.123Z");
      await c.upload(stamped, "stamped.txt", { mtime: stampedTime });

      // An empty file.
      const r0 = await c.upload(new Uint8Array(0), "empty");
      assert.equal(r0.bytes, 0);
      assert.equal(r0.sha256, sha256Hex(new Uint8Array(0)));

      // A local file: its mtime travels with it.
      const local = `${t.outside}/local.txt`;
      const localBytes = randomBytes(300 * KiB + 7);
      await Deno.writeFile(local, localBytes);
      const localTime = new Date("2020-01-02T03:04:05.678Z");
      await Deno.utime(local, localTime, localTime);
      const r2 = await c.upload(local, "sub/local.txt");
      assert.deepEqual(r2, {
        bytes: localBytes.length,
        sha256: sha256Hex(localBytes),
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
        sha256: sha256Hex(streamed),
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
      assertSameBytes(await Deno.readFile(`${t.root}/a.bin`), bytes, "a.bin on disk");
      assertSameBytes(
        await Deno.readFile(`${t.root}/sub/local.txt`),
        localBytes,
        "sub/local.txt on disk",
      );
      assertSameBytes(await Deno.readFile(`${t.root}/stream.bin`), streamed, "stream.bin on disk");
      assert.equal((await Deno.stat(`${t.root}/empty`)).size, 0);

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
    await Deno.mkdir(`${t.root}/many`);
    const expected: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const name = `${String(i).padStart(4, "0")}-${"n".repeat(120)}`;
      expected.push(name);
      await Deno.writeFile(`${t.root}/many/${name}`, new Uint8Array(i % 17));
    }
    await withClient(t, TOKENS.read, async (c) => {
      const entries = byName(await c.list("many"));
      assert.deepEqual(entries.map((e) => e.name), expected);
      assert.deepEqual(entries.map((e) => e.size), expected.map((_, i) => i % 17));
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
      assert.deepEqual(r1, { bytes: data.length, sha256: sha256Hex(data), path: dest, resumed: 0 });
      assertSameBytes(await Deno.readFile(dest), data, "downloaded file");
      assert.deepEqual(progress[0], { bytes: 0, total: data.length });
      assert.deepEqual(progress.at(-1), { bytes: data.length, total: data.length });

      // Over an existing file (replaced), with the remote mtime kept.
      await Deno.writeTextFile(dest, "old local content");
      const r2 = await c.download("file.bin", dest, { preserveTimes: true });
      assert.equal(r2.sha256, sha256Hex(data));
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
        sha256: sha256Hex(data),
        path: "file.bin",
        resumed: 0,
      });
      assertSameBytes(sink.bytes(), data, "streamed download");
      assert.ok(sink.closed, "the stream is closed after a verified download");

      // From an offset: only the tail is sent, and its hash is the tail's.
      const tail = collector();
      const r5 = await c.download("file.bin", tail.stream, { offset: 500 * KiB });
      assert.equal(r5.bytes, data.length - 500 * KiB);
      assert.equal(r5.sha256, sha256Hex(data.subarray(500 * KiB)));
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
      await assert.rejects(Deno.lstat(`${t.root}/gone.txt`), Deno.errors.NotFound);

      await Deno.mkdir(`${t.root}/empty-dir`);
      await c.remove("empty-dir");
      await assert.rejects(Deno.lstat(`${t.root}/empty-dir`), Deno.errors.NotFound);

      await Deno.mkdir(`${t.root}/full`);
      await Deno.writeTextFile(`${t.root}/full/keep.txt`, "keep");
      await rejectsWith(c.remove("full"), "NOT_EMPTY", "rm full");
      assert.equal(await Deno.readTextFile(`${t.root}/full/keep.txt`), "keep");

      await c.remove("full/keep.txt");
      await c.remove("full");
      assert.deepEqual(await c.list(), []);
      await rejectsWith(c.remove("."), "BAD_NAME", "rm of the root");
    });
  });
});

Deno.test("NOT_FOUND and IS_A_DIRECTORY errors leave the connection usable and leave no local files", async () => {
  await withServer(async (t) => {
    await Deno.mkdir(`${t.root}/dir`);
    await Deno.writeTextFile(`${t.root}/present.txt`, "present");
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
      assert.deepEqual(await namesIn(`${t.root}/dir`), []);
      assert.equal(await Deno.readTextFile(`${t.root}/present.txt`), "present");
    });
  });
});

// ---------------------------------------------------------------------------------------------
// 2. A large file

Deno.test("a 50 MiB random file goes up and comes back down with identical SHA-256", async () => {
  await withServer(async (t) => {
    const data = randomBytes(50 * MiB);
    const hash = sha256Hex(data);
    const source = `${t.outside}/big.bin`;
    await Deno.writeFile(source, data);
    await withClient(t, TOKENS.write, async (c) => {
      const up = await c.upload(source, "big.bin");
      assert.equal(up.bytes, data.length);
      assert.equal(up.sha256, hash, "upload TransferResult.sha256 is the real hash");
      assert.equal(sha256Hex(await Deno.readFile(`${t.root}/big.bin`)), hash, "stored file");
      assert.deepEqual((await c.list("big.bin"))[0].size, data.length);

      const dest = `${t.outside}/big-copy.bin`;
      const down = await c.download("big.bin", dest);
      assert.equal(down.bytes, data.length);
      assert.equal(down.sha256, hash, "download TransferResult.sha256 is the real hash");
      assert.equal(sha256Hex(await Deno.readFile(dest)), hash, "downloaded file");
    });
    assert.deepEqual(await namesIn(t.root), ["big.bin"], "no server temp files remain");
    assert.deepEqual(
      await namesIn(t.outside),
      ["big-copy.bin", "big.bin"],
      "no client temp files remain",
    );
  });
});

// ---------------------------------------------------------------------------------------------
// 3. Concurrency

Deno.test("20 clients at once each upload and download their own 1 MiB file intact", async () => {
  await withServer(async (t) => {
    const connected = await Promise.allSettled(
      Array.from({ length: 20 }, () => t.client(TOKENS.write)),
    );
    const clients = connected.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    try {
      assert.equal(clients.length, 20, "all 20 clients connected");
      const files = clients.map((_, i) => randomBytes(MiB + i * 1013));
      await Promise.all(clients.map(async (c, i) => {
        const up = await c.upload(files[i], `client-${i}.bin`);
        assert.equal(up.sha256, sha256Hex(files[i]));
        const sink = collector();
        const down = await c.download(`client-${i}.bin`, sink.stream);
        assert.equal(down.sha256, sha256Hex(files[i]));
        assertSameBytes(sink.bytes(), files[i], `client ${i} round trip`);
      }));
      for (let i = 0; i < files.length; i++) {
        assertSameBytes(
          await Deno.readFile(`${t.root}/client-${i}.bin`),
          files[i],
          `client-${i}.bin on disk`,
        );
      }
      assert.equal((await clients[0].list()).length, 20);
    } finally {
      for (const c of clients) c.close();
      await Promise.all(clients.map((c) => c.closed));
    }
  });
});

Deno.test("one connection: a listing completes while a download is still running", async () => {
  await withServer(async (t) => {
    const data = randomBytes(24 * MiB);
    await Deno.writeFile(`${t.root}/big.bin`, data);
    await Deno.writeTextFile(`${t.root}/small.txt`, "small");
    await withClient(t, TOKENS.read, async (c) => {
      // A slow sink keeps the download running long enough to be overtaken.
      const sink = collector(1);
      let received = 0;
      let started!: () => void;
      const fileInfo = new Promise<void>((r) => (started = r));
      let downloadDone = false;
      const download = c.download("big.bin", sink.stream, {
        onProgress: (p) => {
          received = p.bytes;
          started();
        },
      }).finally(() => (downloadDone = true));
      try {
        await fileInfo;
        const listing = await c.list();
        assert.deepEqual(listing.map((e) => e.name).sort(), ["big.bin", "small.txt"]);
        assert.ok(!downloadDone, "the listing finished before the download");
        assert.ok(received < data.length, `only ${received} of ${data.length} bytes were received`);
      } finally {
        await download.catch(() => {}); // let it end, without hiding a failure above
      }
      const r = await download;
      assert.equal(r.sha256, sha256Hex(data));
      assertSameBytes(sink.bytes(), data, "download");
    });
  });
});

Deno.test("one connection: 50 pipelined uploads and 50 pipelined downloads all succeed", async () => {
  await withServer(async (t) => {
    await withClient(t, TOKENS.write, async (c) => {
      const files = Array.from({ length: 50 }, (_, i) => randomBytes(1 + i * 997));
      const ups = await Promise.all(
        files.map((f, i) => c.upload(f, `p${String(i).padStart(2, "0")}.bin`)),
      );
      ups.forEach((r, i) => assert.equal(r.sha256, sha256Hex(files[i]), `upload ${i}`));
      const listing = byName(await c.list());
      assert.equal(listing.length, 50);
      listing.forEach((e, i) =>
        assert.deepEqual([e.name, e.size], [`p${String(i).padStart(2, "0")}.bin`, files[i].length])
      );
      const sinks = files.map(() => collector());
      const downs = await Promise.all(
        files.map((_, i) => c.download(`p${String(i).padStart(2, "0")}.bin`, sinks[i].stream)),
      );
      downs.forEach((r, i) => {
        assert.equal(r.sha256, sha256Hex(files[i]), `download ${i}`);
        assertSameBytes(sinks[i].bytes(), files[i], `download ${i}`);
      });
    });
    assert.equal((await namesIn(t.root)).length, 50, "no temp files remain");
  });
});

// ---------------------------------------------------------------------------------------------
// 4. The data root is a boundary

const ESCAPES: [string, ErrorCode][] = [
  ["../x", "OUTSIDE_ROOT"],
  ["/etc/passwd", "OUTSIDE_ROOT"],
  ["a/../../x", "OUTSIDE_ROOT"],
  ["..\\x", "BAD_NAME"],
  ["C:x", "BAD_NAME"],
  ["a\0b", "BAD_NAME"],
  ["outside/../x", "OUTSIDE_ROOT"],
  ["..", "OUTSIDE_ROOT"],
];

Deno.test("path escapes (.., absolute, backslash, drive, NUL) are refused for put, get, rm and ls; nothing outside changes", async () => {
  await withServer(async (t) => {
    const base = `${t.root}/..`;
    await Deno.mkdir(`${t.root}/a`);
    await Deno.writeTextFile(`${t.outside}/x`, "outside x");
    await Deno.mkdir(`${t.outside}/dl`);
    const before = await snapshot(base);
    await withClient(t, TOKENS.admin, async (c) => {
      for (const [path, code] of ESCAPES) {
        const label = JSON.stringify(path);
        await rejectsWith(c.upload(encoder.encode("pwned"), path), code, `put ${label}`);
        await rejectsWith(c.download(path, `${t.outside}/dl/out`), code, `get ${label} to a path`);
        await rejectsWith(c.download(path, collector().stream), code, `get ${label} to a stream`);
        await rejectsWith(c.remove(path), code, `rm ${label}`);
        await rejectsWith(c.list(path), code, `ls ${label}`);
      }
      assert.deepEqual(
        (await c.list()).map((e) => e.name),
        ["a"],
        "the connection is still usable",
      );
    });
    assert.deepEqual(await snapshot(base), before, "nothing outside the root (or in it) changed");
    assert.equal(await Deno.readTextFile(`${t.outside}/x`), "outside x");
  });
});

Deno.test("a symlink inside the root pointing outside is never followed; CANARY stays untouched", async () => {
  await withServer(async (t) => {
    const canary = `${t.outside}/CANARY`;
    await Deno.writeTextFile(canary, "canary content");
    await Deno.symlink(canary, `${t.root}/link`);
    await Deno.symlink(t.outside, `${t.root}/outdir`);
    const before = await snapshot(t.outside);
    await withClient(t, TOKENS.admin, async (c) => {
      // The links are listed as links, not as what they point at.
      assert.deepEqual(byName(await c.list()).map((e) => [e.name, e.kind, e.size]), [
        ["link", "symlink", 0],
        ["outdir", "symlink", 0],
      ]);
      // Nothing is read, listed, written or removed through them.
      const refused = ["OUTSIDE_ROOT", "BAD_NAME"];
      const through = async (what: string, p: Promise<unknown>) => {
        const err = await p.then(() => null, (e) => e);
        assert.ok(err instanceof FerryError, `${what}: must fail`);
        assert.ok(refused.includes(err.code), `${what}: ${err.code}: ${err.message}`);
      };
      await through("get link", c.download("link", collector().stream));
      await through("ls link", c.list("link"));
      await through("ls outdir", c.list("outdir"));
      await through("ls outdir/", c.list("outdir/"));
      await through("get outdir/CANARY", c.download("outdir/CANARY", collector().stream));
      await through("put outdir/CANARY", c.upload(encoder.encode("pwned"), "outdir/CANARY"));
      await through("put outdir/new", c.upload(encoder.encode("pwned"), "outdir/new"));
      await through("rm outdir/CANARY", c.remove("outdir/CANARY"));
      await through("ls outdir/CANARY", c.list("outdir/CANARY"));
      assert.equal(await Deno.readTextFile(canary), "canary content");
      assert.deepEqual(await snapshot(t.outside), before);

      // The final component of put and rm is the link itself (documented in server/paths.ts):
      // uploading onto the link replaces the link, and removing it removes only the link.
      await c.upload(encoder.encode("replacement"), "link");
      assert.ok(
        (await Deno.lstat(`${t.root}/link`)).isFile,
        "the link was replaced by a regular file",
      );
      assert.equal(await Deno.readTextFile(`${t.root}/link`), "replacement");
      await c.remove("outdir");
      await assert.rejects(Deno.lstat(`${t.root}/outdir`), Deno.errors.NotFound);
      assert.deepEqual((await c.list()).map((e) => [e.name, e.kind]), [["link", "file"]]);
    });
    assert.equal(await Deno.readTextFile(canary), "canary content", "CANARY unchanged");
    assert.deepEqual(await snapshot(t.outside), before, "no new or changed files outside the root");
  });
});

Deno.test(".ferry- names are refused with BAD_NAME and the server's temporary files never appear in a listing", async () => {
  await withServer(async (t) => {
    await Deno.mkdir(`${t.root}/sub`);
    await Deno.writeTextFile(`${t.root}/.ferry-planted.part`, "server-owned");
    await withClient(t, TOKENS.admin, async (c) => {
      for (const path of [".ferry-x", ".FERRY-x", "sub/.ferry-x", ".ferry-planted.part"]) {
        await rejectsWith(c.upload(encoder.encode("x"), path), "BAD_NAME", `put ${path}`);
        await rejectsWith(c.download(path, collector().stream), "BAD_NAME", `get ${path}`);
        await rejectsWith(c.remove(path), "BAD_NAME", `rm ${path}`);
        await rejectsWith(c.list(path), "BAD_NAME", `ls ${path}`);
      }
      assert.equal(await Deno.readTextFile(`${t.root}/.ferry-planted.part`), "server-owned");
      assert.deepEqual((await c.list()).map((e) => e.name), ["sub"]);

      // While an upload is in flight its temporary file exists on disk but is not listed.
      const feed = handFedStream();
      const upload = c.upload(feed.stream, "sub/new.bin");
      upload.catch(() => {}); // may reject while the test awaits something else
      try {
        feed.push(randomBytes(100 * KiB));
        await waitFor(
          async () => (await namesIn(`${t.root}/sub`)).some((n) => n.startsWith(".ferry-")),
          "temp file",
        );
        assert.deepEqual(await c.list("sub"), [], "the in-flight upload is not listed");
        assert.deepEqual((await c.list()).map((e) => e.name), ["sub"]);
        feed.push(randomBytes(10));
        feed.end();
      } catch (err) {
        feed.fail(err);
        throw err;
      } finally {
        await upload.catch(() => {});
      }
      assert.equal((await upload).bytes, 100 * KiB + 10);
      assert.deepEqual(await namesIn(`${t.root}/sub`), ["new.bin"], "the temp file is gone");
      assert.deepEqual((await c.list("sub")).map((e) => e.name), ["new.bin"]);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// 5. Authentication and roles

Deno.test("a wrong token makes connect reject with UNAUTHENTICATED", async () => {
  await withServer(async (t) => {
    await rejectsWith(t.client("not-a-token"), "UNAUTHENTICATED", "connect");
    await rejectsWith(t.client(""), "UNAUTHENTICATED", "connect with an empty token");
    await withClient(t, TOKENS.admin, async (c) => {
      assert.deepEqual([c.user, c.role], ["admin", "admin"]);
      assert.deepEqual(await c.list(), [], "the right token still works");
    });
  });
});

Deno.test("a client that does not trust the server's CA is refused with TLS", async () => {
  await withServer(async (t) => {
    await rejectsWith(
      connect({ hostname: "localhost", port: t.port, token: TOKENS.admin }),
      "TLS",
      "no CA",
    );
    await withClient(t, TOKENS.admin, async (c) => assert.deepEqual(await c.list(), []));
  });
});

Deno.test("a read-only token may list and download but upload, remove and shutdown are FORBIDDEN", async () => {
  await withServer(async (t) => {
    await Deno.writeTextFile(`${t.root}/doc.txt`, "read me");
    await withClient(t, TOKENS.read, async (c) => {
      assert.deepEqual([c.user, c.role], ["bob", "read"]);
      assert.deepEqual((await c.list()).map((e) => e.name), ["doc.txt"]);
      const sink = collector();
      await c.download("doc.txt", sink.stream);
      assert.equal(new TextDecoder().decode(sink.bytes()), "read me");
      await rejectsWith(c.upload(encoder.encode("new"), "new.txt"), "FORBIDDEN", "put new");
      await rejectsWith(c.upload(randomBytes(600 * KiB), "doc.txt"), "FORBIDDEN", "put over");
      await rejectsWith(c.remove("doc.txt"), "FORBIDDEN", "rm");
      await rejectsWith(c.shutdown(), "FORBIDDEN", "shutdown");
      assert.deepEqual((await c.list()).map((e) => e.name), ["doc.txt"], "still usable");
    });
    assert.deepEqual(await namesIn(t.root), ["doc.txt"]);
    assert.equal(await Deno.readTextFile(`${t.root}/doc.txt`), "read me");
  });
});

Deno.test("a read-write token may upload and remove, but shutdown is FORBIDDEN and the server keeps serving", async () => {
  await withServer(async (t) => {
    await withClient(t, TOKENS.write, async (c) => {
      assert.deepEqual([c.user, c.role], ["alice", "write"]);
      await c.upload(encoder.encode("w"), "w.txt");
      await rejectsWith(c.shutdown(), "FORBIDDEN", "shutdown");
      await c.remove("w.txt");
      assert.deepEqual(await c.list(), []);
    });
    await withClient(t, TOKENS.admin, async (c) => {
      assert.deepEqual(await c.list(), [], "a new admin client is served");
    });
  });
});

// ---------------------------------------------------------------------------------------------
// 6. The raw protocol

Deno.test("raw: an unknown service is answered ERROR UNSUPPORTED with its id; the connection stays usable", async () => {
  await withServer(async (t) => {
    await Deno.writeTextFile(`${t.root}/f.txt`, "f");
    const raw = await openRaw(t);
    try {
      const id = 0x01020304;
      const payload = new Uint8Array([1, 2, 3, 4]);
      await raw.send(encodeFrame({ type: 9, num: 9, version: 1, payload }));
      expectError(await raw.next(), "UNSUPPORTED", id, "service (9,9)");
      // A server-to-client service sent by a client is unsupported too.
      await raw.send(encodeIdOnly(SERVICES.OK, 77));
      expectError(await raw.next(), "UNSUPPORTED", 77, "OK sent by a client");
      await rawLogin(raw);
      await raw.send(encodeFrame({ type: 9, num: 9, version: 1, payload }));
      expectError(await raw.next(), "UNSUPPORTED", id, "service (9,9) after AUTH");
      assert.deepEqual((await rawList(raw, 5)).map((e) => e.name), ["f.txt"]);
    } finally {
      await raw.close();
    }
  });
});

Deno.test("raw: a frame with Version 99 is answered UNSUPPORTED_VERSION; the connection stays usable", async () => {
  await withServer(async (t) => {
    const raw = await openRaw(t);
    try {
      const hello = encodeHello({ id: 41, minVersion: 1, maxVersion: 1, agent: "v99" });
      new DataView(hello.buffer).setUint16(4, 99, false);
      await raw.send(hello);
      expectError(await raw.next(), "UNSUPPORTED_VERSION", 41, "HELLO in version 99");
      await rawLogin(raw);
      const list = encodePathRequest(SERVICES.LIST, { id: 42, path: "." });
      new DataView(list.buffer).setUint16(4, 99, false);
      await raw.send(list);
      expectError(await raw.next(), "UNSUPPORTED_VERSION", 42, "LIST in version 99");
      // HELLO asking only for versions the server does not speak.
      await raw.send(encodeHello({ id: 43, minVersion: 2, maxVersion: 7, agent: "future" }));
      expectError(await raw.next(), "UNSUPPORTED_VERSION", 43, "HELLO for versions 2..7");
      assert.deepEqual(await rawList(raw, 44), []);
    } finally {
      await raw.close();
    }
  });
});

Deno.test("raw: LIST, DOWNLOAD, UPLOAD and DELETE before AUTH are UNAUTHENTICATED and touch no file", async () => {
  await withServer(async (t) => {
    await Deno.writeTextFile(`${t.root}/secret.txt`, "secret");
    const raw = await openRaw(t);
    try {
      await raw.send(encodeHello({ id: 1, minVersion: 1, maxVersion: 1, agent: "e2e" }));
      expectFrame(await raw.next(), SERVICES.WELCOME, "HELLO");
      await raw.send(encodePathRequest(SERVICES.LIST, { id: 10, path: "." }));
      expectError(await raw.next(), "UNAUTHENTICATED", 10, "LIST before AUTH");
      await raw.send(encodeDownload({ id: 11, offset: 0, path: "secret.txt" }));
      expectError(await raw.next(), "UNAUTHENTICATED", 11, "DOWNLOAD before AUTH");
      await raw.send(
        ...rawUpload(12, "planted.txt", encoder.encode("x"), sha256Bytes(encoder.encode("x"))),
      );
      expectError(await raw.next(), "UNAUTHENTICATED", 12, "UPLOAD before AUTH");
      expectError(await raw.next(), "UNAUTHENTICATED", 12, "UPLOAD_DATA before AUTH");
      expectError(await raw.next(), "UNAUTHENTICATED", 12, "EOF before AUTH");
      await raw.send(encodePathRequest(SERVICES.DELETE, { id: 13, path: "secret.txt" }));
      expectError(await raw.next(), "UNAUTHENTICATED", 13, "DELETE before AUTH");
      await raw.send(encodeIdOnly(SERVICES.CLOSE_SERVER, 14));
      expectError(await raw.next(), "UNAUTHENTICATED", 14, "CLOSE_SERVER before AUTH");
      await raw.send(encodeIdOnly(SERVICES.CANCEL, 15));
      expectError(await raw.next(), "UNAUTHENTICATED", 15, "CANCEL before AUTH");
    } finally {
      await raw.close();
    }
    assert.deepEqual(await namesIn(t.root), ["secret.txt"], "nothing was created");
    assert.equal(await Deno.readTextFile(`${t.root}/secret.txt`), "secret");
    const ops = t.logs.filter((l) => l.op !== undefined);
    assert.ok(
      !ops.some((l) => ["ls", "get", "put", "rm"].includes(String(l.op))),
      "no file operation ran",
    );
    assert.ok(
      ops.some((l) => l.op === "LIST" && l.result === "UNAUTHENTICATED"),
      "the refusal was logged",
    );
    await withClient(t, TOKENS.read, async (c) => assert.equal((await c.list()).length, 1));
  });
});

Deno.test("raw: after three wrong AUTHs the server closes the connection", async () => {
  await withServer(async (t) => {
    const raw = await openRaw(t);
    try {
      await raw.send(encodeHello({ id: 1, minVersion: 1, maxVersion: 1, agent: "e2e" }));
      expectFrame(await raw.next(), SERVICES.WELCOME, "HELLO");
      for (const id of [2, 3, 4]) {
        await raw.send(encodeAuth({ id, token: `wrong-${id}` }));
        expectError(await raw.next(), "UNAUTHENTICATED", id, `AUTH #${id - 1}`);
      }
      assert.equal(await raw.next(), null, "the server closed the connection");
    } finally {
      await raw.close();
    }
    assert.ok(t.logs.some((l) => l.op === "auth" && l.failures === 3));
    await withClient(t, TOKENS.admin, async (c) => assert.deepEqual(await c.list(), []));
  });
});

Deno.test("raw: a truncated header then end of stream: the server reports BAD_FRAME, closes, logs it, keeps serving", async () => {
  await withServer(async (t) => {
    const raw = await openRaw(t);
    try {
      await raw.send(encodeHello({ id: 1, minVersion: 1, maxVersion: 1, agent: "e2e" }));
      expectFrame(await raw.next(), SERVICES.WELCOME, "HELLO");
      await raw.send(new Uint8Array([0, 0, 0]));
      await raw.closeWrite();
      const f = await raw.next();
      expectError(f, "BAD_FRAME", 0, "truncated header");
      assert.equal(await raw.next(), null, "the server closed the connection");
    } finally {
      await raw.close();
    }
    await waitFor(() => t.logs.some((l) => l.event === "disconnect"), "the disconnect log line");
    const line = t.logs.find((l) => l.event === "disconnect")!;
    assert.match(String(line.reason), /truncated/, "the log says why");
    await withClient(t, TOKENS.admin, async (c) => assert.deepEqual(await c.list(), []));
  });
});

Deno.test("raw: UPLOAD_DATA and EOF for an unknown request id are UNKNOWN_REQUEST, a CANCEL for one is ignored; the connection stays usable", async () => {
  await withServer(async (t) => {
    const raw = await openRaw(t);
    try {
      await rawLogin(raw);
      await raw.send(encodeDataFrames(SERVICES.UPLOAD_DATA, 777, encoder.encode("orphan")));
      expectError(await raw.next(), "UNKNOWN_REQUEST", 777, "UPLOAD_DATA");
      await raw.send(encodeEof({ id: 778, size: 0, sha256: new Uint8Array(32) }));
      expectError(await raw.next(), "UNKNOWN_REQUEST", 778, "EOF");
      // A CANCEL is never answered (PROTOCOL.md §4.7): the next frame is the listing's.
      await raw.send(encodeIdOnly(SERVICES.CANCEL, 779));
      assert.deepEqual(await rawList(raw, 780), []);
      // A normal upload still works on the same connection.
      const data = randomBytes(70 * KiB);
      await raw.send(...rawUpload(781, "ok.bin", data, sha256Bytes(data)));
      assert.equal(decodeIdOnly(expectFrame(await raw.next(), SERVICES.OK, "upload").payload), 781);
      assertSameBytes(await Deno.readFile(`${t.root}/ok.bin`), data, "raw upload");
    } finally {
      await raw.close();
    }
    assert.deepEqual(await namesIn(t.root), ["ok.bin"]);
  });
});

Deno.test("raw: an upload whose EOF SHA-256 is wrong is CHECKSUM_MISMATCH and leaves neither file nor temp file", async () => {
  await withServer(async (t) => {
    const raw = await openRaw(t);
    try {
      await rawLogin(raw);
      const data = randomBytes(2 * MiB + 5);
      const wrong = sha256Bytes(data);
      wrong[0] ^= 1;
      await raw.send(...rawUpload(9, "bad.bin", data, wrong));
      expectError(await raw.next(), "CHECKSUM_MISMATCH", 9, "wrong sha256");
      assert.deepEqual(await namesIn(t.root), [], "no file and no temporary file");
      // A wrong size in the EOF is refused the same way.
      const small = encoder.encode("twelve bytes");
      await raw.send(
        encodeUpload({ id: 10, size: UNKNOWN_SIZE, mtime: null, path: "bad2.bin" }),
        encodeDataFrames(SERVICES.UPLOAD_DATA, 10, small),
        encodeEof({ id: 10, size: small.length + 1, sha256: sha256Bytes(small) }),
      );
      expectError(await raw.next(), "CHECKSUM_MISMATCH", 10, "wrong size");
      assert.deepEqual(await namesIn(t.root), []);
      assert.deepEqual(await rawList(raw, 11), [], "the connection is still usable");
    } finally {
      await raw.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 7. Cancellation

Deno.test("cancel: aborting a download after its first progress rejects with CANCELLED; the client still lists", async () => {
  await withServer(async (t) => {
    await Deno.writeFile(`${t.root}/big.bin`, randomBytes(32 * MiB));
    await withClient(t, TOKENS.read, async (c) => {
      const abort = new AbortController();
      const sink = collector();
      let calls = 0;
      const started = performance.now();
      await rejectsWith(
        c.download("big.bin", sink.stream, {
          signal: abort.signal,
          onProgress: () => {
            if (calls++ === 0) abort.abort();
          },
        }),
        "CANCELLED",
        "aborted download",
      );
      assert.ok(sink.aborted !== undefined, "the WritableStream was aborted");
      assert.deepEqual((await c.list()).map((e) => e.name), ["big.bin"], "same client still lists");
      // The server stopped sending and logged the cancellation.
      await waitFor(
        () => t.logs.some((l) => l.op === "get" && l.result === "CANCELLED"),
        "a CANCELLED get",
      );
      assert.ok(
        !t.logs.some((l) => l.op === "get" && l.result === "ok"),
        "the download did not complete",
      );
      assert.ok(performance.now() - started < 10_000);
    });
  });
});

Deno.test("cancel: aborted and failed downloads to a path leave no file and no temporary file", async () => {
  await withServer(async (t) => {
    await Deno.writeFile(`${t.root}/big.bin`, randomBytes(16 * MiB));
    const dir = `${t.outside}/target`;
    await Deno.mkdir(dir);
    await withClient(t, TOKENS.read, async (c) => {
      // Aborted once some data has been written locally.
      const abort = new AbortController();
      await rejectsWith(
        c.download("big.bin", `${dir}/big.bin`, {
          signal: abort.signal,
          onProgress: (p) => {
            if (p.bytes >= MiB + 1) abort.abort();
          },
        }),
        "CANCELLED",
        "aborted download to a path",
      );
      assert.deepEqual(await namesIn(dir), [], "nothing left after an abort");

      // Already aborted before it starts.
      await rejectsWith(
        c.download("big.bin", `${dir}/pre.bin`, { signal: AbortSignal.abort() }),
        "CANCELLED",
        "download with an aborted signal",
      );
      assert.deepEqual(await namesIn(dir), []);

      // Failed on the server.
      await rejectsWith(
        c.download("nope.bin", `${dir}/nope.bin`),
        "NOT_FOUND",
        "failed download to a path",
      );
      assert.deepEqual(await namesIn(dir), []);

      // Into the directory itself (target named after the remote).
      const abort2 = new AbortController();
      await rejectsWith(
        c.download("big.bin", dir, { signal: abort2.signal, onProgress: () => abort2.abort() }),
        "CANCELLED",
        "aborted download into a directory",
      );
      assert.deepEqual(await namesIn(dir), []);

      // An existing local file is kept as it was when the download is aborted.
      await Deno.writeTextFile(`${dir}/keep.bin`, "previous");
      const abort3 = new AbortController();
      await rejectsWith(
        c.download("big.bin", `${dir}/keep.bin`, {
          signal: abort3.signal,
          onProgress: (p) => {
            if (p.bytes > 0) abort3.abort();
          },
        }),
        "CANCELLED",
        "aborted download over an existing file",
      );
      assert.deepEqual(await namesIn(dir), ["keep.bin"]);
      assert.equal(await Deno.readTextFile(`${dir}/keep.bin`), "previous");

      assert.equal((await c.list()).length, 1, "the client is still usable");
    });
  });
});

// ---------------------------------------------------------------------------------------------
// 8. Shutdown

Deno.test("shutdown by admin: shutdown() resolves, the server finishes, new connections are refused", async () => {
  await withServer(async (t) => {
    const other = await t.client(TOKENS.read);
    try {
      await withClient(t, TOKENS.admin, async (c) => {
        await c.shutdown();
        const finished = await settlesWithin(t.server.finished, 10_000);
        assert.ok(
          finished.settled && !("error" in finished && finished.error),
          "server.finished resolved",
        );
        const closed = await settlesWithin(c.closed, 5_000);
        assert.ok(closed.settled, "the admin's connection was closed by the server");
      });
      const closed = await settlesWithin(other.closed, 5_000);
      assert.ok(closed.settled, "an idle client's connection was closed by the server");
      // The server said why before closing (an id-0 SHUTTING_DOWN, PROTOCOL.md §4.6): later
      // operations on the closed connection fail with that.
      await rejectsWith(other.list(), "SHUTTING_DOWN", "operations on a closed connection");
      await rejectsWith(t.client(TOKENS.admin), "UNREACHABLE", "connect after shutdown");
      assert.ok(t.logs.some((l) => l.event === "stopped"));
    } finally {
      other.close();
      await other.closed;
    }
  });
});

Deno.test("shutdown lets an in-flight upload finish within the grace period and refuses new operations", async () => {
  await withServer(async (t) => {
    const data = randomBytes(300 * KiB);
    await withClient(t, TOKENS.write, async (writer) => {
      const feed = handFedStream();
      const upload = writer.upload(feed.stream, "late.bin");
      upload.catch(() => {}); // may reject while the test awaits something else
      try {
        feed.push(data.subarray(0, 100 * KiB));
        await waitFor(async () => (await namesIn(t.root)).length === 1, "the temp file");
        await withClient(t, TOKENS.admin, (admin) => admin.shutdown());
        await rejectsWith(writer.list(), "SHUTTING_DOWN", "a new operation during shutdown");
        await rejectsWith(t.client(TOKENS.admin), "UNREACHABLE", "connect during shutdown");
        feed.push(data.subarray(100 * KiB));
        feed.end();
      } catch (err) {
        feed.fail(err);
        throw err;
      } finally {
        await upload.catch(() => {});
      }
      assert.equal((await upload).sha256, sha256Hex(data), "the upload in flight completed");
      const finished = await settlesWithin(t.server.finished, 10_000);
      assert.ok(finished.settled, "server.finished resolved");
      assert.ok((await settlesWithin(writer.closed, 5_000)).settled, "the writer was disconnected");
    });
    assertSameBytes(await Deno.readFile(`${t.root}/late.bin`), data, "committed upload");
    assert.deepEqual(await namesIn(t.root), ["late.bin"]);
  });
});

Deno.test("shutdown cuts off a stalled upload when the grace period ends and removes its temp file", async () => {
  await withServer(async (t) => {
    await Deno.writeTextFile(`${t.root}/doc.txt`, "version 1");
    await withClient(t, TOKENS.write, async (writer) => {
      const feed = handFedStream();
      const upload = writer.upload(feed.stream, "doc.txt");
      // The upload rejects as soon as the server cuts the connection, while this test is still
      // awaiting the shutdown: observe it now, assert on it below.
      upload.catch(() => {});
      try {
        feed.push(randomBytes(100 * KiB));
        await waitFor(async () => (await namesIn(t.root)).length === 2, "the temp file");
        const started = performance.now();
        await t.server.shutdown("test");
        assert.ok(performance.now() - started < 5_000, "the grace period bounds the shutdown");
        assert.ok(
          (await settlesWithin(writer.closed, 5_000)).settled,
          "the writer was disconnected",
        );
      } finally {
        feed.push(new Uint8Array(1));
        await upload.catch(() => {});
      }
      // Cut off with an id-0 SHUTTING_DOWN, which fails every request in flight (§2.2).
      await rejectsWith(upload, "SHUTTING_DOWN", "the cut-off upload");
    });
    assert.deepEqual(await namesIn(t.root), ["doc.txt"], "the temp file was removed");
    assert.equal(await Deno.readTextFile(`${t.root}/doc.txt`), "version 1");
  }, { shutdownGraceMs: 300 });
});

// ---------------------------------------------------------------------------------------------
// Deadlines and limits

Deno.test("a connection that does not authenticate in time is told TIMEOUT and closed", async () => {
  await withServer(async (t) => {
    const raw = await openRaw(t);
    try {
      await raw.send(encodeHello({ id: 1, minVersion: 1, maxVersion: 1, agent: "slow" }));
      expectFrame(await raw.next(), SERVICES.WELCOME, "HELLO");
      expectError(await raw.next(2_000), "TIMEOUT", 0, "the authentication deadline");
      assert.equal(await raw.next(2_000), null, "the server closed the connection");
    } finally {
      await raw.close();
    }
  }, { authTimeoutMs: 300 });
});

Deno.test("an idle client is told TIMEOUT and closed; its next operation fails with TIMEOUT", async () => {
  await withServer(async (t) => {
    await withClient(t, TOKENS.read, async (c) => {
      assert.deepEqual(await c.list(), []);
      assert.ok(
        (await settlesWithin(c.closed, 3_000)).settled,
        "the server closed the idle connection",
      );
      await rejectsWith(c.list(), "TIMEOUT", "an operation after the idle timeout");
    });
    assert.ok(t.logs.some((l) => l.event === "idle" && l.result === "TIMEOUT"));
  }, { idleTimeoutMs: 300 });
});

Deno.test("past maxConnections a new client is refused with BUSY; the others keep working", async () => {
  await withServer(async (t) => {
    const a = await t.client(TOKENS.read);
    try {
      const b = await t.client(TOKENS.read);
      try {
        for (let i = 0; i < 5; i++) {
          await rejectsWith(t.client(TOKENS.admin), "BUSY", `third client #${i}`);
        }
        assert.deepEqual(await a.list(), []);
        assert.deepEqual(await b.list(), []);
      } finally {
        b.close();
        await b.closed;
      }
      assert.equal(t.logs.filter((l) => l.event === "refused" && l.result === "BUSY").length, 5);
      await waitFor(
        () => t.logs.some((l) => l.event === "disconnect"),
        "the second client's disconnect",
      );
      await withClient(t, TOKENS.admin, async (c) => assert.deepEqual(await c.list(), []));
    } finally {
      a.close();
      await a.closed;
    }
  }, { maxConnections: 2 });
});

// ---------------------------------------------------------------------------------------------
// 9. Replacing a file

Deno.test("replace: a failed upload (wrong checksum) leaves the old version intact", async () => {
  await withServer(async (t) => {
    const v1 = randomBytes(300 * KiB);
    await withClient(t, TOKENS.write, async (c) => {
      await c.upload(v1, "doc.bin");
    });
    const raw = await openRaw(t);
    try {
      await rawLogin(raw, TOKENS.write);
      const v2 = randomBytes(1536 * KiB);
      await raw.send(...rawUpload(20, "doc.bin", v2, sha256Bytes(v1)));
      expectError(await raw.next(), "CHECKSUM_MISMATCH", 20, "replacement with a wrong checksum");
    } finally {
      await raw.close();
    }
    assertSameBytes(await Deno.readFile(`${t.root}/doc.bin`), v1, "old version");
    assert.deepEqual(await namesIn(t.root), ["doc.bin"], "no temp file");
  });
});

Deno.test("replace: an upload over maxUploadBytes is TOO_LARGE and leaves the old version intact", async () => {
  await withServer(async (t) => {
    const v1 = randomBytes(100 * KiB);
    await withClient(t, TOKENS.write, async (c) => {
      await c.upload(v1, "doc.bin");
      // Declared size over the limit: refused at once.
      await rejectsWith(c.upload(randomBytes(MiB + 1), "doc.bin"), "TOO_LARGE", "declared size");
      // Unknown size: refused once the bytes pass the limit.
      const parts = Array.from({ length: 12 }, () => randomBytes(128 * KiB));
      await rejectsWith(c.upload(streamOf(parts), "doc.bin"), "TOO_LARGE", "streamed size");
      assertSameBytes(await Deno.readFile(`${t.root}/doc.bin`), v1, "old version");
      assert.deepEqual(await namesIn(t.root), ["doc.bin"], "no temp file");
      assert.equal((await c.list("doc.bin"))[0].size, v1.length, "the client is still usable");
    });
  }, { maxUploadBytes: MiB });
});

Deno.test("replace: a cancelled upload leaves the old version intact and no temp file", async () => {
  await withServer(async (t) => {
    const v1 = randomBytes(300 * KiB);
    await withClient(t, TOKENS.write, async (c) => {
      await c.upload(v1, "doc.bin");
      const abort = new AbortController();
      await rejectsWith(
        c.upload(randomBytes(4 * MiB), "doc.bin", {
          signal: abort.signal,
          onProgress: () => abort.abort(),
        }),
        "CANCELLED",
        "cancelled upload",
      );
      await waitFor(async () => (await namesIn(t.root)).length === 1, "the temp file to go");
      assertSameBytes(await Deno.readFile(`${t.root}/doc.bin`), v1, "old version");
      const sink = collector();
      await c.download("doc.bin", sink.stream);
      assertSameBytes(sink.bytes(), v1, "old version served");
    });
    assert.ok(t.logs.some((l) => l.op === "put" && l.result === "CANCELLED"));
    assert.deepEqual(await namesIn(t.root), ["doc.bin"]);
  });
});

Deno.test("replace: an upload cut off by the connection closing leaves the old version intact and keeps only a hidden resumable partial", async () => {
  await withServer(async (t) => {
    const v1 = randomBytes(100 * KiB);
    await Deno.writeFile(`${t.root}/doc.bin`, v1);
    const raw = await openRaw(t);
    try {
      await rawLogin(raw, TOKENS.write);
      await raw.send(
        encodeUpload({ id: 30, size: 3 * MiB, mtime: null, path: "doc.bin" }),
        encodeDataFrames(SERVICES.UPLOAD_DATA, 30, randomBytes(2 * MiB)),
      );
      await waitFor(async () => (await namesIn(t.root)).length === 2, "the temp file");
    } finally {
      await raw.close();
    }
    await waitFor(() => t.logs.some((l) => l.event === "disconnect"), "the disconnect");
    const names = await namesIn(t.root);
    assert.equal(names.length, 2, names.join());
    const partial = names.find((n) => n !== "doc.bin") ?? "";
    assert.match(partial, /^\.ferry-[0-9a-f]{32}\.partial$/, "a resumable partial is kept");
    assert.ok((await Deno.stat(`${t.root}/${partial}`)).size <= 2 * MiB);
    assertSameBytes(await Deno.readFile(`${t.root}/doc.bin`), v1, "old version");
    await withClient(t, TOKENS.read, async (c) => {
      assert.deepEqual((await c.list()).map((e) => e.name), ["doc.bin"], "the partial is hidden");
    });
  });
});

Deno.test("replace: a successful upload replaces the file atomically; readers see old or new, never a mix", async () => {
  await withServer(async (t) => {
    const v1 = randomBytes(512 * KiB);
    const v2 = randomBytes(768 * KiB);
    await withClient(t, TOKENS.write, async (writer) => {
      await writer.upload(v1, "doc.bin");
      await withClient(t, TOKENS.read, async (reader) => {
        const feed = handFedStream();
        const upload = writer.upload(feed.stream, "doc.bin");
        upload.catch(() => {}); // may reject while the test awaits something else
        try {
          feed.push(v2.subarray(0, 512 * KiB));
          await waitFor(async () => (await namesIn(t.root)).length === 2, "the temp file");
          // Mid-upload, the old version is what readers get.
          const sink = collector();
          await reader.download("doc.bin", sink.stream);
          assertSameBytes(sink.bytes(), v1, "old version while the new one is uploading");
          assert.equal((await reader.list("doc.bin"))[0].size, v1.length);
          feed.push(v2.subarray(512 * KiB));
          feed.end();
        } catch (err) {
          feed.fail(err);
          throw err;
        } finally {
          await upload.catch(() => {});
        }
        assert.equal((await upload).sha256, sha256Hex(v2));
        const sink = collector();
        await reader.download("doc.bin", sink.stream);
        assertSameBytes(sink.bytes(), v2, "new version after the upload");
      });
    });
    assert.deepEqual(await namesIn(t.root), ["doc.bin"]);
  });
});

// ---------------------------------------------------------------------------------------------
// Regressions: aborts and failing sources during uploads, special files on the server

Deno.test("aborting an upload whose stream source is waiting for data rejects at once with CANCELLED", async () => {
  await withServer(async (t) => {
    await withClient(t, TOKENS.write, async (c) => {
      const feed = handFedStream();
      const abort = new AbortController();
      const upload = c.upload(feed.stream, "stalled.bin", { signal: abort.signal });
      upload.catch(() => {}); // may reject while the test awaits something else
      try {
        feed.push(randomBytes(64 * KiB));
        await waitFor(async () => (await namesIn(t.root)).length === 1, "the temp file");
        abort.abort();
        const outcome = await settlesWithin(upload, 10_000);
        assert.ok(
          outcome.settled,
          "upload() must reject with CANCELLED once the signal aborts, without more data",
        );
        assert.ok(outcome.error instanceof FerryError && outcome.error.code === "CANCELLED");
      } finally {
        // Release the upload loop so nothing is left running.
        try {
          feed.push(new Uint8Array(1));
          feed.end();
        } catch {
          // the stream was already cancelled
        }
        await upload.catch(() => {});
      }
      await waitFor(async () => (await namesIn(t.root)).length === 0, "the temp file to go");
    });
  });
});

Deno.test("an upload with an already-aborted signal is refused, even with an empty source", async () => {
  await withServer(async (t) => {
    await withClient(t, TOKENS.write, async (c) => {
      await rejectsWith(
        c.upload(new Uint8Array(0), "should-not-exist", { signal: AbortSignal.abort() }),
        "CANCELLED",
        "upload with an aborted signal",
      );
      assert.deepEqual(await namesIn(t.root), [], "nothing is stored");
    });
  });
});

Deno.test("an upload whose ReadableStream source fails rejects with a FerryError (LOCAL_IO)", async () => {
  await withServer(async (t) => {
    await Deno.writeTextFile(`${t.root}/doc.txt`, "version 1");
    await withClient(t, TOKENS.write, async (c) => {
      let n = 0;
      const failing = new ReadableStream<Uint8Array>({
        pull(ctrl) {
          if (n++ < 3) ctrl.enqueue(randomBytes(100 * KiB));
          else ctrl.error(new Error("the source broke"));
        },
      });
      const err = await c.upload(failing, "doc.txt").then(() => null, (e) => e);
      // The server was told to cancel: no temp file, the old version intact, connection usable.
      await waitFor(async () => (await namesIn(t.root)).length === 1, "the temp file to go");
      assert.equal(await Deno.readTextFile(`${t.root}/doc.txt`), "version 1");
      assert.equal((await c.list()).length, 1);
      assert.ok(err !== null, "the upload must fail");
      assert.ok(
        err instanceof FerryError,
        `every error is a FerryError (mod.ts); got ${err?.constructor?.name}: ${err?.message}`,
      );
      assert.equal(err.code, "LOCAL_IO");
    });
  });
});

Deno.test("downloading a FIFO in the root is refused with BAD_ARGUMENT and shutdown still finishes", async () => {
  await withServer(async (t) => {
    const fifo = `${t.root}/fifo`;
    const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.ok(made.success, "mkfifo");
    await withClient(t, TOKENS.read, async (c) => {
      assert.deepEqual((await c.list()).map((e) => [e.name, e.kind]), [["fifo", "other"]]);
      const download = c.download("fifo", collector().stream);
      const got = await settlesWithin(download, 10_000);
      const shutdown = t.server.shutdown("test");
      const finished = await settlesWithin(t.server.finished, 10_000);
      if (!got.settled) {
        // Unblock the server's Deno.open(fifo, read) by opening the other end.
        const writer = await Deno.open(fifo, { write: true });
        writer.close();
      }
      await download.catch(() => {});
      await shutdown;
      const problems: string[] = [];
      if (!got.settled) problems.push("get of a FIFO did not settle within 10 s");
      else if (!(got.error instanceof FerryError && got.error.code === "BAD_ARGUMENT")) {
        problems.push(`get of a FIFO: expected BAD_ARGUMENT, got ${got.error}`);
      }
      if (!finished.settled) {
        problems.push("server.finished did not resolve 10 s after shutdown (grace 300 ms)");
      }
      assert.deepEqual(problems, []);
    });
  }, { shutdownGraceMs: 300 });
});

Deno.test("raw: bytes after a Data_Len that lied are garbage: BAD_FRAME, then the server closes (row 3b)", async () => {
  await withServer(async (t) => {
    const raw = await openRaw(t);
    try {
      await rawLogin(raw);
      // A LIST whose Data_Len says 4 bytes (just the id), followed by the path it left out and
      // more junk: the leftovers parse as a header with an unknown version and service.
      const list = encodePathRequest(SERVICES.LIST, { id: 5, path: "." });
      const lying = list.slice(0, HEADER_SIZE + 4);
      new DataView(lying.buffer).setUint16(6, 4);
      await raw.send(lying, new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0xca, 0xfe, 0x00, 0x02, 0, 0]));
      expectError(await raw.next(), "BAD_ARGUMENT", 5, "the short LIST");
      expectError(await raw.next(), "BAD_FRAME", 0, "the garbage");
      assert.equal(await raw.next(2_000), null, "the server closed the connection");
    } finally {
      await raw.close();
    }
    await withClient(t, TOKENS.read, async (c) => assert.deepEqual(await c.list(), []));
  });
});
