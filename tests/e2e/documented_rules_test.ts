/**
 * Rules PROTOCOL.md now writes down after an independent client, written from the text alone,
 * found them unwritten: how frames are answered before login and without an id (§2.2, §4.1),
 * stray data frames (§4.7), truncated frames with and without close_notify (§2), the order of
 * the path checks, the empty path, the temporary prefix in any case and where the Windows rules
 * apply (§7), LIST of a symlink (§4.2), RENAME's codes (§4.5b), and AUTH frames that test no
 * token (§4.1). Raw frames over real TLS against a live server.
 */

import assert from "node:assert/strict";
import {
  decodeListEntries,
  encodeAuth,
  encodeDownload,
  encodeEof,
  encodeIdOnly,
  encodeMkdir,
  encodePathRequest,
  encodeRename,
  encodeUpload,
} from "../../protocol/messages/mod.ts";
import { SERVICES } from "../../protocol/services.ts";
import {
  errorOf,
  expectError,
  expectFrame,
  localOnly,
  MiB,
  randomBytes,
  rawLogin,
  startServer,
  TOKENS,
  withRawConn,
  withServer,
} from "../_helpers/mod.ts";
import { encodeFrame } from "../protocol/_frames.ts";

/** A frame of `service` with exactly `payload`. */
function rawFrame(service: { type: number; num: number }, payload: Uint8Array): Uint8Array {
  return encodeFrame({ ...service, version: 1, payload });
}

/** A payload that is only the id `id` and `rest`. */
function idAnd(id: number, rest: Uint8Array = new Uint8Array()): Uint8Array {
  const p = new Uint8Array(4 + rest.length);
  new DataView(p.buffer).setUint32(0, id);
  p.set(rest, 4);
  return p;
}

Deno.test("before login (§4.1, §2.2): UPLOAD_DATA, EOF and CANCEL are UNAUTHENTICATED with their id, a frame without an id ERROR(0, UNAUTHENTICATED); after login a frame without an id is ERROR(0, BAD_ARGUMENT), a CANCEL too", async () => {
  await withServer(async (t) => {
    await withRawConn(t, async (raw) => {
      await raw.send(
        rawFrame(SERVICES.UPLOAD_DATA, idAnd(11, new Uint8Array([1, 2]))),
        encodeEof({ id: 12, size: 2, digest: new Uint8Array(32) }),
        encodeIdOnly(SERVICES.CANCEL, 13),
        rawFrame(SERVICES.LIST, new Uint8Array([0])),
        rawFrame(SERVICES.CANCEL, new Uint8Array()),
      );
      expectError(await raw.next(), "UNAUTHENTICATED", "UPLOAD_DATA", 11);
      expectError(await raw.next(), "UNAUTHENTICATED", "EOF", 12);
      expectError(await raw.next(), "UNAUTHENTICATED", "CANCEL", 13);
      expectError(await raw.next(), "UNAUTHENTICATED", "a LIST of 1 byte", 0);
      expectError(await raw.next(), "UNAUTHENTICATED", "an empty CANCEL", 0);
      await rawLogin(raw);
      await raw.send(
        rawFrame(SERVICES.LIST, new Uint8Array([0])),
        rawFrame(SERVICES.CANCEL, new Uint8Array()),
        rawFrame(SERVICES.UPLOAD_DATA, new Uint8Array([0, 0])),
        encodeIdOnly(SERVICES.CANCEL, 14),
        encodePathRequest(SERVICES.STAT, { id: 15, path: "." }),
      );
      expectError(await raw.next(), "BAD_ARGUMENT", "a LIST of 1 byte", 0);
      expectError(await raw.next(), "BAD_ARGUMENT", "an empty CANCEL", 0);
      expectError(await raw.next(), "BAD_ARGUMENT", "an UPLOAD_DATA of 2 bytes", 0);
      // The CANCEL of nothing is not answered: the next answer is the STAT's.
      expectFrame(await raw.next(), SERVICES.STAT_RESULT, "the connection stays open");
    });
  });
});

