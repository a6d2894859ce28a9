/**
 * The rules of PROTOCOL.md that an independent implementation found unwritten or unkept
 * (issue 10 points d-m), checked with raw frames against a live server: the order of in-line
 * requests (§2.3), DUPLICATE_REQUEST for every request under an id in flight (§2.2), a late
 * CANCEL ignored so an id can be reused at once (§4.7), the flood budget counting CANCELs (§4.8),
 * BUSY at login past the logged-in limit (§4.1), SHUTTING_DOWN (id 0) to every connection after
 * CLOSE_SERVER (§4.6), and the error codes of DELETE `.`, HASH of a directory and RENAME into
 * itself (§4.3, §4.5b).
 */

import assert from "node:assert/strict";
import type { Frame } from "../../protocol/frame.ts";
import {
  decodeEof,
  decodeIdOnly,
  decodeStatResult,
  encodeAuth,
  encodeDownload,
  encodeHashRequest,
  encodeHello,
  encodeIdOnly,
  encodeMkdir,
  encodePathRequest,
  encodeRename,
} from "../../protocol/messages/mod.ts";
import { SERVICES } from "../../protocol/services.ts";
import { UNKNOWN_SIZE } from "../../protocol/bytes.ts";
import {
  errorOf,
  expectError,
  expectFrame,
  MiB,
  openRaw,
  randomBytes,
  rawLogin,
  startServer,
  STORAGE_KINDS,
  TOKENS,
  withRawConn,
  withServer,
} from "../_helpers/mod.ts";

const isOk = (f: Frame | null, id: number, what: string) =>
  assert.equal(decodeIdOnly(expectFrame(f, SERVICES.OK, what).payload), id, what);

Deno.test("order (§2.3): requests handled in line take effect, and are answered, in the order they were sent", async () => {
  await withServer(async (t) => {
    await withRawConn(t, async (raw) => {
      await rawLogin(raw);
      // All pipelined in one write, none waiting for an answer.
      await raw.send(
        encodeMkdir({ id: 10, parents: false, path: "a" }),
        encodeRename({ id: 11, replace: false, from: "a", to: "b" }),
        encodePathRequest(SERVICES.STAT, { id: 12, path: "b" }),
        encodePathRequest(SERVICES.DELETE, { id: 13, path: "b" }),
        encodePathRequest(SERVICES.STAT, { id: 14, path: "b" }),
      );
      isOk(await raw.next(), 10, "MKDIR");
      isOk(await raw.next(), 11, "RENAME");
      const stat = decodeStatResult(
        expectFrame(await raw.next(), SERVICES.STAT_RESULT, "STAT").payload,
      );
      assert.equal(stat.id, 12);
      assert.equal(stat.entry.kind, "dir");
      isOk(await raw.next(), 13, "DELETE");
      expectError(await raw.next(), "NOT_FOUND", "STAT after DELETE", 14);
    });
  });
});

