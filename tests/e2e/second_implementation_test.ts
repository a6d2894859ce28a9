/**
 * Where an independent client, written from PROTOCOL.md alone, found the server and the text
 * apart, and the server was the one fixed: a data frame or EOF the server refuses fails its
 * upload with one ERROR (§4, §4.5); DUPLICATE_REQUEST answers the new frame and leaves the
 * request in flight alone (§2.2); UPLOAD_STATUS is BUSY while another upload holds the name, as
 * UPLOAD_RESUME is (§4.5a); the path length limit and its boundary (§7). Raw frames over real
 * TLS against a live server.
 */

import assert from "node:assert/strict";
import type { Frame } from "../../protocol/frame.ts";
import {
  decodeDigest,
  decodeIdOnly,
  encodeEof,
  encodeMkdir,
  encodePathRequest,
  encodeUpload,
  encodeUploadResume,
  encodeUploadStatus,
} from "../../protocol/messages/mod.ts";
import { SERVICES } from "../../protocol/services.ts";
import {
  errorOf,
  expectError,
  expectFrame,
  localOnly,
  namesIn,
  openRaw,
  rawLogin,
  sha256Bytes as sha256,
  startServer,
  STORAGE_KINDS,
  TOKENS,
  withRawServer,
} from "../_helpers/mod.ts";
import { encodeFrame } from "../protocol/_frames.ts";

const encoder = new TextEncoder();

const isOk = (f: Frame | null, id: number, what: string) =>
  assert.equal(decodeIdOnly(expectFrame(f, SERVICES.OK, what).payload), id, what);

/** One UPLOAD_DATA frame of `data` for `id`, with frame Version `version`. */
function dataFrame(id: number, data: Uint8Array, version = 1): Uint8Array {
  const payload = new Uint8Array(4 + data.length);
  new DataView(payload.buffer).setUint32(0, id);
  payload.set(data, 4);
  return encodeFrame({ ...SERVICES.UPLOAD_DATA, version, payload });
}

/** An EOF frame for `id` with a raw `size` field (the encoder refuses all ones). */
function eofFrame(id: number, size: bigint, digest: Uint8Array, version = 1): Uint8Array {
  const payload = new Uint8Array(44);
  const v = new DataView(payload.buffer);
  v.setUint32(0, id);
  v.setBigUint64(4, size);
  payload.set(digest, 12);
  return encodeFrame({ ...SERVICES.EOF, version, payload });
}