Deno.test("stray data (§4.7): UPLOAD_DATA and EOF under a running download's id are UNKNOWN_REQUEST and end nothing; the download completes", async () => {
  await withServer(async (t) => {
    await t.files.write("big.bin", randomBytes(8 * MiB));
    await withRawConn(t, async (raw) => {
      await rawLogin(raw);
      await raw.send(
        encodeDownload({ id: 5, offset: 0, path: "big.bin" }),
        rawFrame(SERVICES.UPLOAD_DATA, idAnd(5, new Uint8Array([1]))),
        encodeEof({ id: 5, size: 1, digest: new Uint8Array(32) }),
      );
      const errors: string[] = [];
      let bytes = 0;
      let eof = false;
      while (!eof || errors.length < 2) {
        const f = await raw.next(20_000);
        assert.ok(f !== null, "the connection stays open");
        const e = errorOf(f);
        if (e !== undefined) {
          assert.equal(e.id, 5);
          errors.push(e.code);
        } else if (f.type === SERVICES.DOWNLOAD_DATA.type && f.num === SERVICES.DOWNLOAD_DATA.num) {
          bytes += f.payload.length - 4;
        } else if (f.type === SERVICES.EOF.type && f.num === SERVICES.EOF.num) eof = true;
      }
      assert.deepEqual(errors, ["UNKNOWN_REQUEST", "UNKNOWN_REQUEST"]);
      assert.equal(bytes, 8 * MiB, "the download sent every byte, then its EOF");
    });
  });
});

Deno.test("truncated frame (§2): after a close_notify the server answers ERROR(0, BAD_FRAME) and closes", async () => {
  await withServer(async (t) => {
    await withRawConn(t, async (raw) => {
      await rawLogin(raw);
      await raw.send(encodePathRequest(SERVICES.LIST, { id: 9, path: "docs" }).subarray(0, 12));
      await raw.closeWrite();
      const e = errorOf(await raw.next());
      assert.equal(e?.id, 0);
      assert.equal(e?.code, "BAD_FRAME");
      assert.match(e?.message ?? "", /^truncated frame: stream ended with 12 bytes/);
      assert.ok(await raw.closedWithin(5_000), "then the server closes");
    });
  });
});

Deno.test("paths (§7): the order of the checks, the empty path, .ferry- in any case; the Windows rules for every component of what is created, not for what is read", async () => {
  await withServer(async (t) => {
    await t.files.mkdir("d");
    await t.files.write("d/f.txt", "f");
    await withRawConn(t, async (raw) => {
      await rawLogin(raw);
      const stat: [string, string][] = [
        ["", "BAD_NAME"],
        ["/a:b", "BAD_NAME"],
        ["a:b/..", "BAD_NAME"],
        ["..\\x", "BAD_NAME"],
        ["/..", "OUTSIDE_ROOT"],
        ["a/../b", "OUTSIDE_ROOT"],
        [".FERRY-x", "BAD_NAME"],
        ["d/.Ferry-1.part", "BAD_NAME"],
        // Reading a name Windows cannot hold is fine: it may exist on the server.
        ["CON", "NOT_FOUND"],
        ["a.", "NOT_FOUND"],
      ];
      let id = 100;
      for (const [path, code] of stat) {
        await raw.send(encodePathRequest(SERVICES.STAT, { id: ++id, path }));
        expectError(await raw.next(), code, `STAT ${JSON.stringify(path)}`, id);
      }
      const creating: [Uint8Array, string][] = [
        [encodeMkdir({ id: ++id, parents: true, path: "con/x" }), "MKDIR parents con/x"],
        [encodeMkdir({ id: ++id, parents: false, path: "COM\u00b9" }), "MKDIR COM¹"],
        [encodeMkdir({ id: ++id, parents: false, path: "conout$.d" }), "MKDIR conout$.d"],
        [encodeMkdir({ id: ++id, parents: false, path: "trail " }), "MKDIR 'trail '"],
        [encodeRename({ id: ++id, replace: false, from: "d/f.txt", to: "d/f." }), "RENAME to f."],
        [
          encodeUpload({ id: ++id, size: 1, mtime: null, path: "lpt3 .txt/y" }),
          "UPLOAD lpt3 .txt/y",
        ],
      ];
      for (const [frame, what] of creating) {
        await raw.send(frame);
        const e = errorOf(await raw.next());
        assert.equal(e?.code, "BAD_NAME", `${what}: ${e?.message}`);
      }
      // Not device names: COM10, console.
      await raw.send(
        encodeMkdir({ id: ++id, parents: false, path: "COM10" }),
        encodeMkdir({ id: ++id, parents: false, path: "console" }),
      );
      for (const what of ["COM10", "console"]) {
        expectFrame(await raw.next(), SERVICES.OK, `MKDIR ${what}`);
      }
    });
  });
});