Deno.test("DUPLICATE_REQUEST (§2.2): STAT, MKDIR, RENAME, HASH, HELLO, AUTH and CLOSE_SERVER under a running download's id are refused and do nothing; the download completes", async () => {
  await withServer(async (t) => {
    await t.files.write("big.bin", randomBytes(32 * MiB));
    await t.files.write("small.txt", "s");
    await withRawConn(t, async (raw) => {
      await rawLogin(raw, TOKENS.admin);
      const id = 7;
      await raw.send(
        encodeDownload({ id, offset: 0, path: "big.bin" }),
        encodePathRequest(SERVICES.STAT, { id, path: "small.txt" }),
        encodeMkdir({ id, parents: false, path: "made" }),
        encodeRename({ id, replace: false, from: "small.txt", to: "moved.txt" }),
        encodeHashRequest({ id, length: UNKNOWN_SIZE, path: "small.txt" }),
        encodeHello({ id, minVersion: 1, maxVersion: 1, agent: "again" }),
        encodeAuth({ id, token: TOKENS.admin }),
        encodeIdOnly(SERVICES.CLOSE_SERVER, id),
      );
      const refusals: string[] = [];
      let eof: Frame | undefined;
      while (eof === undefined) {
        const f = await raw.next(20_000);
        assert.ok(f !== null, "the connection stays open");
        const e = errorOf(f);
        if (e !== undefined) {
          assert.equal(e.id, id);
          refusals.push(e.code);
          continue;
        }
        assert.notDeepEqual([f.type, f.num], [SERVICES.STAT_RESULT.type, SERVICES.STAT_RESULT.num]);
        assert.notDeepEqual([f.type, f.num], [SERVICES.OK.type, SERVICES.OK.num]);
        if (f.type === SERVICES.EOF.type && f.num === SERVICES.EOF.num) eof = f;
      }
      assert.deepEqual(refusals, Array(7).fill("DUPLICATE_REQUEST"));
      assert.equal(decodeEof(eof.payload).size, 32 * MiB, "the download completed");
      // Nothing was done: no directory, no rename, and the server still serves.
      await raw.send(encodePathRequest(SERVICES.STAT, { id: 8, path: "small.txt" }));
      expectFrame(await raw.next(), SERVICES.STAT_RESULT, "the server still serves");
    });
    assert.ok(!t.logs.some((l) => l.event === "shutdown"), "CLOSE_SERVER was not run");
    assert.equal(await t.files.exists("made"), false, "no directory made");
    assert.equal(await t.files.exists("moved.txt"), false, "no rename");
  });
});

Deno.test("late CANCEL (§4.7): a CANCEL for a request that has ended is ignored, and its id can be reused at once", async () => {
  await withServer(async (t) => {
    await t.files.write("a.txt", "a");
    await withRawConn(t, async (raw) => {
      await rawLogin(raw);
      await raw.send(encodePathRequest(SERVICES.STAT, { id: 5, path: "a.txt" }));
      expectFrame(await raw.next(), SERVICES.STAT_RESULT, "STAT");
      // Too late: the STAT has ended. Reuse its id right after the CANCEL.
      await raw.send(
        encodeIdOnly(SERVICES.CANCEL, 5),
        encodePathRequest(SERVICES.DELETE, { id: 5, path: "a.txt" }),
        encodeIdOnly(SERVICES.CANCEL, 999), // never existed
        encodeMkdir({ id: 6, parents: false, path: "d" }),
      );
      isOk(await raw.next(), 5, "the DELETE reusing id 5 (no answer to the CANCEL)");
      isOk(await raw.next(), 6, "the MKDIR (no answer to the CANCEL of 999)");
    });
  });
});

Deno.test("flood budget (§4.8): CANCELs of nothing are not answered but still cost; past the budget, BUSY (id 0) and a close", async () => {
  await withServer(async (t) => {
    await withRawConn(t, async (raw) => {
      await rawLogin(raw);
      await raw.send(
        ...Array.from({ length: 60 }, (_, i) => encodeIdOnly(SERVICES.CANCEL, 100 + i)),
      );
      expectError(await raw.next(), "BUSY", "past the budget: the first frame to come", 0);
      assert.ok(await raw.closedWithin(2_000), "closed");
      assert.deepEqual(raw.pending, [], "no answer to any CANCEL");
    });
  }, { floodBudget: 50, floodRefillPerSecond: 1 });
});

Deno.test("BUSY at login (§4.1): a token accepted while the logged-in pool is full is answered ERROR(0, BUSY) and the connection closed; connections not logged in do not count", async () => {
  await withServer(async (t) => {
    // Both connect (not logged in, so neither counts against maxConnections: 1)...
    const a = await openRaw(t.port, t.ca);
    const b = await openRaw(t.port, t.ca);
    try {
      // B is served before login (a server counting every connection would refuse it)...
      await b.send(encodeHello({ id: 1, minVersion: 1, maxVersion: 1, agent: "b" }));
      expectFrame(await b.next(), SERVICES.WELCOME, "B's HELLO");
      // ...then A logs in and takes the one place, and B's login finds it taken.
      await rawLogin(a);
      await b.send(encodeAuth({ id: 2, token: TOKENS.write }));
      const e = errorOf(await b.next());
      assert.equal(e?.code, "BUSY");
      assert.equal(e?.id, 0);
      assert.match(e?.message ?? "", /limit of 1 connections/);
      assert.ok(await b.closedWithin(2_000), "B is closed");
      // A keeps working.
      await a.send(encodePathRequest(SERVICES.STAT, { id: 3, path: "." }));
      expectFrame(await a.next(), SERVICES.STAT_RESULT, "A");
    } finally {
      await a.close();
      await b.close();
    }
  }, { maxConnections: 1 });
});