for (const kind of STORAGE_KINDS) {
  Deno.test(`upload (${kind}): a data frame or EOF the server refuses fails the upload with exactly one ERROR; its temporary is removed (§4, §4.5)`, async () => {
    const data = encoder.encode("0123456789");
    const digest = sha256(data);
    const cases: { what: string; code: string; bad: (id: number) => Uint8Array; eof: boolean }[] = [
      {
        what: "UPLOAD_DATA with Version 2",
        code: "UNSUPPORTED_VERSION",
        bad: (id) => dataFrame(id, data.subarray(5, 7), 2),
        eof: false,
      },
      {
        what: "EOF with a short payload",
        code: "BAD_ARGUMENT",
        bad: (id) => eofFrame(id, 10n, digest).subarray(0, 8 + 20),
        eof: true,
      },
      {
        what: "EOF with size all ones",
        code: "BAD_ARGUMENT",
        bad: (id) => eofFrame(id, 0xffff_ffff_ffff_ffffn, digest),
        eof: true,
      },
      {
        what: "EOF with Version 2",
        code: "UNSUPPORTED_VERSION",
        bad: (id) => eofFrame(id, 10n, digest, 2),
        eof: true,
      },
    ];
    await withRawServer(kind, async (t, raw) => {
      let id = 100;
      for (const c of cases) {
        const upload = ++id;
        const marker = ++id;
        const path = `f${upload}.bin`;
        // Fix the header of the short EOF: Data_Len must say what follows.
        let bad = c.bad(upload);
        if (bad.length === 8 + 20) {
          bad = bad.slice();
          new DataView(bad.buffer).setUint16(6, 20);
        }
        await raw.send(
          encodeUpload({ id: upload, size: data.length, mtime: null, path }),
          dataFrame(upload, data.subarray(0, 5)),
          bad,
          // What a client would send next: the rest and a valid EOF.
          dataFrame(upload, data.subarray(5)),
          eofFrame(upload, 10n, digest),
          encodePathRequest(SERVICES.STAT, { id: marker, path: "." }),
        );
        expectError(await raw.next(), c.code, c.what, upload);
        if (c.eof) {
          // The refused EOF was the upload's EOF: what follows is a stray frame's, never an OK.
          expectError(await raw.next(), "UNKNOWN_REQUEST", `${c.what}: later data`, upload);
          expectError(await raw.next(), "UNKNOWN_REQUEST", `${c.what}: later EOF`, upload);
        }
        expectFrame(await raw.next(), SERVICES.STAT_RESULT, `${c.what}: then the STAT's answer`);
        assert.equal(raw.pending.length, 0, `${c.what}: nothing else was answered`);
        assert.ok(!(await t.files.names()).includes(path), `${c.what}: nothing committed`);
      }
      assert.deepEqual(await t.files.temporaries(), [], "every temporary was removed");
      // The connection is still usable: the same upload, sent right, is stored.
      await raw.send(
        encodeUpload({ id: 500, size: data.length, mtime: null, path: "good.bin" }),
        dataFrame(500, data),
        eofFrame(500, 10n, digest),
      );
      isOk(await raw.next(), 500, "a good upload afterwards");
      assert.deepEqual(await t.files.read("good.bin"), data);
    });
  });

  Deno.test(`DUPLICATE_REQUEST (${kind}): it names the new frame's id and does not end the request in flight, an upload receiving data or one refused before its EOF (§2.2)`, async () => {
    await withRawServer(kind, async (t, raw) => {
      const data = encoder.encode("abcdef");
      // A LIST under a running upload's id: refused; the upload goes on to its OK.
      await raw.send(
        encodeUpload({ id: 4, size: data.length, mtime: null, path: "dup.bin" }),
        dataFrame(4, data.subarray(0, 3)),
        encodePathRequest(SERVICES.LIST, { id: 4, path: "." }),
        encodePathRequest(SERVICES.STAT, { id: 4, path: "." }),
        dataFrame(4, data.subarray(3)),
        encodeEof({ id: 4, size: data.length, digest: sha256(data) }),
      );
      expectError(await raw.next(), "DUPLICATE_REQUEST", "LIST under the upload's id", 4);
      expectError(await raw.next(), "DUPLICATE_REQUEST", "STAT under the upload's id", 4);
      isOk(await raw.next(), 4, "the upload ends with its own OK");
      assert.deepEqual(await t.files.read("dup.bin"), data);
      // An upload refused before its data is in flight until its EOF: a STAT under its id is
      // refused too, and after the EOF the id is free again.
      await raw.send(
        encodeUpload({ id: 7, size: 3, mtime: null, path: "../out" }),
        encodePathRequest(SERVICES.STAT, { id: 7, path: "." }),
        dataFrame(7, encoder.encode("xyz")),
        encodeEof({ id: 7, size: 3, digest: sha256(encoder.encode("xyz")) }),
        encodePathRequest(SERVICES.STAT, { id: 7, path: "." }),
      );
      expectError(await raw.next(), "OUTSIDE_ROOT", "the refused upload", 7);
      expectError(await raw.next(), "DUPLICATE_REQUEST", "STAT before the refused EOF", 7);
      expectFrame(await raw.next(), SERVICES.STAT_RESULT, "STAT after that EOF");
      assert.equal(raw.pending.length, 0, "nothing else was answered");
      // An UPLOAD under the id of an upload receiving data, even one with a bad path: refused
      // before its payload is read, and the running upload fails too (two ERRORs, no OK);
      // everything with that id up to the next EOF is dropped.
      await raw.send(
        encodeUpload({ id: 8, size: data.length, mtime: null, path: "first.bin" }),
        dataFrame(8, data.subarray(0, 2)),
        encodeUpload({ id: 8, size: data.length, mtime: null, path: "../second" }),
        dataFrame(8, data.subarray(2)),
        encodeEof({ id: 8, size: data.length, digest: sha256(data) }),
        encodePathRequest(SERVICES.STAT, { id: 9, path: "." }),
      );
      expectError(await raw.next(), "DUPLICATE_REQUEST", "the running upload", 8);
      expectError(await raw.next(), "DUPLICATE_REQUEST", "the new UPLOAD", 8);
      expectFrame(await raw.next(), SERVICES.STAT_RESULT, "then the STAT's answer");
      assert.equal(raw.pending.length, 0, "nothing else was answered");
      assert.ok(!(await t.files.names()).includes("first.bin"), "the running upload failed");
      // The same when the reusing UPLOAD is refused before its id is looked at (a Version the
      // server does not speak): the running upload fails too, rather than wait forever for
      // data frames that are now dropped.
      const v2 = encodeUpload({ id: 12, size: data.length, mtime: null, path: "v2.bin" }).slice();
      new DataView(v2.buffer).setUint16(4, 2);
      await raw.send(
        encodeUpload({ id: 12, size: data.length, mtime: null, path: "third.bin" }),
        dataFrame(12, data.subarray(0, 2)),
        v2,
        dataFrame(12, data.subarray(2)),
        encodeEof({ id: 12, size: data.length, digest: sha256(data) }),
        encodePathRequest(SERVICES.STAT, { id: 13, path: "." }),
      );
      expectError(await raw.next(), "DUPLICATE_REQUEST", "the running upload (v2)", 12);
      expectError(await raw.next(), "UNSUPPORTED_VERSION", "the new UPLOAD (v2)", 12);
      expectFrame(await raw.next(), SERVICES.STAT_RESULT, "then the STAT's answer (v2)");
      assert.equal(raw.pending.length, 0, "nothing else was answered (v2)");
      assert.ok(!(await t.files.names()).includes("third.bin"), "the running upload failed (v2)");
      assert.deepEqual(await t.files.temporaries(), [], "no temporary is left");
    });
  });

  Deno.test(`UPLOAD_STATUS (${kind}): BUSY while another connection is receiving that resumable upload, as UPLOAD_RESUME is; the kept bytes once it stops (§4.5a)`, async () => {
    const t = await startServer({}, { storage: kind });
    try {
      const writer = await openRaw(t.port, t.ca);
      const other = await openRaw(t.port, t.ca);
      try {
        await rawLogin(writer, TOKENS.write);
        await rawLogin(other, TOKENS.write);
        const data = encoder.encode("0123456789");
        const request = { size: data.length, mtime: 1_700_000_000_000, path: "held.bin" };
        await writer.send(
          encodeUpload({ id: 3, ...request }),
          dataFrame(3, data.subarray(0, 4)),
        );
        // In-line requests are answered in order (§2.3): once the STAT is answered, the upload
        // is open and receiving.
        await writer.send(encodePathRequest(SERVICES.STAT, { id: 4, path: "." }));
        expectFrame(await writer.next(), SERVICES.STAT_RESULT, "the writer is past its UPLOAD");
        await other.send(
          encodeUploadStatus({ id: 9, ...request }),
          encodeUploadResume({ id: 10, offset: 0, ...request }),
          dataFrame(10, data),
          encodeEof({ id: 10, size: data.length, digest: sha256(data) }),
        );
        // STATUS runs in the background, RESUME in line: their answers come in either order.
        const answers = [errorOf(await other.next()), errorOf(await other.next())]
          .map((e) => `${e?.id} ${e?.code}`).sort();
        assert.deepEqual(answers, ["10 BUSY", "9 BUSY"], "STATUS and RESUME while it is received");
        // The writer leaves: its 4 bytes are kept, and now STATUS tells them.
        await writer.close();
        let kept = -1;
        for (let i = 0; i < 100 && kept !== 4; i++) {
          await other.send(
            encodeUploadStatus({ id: 20 + i, ...request }),
          );
          const f = await other.next();
          if (errorOf(f) === undefined) {
            kept = decodeDigest(expectFrame(f, SERVICES.UPLOAD_PARTIAL, "STATUS").payload).length;
          } else {
            expectError(f, "BUSY", "until the writer's connection has ended");
            await new Promise((r) => setTimeout(r, 50));
          }
        }
        assert.equal(kept, 4, "the kept bytes are reported once the writer has gone");
      } finally {
        await writer.close();
        await other.close();
      }
    } finally {
      await t.close();
    }
  });
  Deno.test({
    name:
      `MKDIR with parents (${kind}): a symlink to a directory inside the root is a directory, at the path or on the way; one that dangles or leads out is not (§4.5b)`,
    ignore: localOnly("symlinks exist on the local disk only"),
  }, async () => {
    await withRawServer(kind, async (t, raw) => {
      await Deno.mkdir(`${t.root}/real`);
      await Deno.symlink("real", `${t.root}/lnk`);
      await Deno.symlink("nowhere", `${t.root}/dang`);
      await Deno.symlink(t.outside, `${t.root}/out`);
      const cases: [string, boolean, string][] = [
        ["lnk", true, "OK"],
        ["lnk/sub/deeper", true, "OK"],
        ["lnk", false, "ALREADY_EXISTS"],
        ["dang", true, "ALREADY_EXISTS"],
        ["dang/x", true, "NOT_A_DIRECTORY"],
        ["out", true, "ALREADY_EXISTS"],
      ];
      let id = 10;
      for (const [path, parents, code] of cases) {
        await raw.send(encodeMkdir({ id: ++id, parents, path }));
        const what = `MKDIR(${parents ? "parents, " : ""}${path})`;
        if (code === "OK") isOk(await raw.next(), id, what);
        else expectError(await raw.next(), code, what, id);
      }
      assert.ok(
        (await Deno.lstat(`${t.root}/real/sub/deeper`)).isDirectory,
        "made through the link",
      );
      assert.ok((await Deno.lstat(`${t.root}/lnk`)).isSymlink, "the link is left as it was");
      assert.deepEqual(await namesIn(t.outside), [], "nothing was made outside the root");
    });
  });
}