Deno.test({
  name: "LIST of a symlink (§4.2) follows it",
  ignore: localOnly("symlinks exist on the local disk only"),
  fn: () =>
    withServer(async (t) => {
      await Deno.mkdir(`${t.root}/dir`);
      await Deno.writeTextFile(`${t.root}/dir/inner.txt`, "abc");
      await Deno.writeTextFile(`${t.root}/file.txt`, "12345");
      await Deno.symlink("file.txt", `${t.root}/to_file`);
      await Deno.symlink("dir", `${t.root}/to_dir`);
      await withRawConn(t, async (raw) => {
        await rawLogin(raw);
        await raw.send(encodePathRequest(SERVICES.LIST, { id: 1, path: "to_file" }));
        const one = decodeListEntries(
          expectFrame(await raw.next(), SERVICES.LIST_ENTRIES, "LIST to_file").payload,
        );
        assert.equal(one.last, true);
        assert.deepEqual(
          one.entries.map((e) => [e.kind, e.size, e.name]),
          [["file", 5, "to_file"]],
        );
        await raw.send(encodePathRequest(SERVICES.LIST, { id: 2, path: "to_dir" }));
        const listing = decodeListEntries(
          expectFrame(await raw.next(), SERVICES.LIST_ENTRIES, "LIST to_dir").payload,
        );
        assert.deepEqual(listing.entries.map((e) => e.name), ["inner.txt"]);
      });
    }),
});

Deno.test("RENAME codes (§4.5b): a directory onto a file NOT_A_DIRECTORY, onto a directory ALREADY_EXISTS even with replace", async () => {
  await withServer(async (t) => {
    await t.files.mkdir("dir");
    await t.files.write("dir/inner.txt", "abc");
    await t.files.write("file.txt", "12345");
    await t.files.mkdir("other");
    await withRawConn(t, async (raw) => {
      await rawLogin(raw);
      await raw.send(
        encodeRename({ id: 3, replace: true, from: "dir", to: "file.txt" }),
        encodeRename({ id: 4, replace: true, from: "dir", to: "other" }),
        encodeRename({ id: 5, replace: false, from: "dir", to: "other" }),
        encodeRename({ id: 6, replace: false, from: "missing", to: "x" }),
      );
      expectError(await raw.next(), "NOT_A_DIRECTORY", "a directory onto a file", 3);
      expectError(await raw.next(), "ALREADY_EXISTS", "onto a directory, replace", 4);
      expectError(await raw.next(), "ALREADY_EXISTS", "onto a directory", 5);
      expectError(await raw.next(), "NOT_FOUND", "a missing source", 6);
    });
  });
});

Deno.test("AUTH (§4.1): frames that test no token (short, not UTF-8) do not count as failed logins; the third wrong token closes the connection", async () => {
  const t = await startServer();
  try {
    await withRawConn(t, async (raw) => {
      const notUtf8 = rawFrame(SERVICES.AUTH, idAnd(1, new Uint8Array([0, 2, 0xc3, 0x28])));
      for (let i = 0; i < 3; i++) {
        await raw.send(rawFrame(SERVICES.AUTH, idAnd(1, new Uint8Array([0]))), notUtf8);
        expectError(await raw.next(), "BAD_ARGUMENT", "a short AUTH", 1);
        expectError(await raw.next(), "BAD_NAME", "a token that is not UTF-8", 1);
      }
      for (let i = 0; i < 2; i++) {
        await raw.send(encodeAuth({ id: 2, token: "wrong" }));
        expectError(await raw.next(), "UNAUTHENTICATED", `wrong token ${i + 1}`, 2);
      }
      await raw.send(encodeAuth({ id: 3, token: "wrong" }));
      expectError(await raw.next(), "UNAUTHENTICATED", "wrong token 3", 3);
      assert.ok(await raw.closedWithin(5_000), "closed after the third failed AUTH");
      assert.equal(raw.pending.length, 0, "without an id-0 frame");
    });
    // Three failures from this address so far: a right token still logs in.
    await withRawConn(t, async (raw) => await rawLogin(raw, TOKENS.read));
  } finally {
    await t.close();
  }
});
