/**
 * End to end, frames the client library would never send, written with the protocol codec on a
 * raw TLS connection (tests/_helpers/raw.ts): unknown services and versions, requests before
 * AUTH, failed logins, truncated and lying frames, unknown request ids, wrong checksums.
 *
 * A real server (tests/_helpers/server.ts) over real TLS on 127.0.0.1, driven by the real client
 * library; every client and server is closed in `finally`, with the resource and op sanitizers
 * on.
 */

import assert from "node:assert/strict";
import {
  decodeIdOnly,
  encodeAuth,
  encodeDownload,
  encodeEof,
  encodeHello,
  encodeIdOnly,
  encodePathRequest,
  encodeUpload,
} from "../../protocol/messages/mod.ts";
import { SERVICES } from "../../protocol/services.ts";
import { HEADER_SIZE } from "../../protocol/frame.ts";
import { UNKNOWN_SIZE } from "../../protocol/bytes.ts";
import { encodeDataFrames, encodeFrame } from "../protocol/_frames.ts";
import {
  assertSameBytes,
  expectError,
  expectFrame,
  KiB,
  MiB,
  namesIn,
  openRaw,
  randomBytes,
  rawList,
  rawLogin,
  rawUpload,
  sha256Bytes,
  TOKENS,
  waitFor,
  withClient,
  withServer,
} from "../_helpers/mod.ts";

const encoder = new TextEncoder();

Deno.test("raw: an unknown service is answered ERROR UNSUPPORTED with its id; the connection stays usable", async () => {
  await withServer(async (t) => {
    await Deno.writeTextFile(`${t.root}/f.txt`, "f");
    const raw = await openRaw(t.port, t.ca);
    try {
      const id = 0x01020304;
      const payload = new Uint8Array([1, 2, 3, 4]);
      await raw.send(encodeFrame({ type: 9, num: 9, version: 1, payload }));
      expectError(await raw.next(), "UNSUPPORTED", "service (9,9)", id);
      // A server-to-client service sent by a client is unsupported too.
      await raw.send(encodeIdOnly(SERVICES.OK, 77));
      expectError(await raw.next(), "UNSUPPORTED", "OK sent by a client", 77);
      await rawLogin(raw, TOKENS.admin);
      await raw.send(encodeFrame({ type: 9, num: 9, version: 1, payload }));
      expectError(await raw.next(), "UNSUPPORTED", "service (9,9) after AUTH", id);
      assert.deepEqual((await rawList(raw, 5)).map((e) => e.name), ["f.txt"]);
    } finally {
      await raw.close();
    }
  });
});

Deno.test("raw: a frame with Version 99 is answered UNSUPPORTED_VERSION; the connection stays usable", async () => {
  await withServer(async (t) => {
    const raw = await openRaw(t.port, t.ca);
    try {
      const hello = encodeHello({ id: 41, minVersion: 1, maxVersion: 1, agent: "v99" });
      new DataView(hello.buffer).setUint16(4, 99, false);
      await raw.send(hello);
      expectError(await raw.next(), "UNSUPPORTED_VERSION", "HELLO in version 99", 41);
      await rawLogin(raw, TOKENS.admin);
      const list = encodePathRequest(SERVICES.LIST, { id: 42, path: "." });
      new DataView(list.buffer).setUint16(4, 99, false);
      await raw.send(list);
      expectError(await raw.next(), "UNSUPPORTED_VERSION", "LIST in version 99", 42);
      // HELLO asking only for versions the server does not speak.
      await raw.send(encodeHello({ id: 43, minVersion: 2, maxVersion: 7, agent: "future" }));
      expectError(await raw.next(), "UNSUPPORTED_VERSION", "HELLO for versions 2..7", 43);
      assert.deepEqual(await rawList(raw, 44), []);
    } finally {
      await raw.close();
    }
  });
});