Deno.test("CLOSE_SERVER (§4.6): idle connections, logged in or not, and the admin's own are told SHUTTING_DOWN (id 0) before they are closed", async () => {
  await withServer(async (t) => {
    const idle = await openRaw(t.port, t.ca);
    const anonymous = await openRaw(t.port, t.ca);
    const admin = await openRaw(t.port, t.ca);
    try {
      await rawLogin(idle, TOKENS.read);
      await anonymous.send(encodeHello({ id: 1, minVersion: 1, maxVersion: 1, agent: "anon" }));
      expectFrame(await anonymous.next(), SERVICES.WELCOME, "HELLO");
      await rawLogin(admin, TOKENS.admin);
      await admin.send(encodeIdOnly(SERVICES.CLOSE_SERVER, 3));
      isOk(await admin.next(), 3, "CLOSE_SERVER");
      for (
        const [what, raw] of [["idle", idle], ["not logged in", anonymous], [
          "admin",
          admin,
        ]] as const
      ) {
        expectError(await raw.next(5_000), "SHUTTING_DOWN", what, 0);
        assert.equal(await raw.next(5_000), null, `${what}: then closed`);
      }
      await t.server.finished;
    } finally {
      for (const r of [idle, anonymous, admin]) await r.close();
    }
  });
});

for (const kind of STORAGE_KINDS) {
  Deno.test(`error codes (${kind}) (§4.3, §4.5b): DELETE . is BAD_NAME, HASH of a directory IS_A_DIRECTORY, RENAME into itself BAD_ARGUMENT, RENAME to itself OK, RENAME of or onto . BAD_NAME`, async () => {
    const t = await startServer({}, { storage: kind });
    try {
      await t.files.mkdir("d");
      await t.files.mkdir("d/sub");
      await withRawConn(t, async (raw) => {
        await rawLogin(raw);
        await raw.send(
          encodePathRequest(SERVICES.DELETE, { id: 1, path: "." }),
          encodeHashRequest({ id: 2, length: UNKNOWN_SIZE, path: "d" }),
          encodeHashRequest({ id: 3, length: UNKNOWN_SIZE, path: "." }),
          encodeRename({ id: 4, replace: false, from: "d", to: "d/sub/x" }),
          encodeRename({ id: 5, replace: false, from: "d", to: "d" }),
          encodeRename({ id: 6, replace: false, from: ".", to: "e" }),
          encodeRename({ id: 7, replace: true, from: "d", to: "." }),
        );
        const answers = new Map<number, Frame | null>();
        for (let i = 0; i < 7; i++) {
          const f = await raw.next();
          const id = errorOf(f)?.id ?? decodeIdOnly(f!.payload);
          answers.set(id, f);
        }
        expectError(answers.get(1)!, "BAD_NAME", "DELETE .", 1);
        expectError(answers.get(2)!, "IS_A_DIRECTORY", "HASH d", 2);
        expectError(answers.get(3)!, "IS_A_DIRECTORY", "HASH .", 3);
        expectError(answers.get(4)!, "BAD_ARGUMENT", "RENAME d d/sub/x", 4);
        isOk(answers.get(5)!, 5, "RENAME d d");
        expectError(answers.get(6)!, "BAD_NAME", "RENAME . e", 6);
        expectError(answers.get(7)!, "BAD_NAME", "RENAME d .", 7);
      });
      assert.equal(await t.files.kind("d/sub"), "dir", "the tree is untouched");
      assert.equal(await t.files.exists("e"), false);
    } finally {
      await t.close();
    }
  });
}
