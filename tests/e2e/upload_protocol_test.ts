/**
 * Uploads as PROTOCOL.md §4.5 and §4.5a say, where an independent implementation written from
 * the text disagreed with the server (issue 10 item 4 (a), (b), (c), (k)) and mtimes the server
 * cannot store (item 7): each test drives a real server with raw frames or the library, on both
 * storages.
 */

import assert from "node:assert/strict";
import { type ErrorCode, type FerryClient, FerryError } from "../../mod.ts";
import {
  encodeEof,
  encodeHello,
  encodePathRequest,
  encodeUpload,
  encodeUploadResume,
} from "../../protocol/messages/mod.ts";
import { SERVICES } from "../../protocol/services.ts";
import {
  concat,
  errorOf,
  expectError,
  expectFrame,
  openRaw,
  rawLogin,
  sha256Bytes as sha256,
  startServer,
  STORAGE_KINDS,
  TOKENS,
  waitFor,
  withRawServer,
} from "../_helpers/mod.ts";
import { encodeDataFrames, encodeFrame } from "../protocol/_frames.ts";

const encoder = new TextEncoder();

/** 1,100 data frames of 100 bytes each for `id`, then its EOF (Version `version`). */
function dataAndEof(id: number, version = 1): Uint8Array {
  const frames: Uint8Array[] = [];
  for (let i = 0; i < 1100; i++) {
    const payload = new Uint8Array(104);
    new DataView(payload.buffer).setUint32(0, id);
    frames.push(encodeFrame({ ...SERVICES.UPLOAD_DATA, version, payload }));
  }
  const eof = encodeEof({ id, size: 110_000, digest: new Uint8Array(32) });
  new DataView(eof.buffer).setUint16(4, version);
  frames.push(eof);
  return concat(frames);
}

/** An UPLOAD payload with raw fields (for values the encoder refuses to write). */
function uploadPayload(id: number, size: bigint, mtime: bigint, path: Uint8Array): Uint8Array {
  const p = new Uint8Array(22 + path.length);
  const v = new DataView(p.buffer);
  v.setUint32(0, id);
  v.setBigUint64(4, size);
  v.setBigUint64(12, mtime);
  v.setUint16(20, path.length);
  p.set(path, 22);
  return p;
}