Deno.test("raw: LIST, DOWNLOAD, UPLOAD and DELETE before AUTH are UNAUTHENTICATED and touch no file", async () => {
  await withServer(async (t) => {
    await Deno.writeTextFile(`${t.root}/secret.txt`, "secret");
    const raw = await openRaw(t.port, t.ca);
    try {
      await raw.send(encodeHello({ id: 1, minVersion: 1, maxVersion: 1, agent: "e2e" }));
      expectFrame(await raw.next(), SERVICES.WELCOME, "HELLO");
      await raw.send(encodePathRequest(SERVICES.LIST, { id: 10, path: "." }));
      expectError(await raw.next(), "UNAUTHENTICATED", "LIST before AUTH", 10);
      await raw.send(encodeDownload({ id: 11, offset: 0, path: "secret.txt" }));
      expectError(await raw.next(), "UNAUTHENTICATED", "DOWNLOAD before AUTH", 11);
      await raw.send(
        ...rawUpload(12, "planted.txt", encoder.encode("x"), sha256Bytes(encoder.encode("x"))),
      );
      // One ERROR for the refused upload; its data frames and EOF are dropped silently
      // (PROTOCOL.md §4.5), so the next answer is the DELETE's.
      expectError(await raw.next(), "UNAUTHENTICATED", "UPLOAD before AUTH", 12);
      await raw.send(encodePathRequest(SERVICES.DELETE, { id: 13, path: "secret.txt" }));
      expectError(await raw.next(), "UNAUTHENTICATED", "DELETE before AUTH", 13);
      await raw.send(encodeIdOnly(SERVICES.CLOSE_SERVER, 14));
      expectError(await raw.next(), "UNAUTHENTICATED", "CLOSE_SERVER before AUTH", 14);
      await raw.send(encodeIdOnly(SERVICES.CANCEL, 15));
      expectError(await raw.next(), "UNAUTHENTICATED", "CANCEL before AUTH", 15);
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
    const raw = await openRaw(t.port, t.ca);
    try {
      await raw.send(encodeHello({ id: 1, minVersion: 1, maxVersion: 1, agent: "e2e" }));
      expectFrame(await raw.next(), SERVICES.WELCOME, "HELLO");
      for (const id of [2, 3, 4]) {
        await raw.send(encodeAuth({ id, token: `wrong-${id}` }));
        expectError(await raw.next(), "UNAUTHENTICATED", `AUTH #${id - 1}`, id);
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
    const raw = await openRaw(t.port, t.ca);
    try {
      await raw.send(encodeHello({ id: 1, minVersion: 1, maxVersion: 1, agent: "e2e" }));
      expectFrame(await raw.next(), SERVICES.WELCOME, "HELLO");
      await raw.send(new Uint8Array([0, 0, 0]));
      await raw.closeWrite();
      const f = await raw.next();
      expectError(f, "BAD_FRAME", "truncated header", 0);
      assert.equal(await raw.next(), null, "the server closed the connection");
    } finally {
      await raw.close();
    }
    await waitFor(
      () => t.logs.some((l) => l.event === "disconnect"),
      "the disconnect log line",
      5_000,
    );
    const line = t.logs.find((l) => l.event === "disconnect")!;
    assert.match(String(line.reason), /truncated/, "the log says why");
    await withClient(t, TOKENS.admin, async (c) => assert.deepEqual(await c.list(), []));
  });
});

Deno.test("raw: UPLOAD_DATA and EOF for an unknown request id are UNKNOWN_REQUEST, a CANCEL for one is ignored; the connection stays usable", async () => {
  await withServer(async (t) => {
    const raw = await openRaw(t.port, t.ca);
    try {
      await rawLogin(raw, TOKENS.admin);
      await raw.send(encodeDataFrames(SERVICES.UPLOAD_DATA, 777, encoder.encode("orphan")));
      expectError(await raw.next(), "UNKNOWN_REQUEST", "UPLOAD_DATA", 777);
      await raw.send(encodeEof({ id: 778, size: 0, sha256: new Uint8Array(32) }));
      expectError(await raw.next(), "UNKNOWN_REQUEST", "EOF", 778);
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
    const raw = await openRaw(t.port, t.ca);
    try {
      await rawLogin(raw, TOKENS.admin);
      const data = randomBytes(2 * MiB + 5);
      const wrong = sha256Bytes(data);
      wrong[0] ^= 1;
      await raw.send(...rawUpload(9, "bad.bin", data, wrong));
      expectError(await raw.next(), "CHECKSUM_MISMATCH", "wrong sha256", 9);
      assert.deepEqual(await namesIn(t.root), [], "no file and no temporary file");
      // A wrong size in the EOF is refused the same way.
      const small = encoder.encode("twelve bytes");
      await raw.send(
        encodeUpload({ id: 10, size: UNKNOWN_SIZE, mtime: null, path: "bad2.bin" }),
        encodeDataFrames(SERVICES.UPLOAD_DATA, 10, small),
        encodeEof({ id: 10, size: small.length + 1, sha256: sha256Bytes(small) }),
      );
      expectError(await raw.next(), "CHECKSUM_MISMATCH", "wrong size", 10);
      assert.deepEqual(await namesIn(t.root), []);
      assert.deepEqual(await rawList(raw, 11), [], "the connection is still usable");
    } finally {
      await raw.close();
    }
  });
});

Deno.test("raw: bytes after a Data_Len that lied are garbage: BAD_FRAME, then the server closes (row 3b)", async () => {
  await withServer(async (t) => {
    const raw = await openRaw(t.port, t.ca);
    try {
      await rawLogin(raw, TOKENS.admin);
      // A LIST whose Data_Len says 4 bytes (just the id), followed by the path it left out and
      // more junk: the leftovers parse as a header with an unknown version and service.
      const list = encodePathRequest(SERVICES.LIST, { id: 5, path: "." });
      const lying = list.slice(0, HEADER_SIZE + 4);
      new DataView(lying.buffer).setUint16(6, 4);
      await raw.send(lying, new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0xca, 0xfe, 0x00, 0x02, 0, 0]));
      expectError(await raw.next(), "BAD_ARGUMENT", "the short LIST", 5);
      expectError(await raw.next(), "BAD_FRAME", "the garbage", 0);
      assert.equal(await raw.next(2_000), null, "the server closed the connection");
    } finally {
      await raw.close();
    }
    await withClient(t, TOKENS.read, async (c) => assert.deepEqual(await c.list(), []));
  });
});