Deno.test({
  name:
    "path length (§7): a path of 4,095 bytes is looked up, one of 4,096 is NAME_TOO_LONG before any file-system call",
  // The path storage hands the kernel the root and the path joined, which is longer.
  ignore: !STORAGE_KINDS.includes("race-free"),
}, async () => {
  await withRawServer("race-free", async (_t, raw) => {
    // 16 components of 255 bytes and 15 separators: 4,095 bytes.
    const fits = Array(16).fill("x".repeat(255)).join("/");
    assert.equal(encoder.encode(fits).length, 4095);
    // 15 of 255, one of 254 and a last one of 1: 4,096 bytes, no component too long.
    const over = [...Array(15).fill("x".repeat(255)), "x".repeat(254), "y"].join("/");
    assert.equal(encoder.encode(over).length, 4096);
    await raw.send(
      encodePathRequest(SERVICES.STAT, { id: 1, path: fits }),
      encodePathRequest(SERVICES.STAT, { id: 2, path: over }),
      encodePathRequest(SERVICES.LIST, { id: 3, path: over }),
    );
    expectError(await raw.next(), "NOT_FOUND", "4,095 bytes", 1);
    for (const id of [2, 3]) {
      const e = errorOf(await raw.next());
      assert.equal(e?.code, "NAME_TOO_LONG", e?.message);
      assert.equal(e?.id, id);
      assert.match(e?.message ?? "", /path is 4096 bytes; the limit is 4095$/);
    }
  });
});