for (const kind of STORAGE_KINDS) {
  Deno.test(`upload (${kind}): a refused UPLOAD is answered once, its 1,100 data frames and EOF are dropped silently (§4.5, issue 10 (b))`, async () => {
    const cases: {
      what: string;
      code: ErrorCode;
      frame: (id: number) => Uint8Array;
      v?: number;
    }[] = [
      {
        what: "a path that is not UTF-8",
        code: "BAD_NAME",
        frame: (id) =>
          encodeFrame({
            ...SERVICES.UPLOAD,
            version: 1,
            payload: uploadPayload(id, 10n, 0xffff_ffff_ffff_ffffn, new Uint8Array([0x61, 0xff])),
          }),
      },
      {
        what: "a size above 2^53-1",
        code: "BAD_ARGUMENT",
        frame: (id) =>
          encodeFrame({
            ...SERVICES.UPLOAD,
            version: 1,
            payload: uploadPayload(id, 1n << 60n, 0n, encoder.encode("x")),
          }),
      },
      {
        what: "a short payload",
        code: "BAD_ARGUMENT",
        frame: (id) =>
          encodeFrame({
            ...SERVICES.UPLOAD,
            version: 1,
            payload: uploadPayload(id, 10n, 0n, new Uint8Array()).subarray(0, 9),
          }),
      },
      {
        what: "frame Version 2",
        code: "UNSUPPORTED_VERSION",
        frame: (id) =>
          encodeFrame({
            ...SERVICES.UPLOAD,
            version: 2,
            payload: uploadPayload(id, 10n, 0n, encoder.encode("v2.bin")),
          }),
        v: 2,
      },
      {
        what: "a refused path",
        code: "OUTSIDE_ROOT",
        frame: (id) => encodeUpload({ id, size: 110_000, mtime: null, path: "../x" }),
      },
    ];
    await withRawServer(kind, async (_t, raw) => {
      let id = 10;
      for (const c of cases) {
        const upload = ++id;
        const marker = ++id;
        await raw.send(
          c.frame(upload),
          dataAndEof(upload, c.v),
          encodePathRequest(SERVICES.STAT, { id: marker, path: "." }),
        );
        expectError(await raw.next(), c.code, c.what, upload);
        const next = await raw.next();
        expectFrame(next, SERVICES.STAT_RESULT, `${c.what}: the next answer is the STAT's`);
        assert.equal(raw.pending.length, 0, `${c.what}: nothing else was answered`);
      }
    });
    // Before AUTH: one UNAUTHENTICATED, silence, and the connection still logs in.
    await withRawServer(kind, async (_t, raw) => {
      await raw.send(
        encodeUpload({ id: 5, size: 110_000, mtime: null, path: "early.bin" }),
        dataAndEof(5),
        encodeHello({ id: 6, minVersion: 1, maxVersion: 1, agent: "raw" }),
      );
      expectError(await raw.next(), "UNAUTHENTICATED", "before AUTH", 5);
      expectFrame(await raw.next(), SERVICES.WELCOME, "then the HELLO's answer");
      assert.equal(raw.pending.length, 0, "nothing else was answered");
      await rawLogin(raw, TOKENS.write);
    }, false);
  });

  Deno.test(`upload (${kind}): UPLOAD_RESUME at offset 0 with nothing kept is a fresh resumable upload (§4.5a, issue 10 (a))`, async () => {
    await withRawServer(kind, async (t, raw) => {
      const data = encoder.encode("resumed from nothing\n");
      await raw.send(
        encodeUploadResume({ id: 7, offset: 0, size: data.length, mtime: null, path: "r.txt" }),
        encodeDataFrames(SERVICES.UPLOAD_DATA, 7, data),
        encodeEof({ id: 7, size: data.length, digest: sha256(data) }),
      );
      expectFrame(await raw.next(), SERVICES.OK, "UPLOAD_RESUME(0) with nothing kept");
      assert.deepEqual(await t.files.read("r.txt"), data);
      // At an offset past what is kept (nothing), it stays BAD_ARGUMENT.
      await raw.send(
        encodeUploadResume({ id: 8, offset: 5, size: data.length, mtime: null, path: "s.txt" }),
        encodeDataFrames(SERVICES.UPLOAD_DATA, 8, data.subarray(5)),
        encodeEof({ id: 8, size: data.length, digest: sha256(data) }),
      );
      expectError(await raw.next(), "BAD_ARGUMENT", "UPLOAD_RESUME(5) with nothing kept", 8);
      assert.equal(raw.pending.length, 0, "its data frames and EOF were dropped silently");
    });
  });

  Deno.test(`upload (${kind}): after a resume, EOF carries the whole file's size and SHA-256 (§3, §4.5a, issue 10 (c))`, async () => {
    await withRawServer(kind, async (t, raw) => {
      const data = encoder.encode("0123456789abcdefghij");
      const request = { size: data.length, mtime: 1_600_000_000_000, path: "w.txt" };
      // Keep 8 bytes: send them and drop the connection.
      const first = await openRaw(t.port, t.ca);
      try {
        await rawLogin(first, TOKENS.write);
        await first.send(
          encodeUpload({ id: 3, ...request }),
          encodeDataFrames(SERVICES.UPLOAD_DATA, 3, data.subarray(0, 8)),
        );
        // The STAT's answer comes after the UPLOAD and its data were handled.
        await first.send(encodePathRequest(SERVICES.STAT, { id: 4, path: "." }));
        expectFrame(await first.next(), SERVICES.STAT_RESULT, "STAT");
      } finally {
        await first.close();
      }
      await waitFor(
        () => t.logs.some((l) => l.event === "disconnect" && l.user === "alice"),
        "the server to see the first connection end",
      );
      // (on S3 the checkpoint of what arrived is written as the connection ends)
      await waitFor(async () => (await t.files.kept()).length === 1, "a partial to be kept");
      // Only the bytes sent after the resume in the EOF: refused, the kept bytes stay.
      await raw.send(
        encodeUploadResume({ id: 9, offset: 8, ...request }),
        encodeDataFrames(SERVICES.UPLOAD_DATA, 9, data.subarray(8)),
        encodeEof({ id: 9, size: data.length - 8, digest: sha256(data.subarray(8)) }),
      );
      expectError(await raw.next(), "CHECKSUM_MISMATCH", "EOF of the bytes sent only", 9);
      // The whole file's size and digest: committed.
      await raw.send(
        encodeUploadResume({ id: 10, offset: 0, ...request }),
        encodeDataFrames(SERVICES.UPLOAD_DATA, 10, data),
        encodeEof({ id: 10, size: data.length, digest: sha256(data) }),
      );
      expectFrame(await raw.next(), SERVICES.OK, "EOF of the whole file");
      assert.deepEqual(await t.files.read("w.txt"), data);
    });
  });

  Deno.test(`upload (${kind}): an mtime outside the representable range is BAD_ARGUMENT, never stored as 1970 (issue 10 item 7)`, async () => {
    await withRawServer(kind, async (t, raw) => {
      for (const [id, mtime] of [[20, 8.64e15 + 1], [21, Number.MAX_SAFE_INTEGER]]) {
        await raw.send(
          encodeFrame({
            ...SERVICES.UPLOAD,
            version: 1,
            payload: uploadPayload(id, 3n, BigInt(mtime), encoder.encode("late.bin")),
          }),
          encodeDataFrames(SERVICES.UPLOAD_DATA, id, encoder.encode("abc")),
          encodeEof({ id, size: 3, digest: sha256(encoder.encode("abc")) }),
        );
        const answer = await raw.next();
        expectError(answer, "BAD_ARGUMENT", `mtime ${mtime}`, id);
        assert.match(errorOf(answer)?.message ?? "", /modification time/);
      }
      assert.equal(raw.pending.length, 0);
      assert.deepEqual(await t.files.names(), [], "nothing was stored");
      // A time in range is kept as sent.
      await raw.send(
        encodeUpload({ id: 22, size: 3, mtime: 1_000, path: "old.bin" }),
        encodeDataFrames(SERVICES.UPLOAD_DATA, 22, encoder.encode("abc")),
        encodeEof({ id: 22, size: 3, digest: sha256(encoder.encode("abc")) }),
      );
      expectFrame(await raw.next(), SERVICES.OK, "an mtime of 1 s");
      assert.equal(await t.files.mtime("old.bin"), 1_000);
    });
  });

  Deno.test(`errors (${kind}): the codes PROTOCOL.md names for uploads under a file, mkdir -p over a file, moves into itself, deleting ".", hashing a directory (issue 10 (k))`, async () => {
    const t = await startServer({}, { storage: kind });
    let c: FerryClient | undefined;
    try {
      c = await t.client(TOKENS.write);
      const client = c;
      await client.mkdir("d/sub", { parents: true });
      await client.upload(encoder.encode("x"), "f");
      const cases: [string, ErrorCode, () => Promise<unknown>][] = [
        ["UPLOAD under a file", "NOT_A_DIRECTORY", () => client.upload(encoder.encode("y"), "f/x")],
        ["MKDIR -p over a file", "ALREADY_EXISTS", () => client.mkdir("f", { parents: true })],
        [
          "MKDIR -p through a file",
          "NOT_A_DIRECTORY",
          () => client.mkdir("f/g", { parents: true }),
        ],
        ["MKDIR over a file", "ALREADY_EXISTS", () => client.mkdir("f")],
        ["RENAME into itself", "BAD_ARGUMENT", () => client.rename("d", "d/sub/d")],
        ["DELETE .", "BAD_NAME", () => client.remove(".")],
        ["HASH of a directory", "IS_A_DIRECTORY", () => client.hash("d")],
      ];
      for (const [what, code, run] of cases) {
        await assert.rejects(run(), (err) => {
          assert.ok(err instanceof FerryError, `${what}: ${err}`);
          assert.equal(err.code, code, `${what}: ${err.message}`);
          return true;
        });
      }
    } finally {
      c?.close();
      await c?.closed;
      await t.close();
    }
  });
}
