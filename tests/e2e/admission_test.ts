/**
 * End to end, who gets in: the per-address and global connection caps (BUSY, and past
 * MAX_REFUSING refusals at once, a drop without a handshake), and the back-off after failed
 * logins, per address (catalogue rows 27, 34). Connections from 127.0.0.2 come through a relay.
 * File descriptors of this process return to their baseline.
 */

import assert from "node:assert/strict";
import type { FerryError } from "../../mod.ts";
import { encodeAuth, encodeHello } from "../../protocol/messages/mod.ts";
import { SERVICES } from "../../protocol/services.ts";
import { MAX_REFUSING } from "../../server/server.ts";
import {
  closeQuietly,
  errorOf,
  expectError,
  expectFrame,
  fdCount,
  KiB,
  openRaw,
  openTcp,
  rejectsWith,
  relay,
  roundTrip,
  sleep,
  tcpClosedWithin,
  TOKENS,
  waitFor,
  withClient,
  withServer,
} from "../_helpers/mod.ts";

Deno.test("per-address cap: past maxConnectionsPerIp a client is told BUSY (id 0) and closed; another address still gets in; fds return to baseline", async () => {
  const baseline = fdCount();
  await withServer(async (t) => {
    const fromTwo = relay(t.port, { from: "127.0.0.2" });
    const held = [];
    try {
      for (let i = 0; i < 3; i++) held.push(await t.client(TOKENS.read));
      // Extra connections from 127.0.0.1: BUSY right after the handshake.
      for (let i = 0; i < 5; i++) {
        const raw = await openRaw(t.port, t.ca);
        try {
          const f = await raw.next();
          expectError(f, "BUSY", `extra connection #${i}`, 0);
          assert.match(errorOf(f)!.message, /your address/);
          assert.ok(await raw.closedWithin(2_000), "then closed");
        } finally {
          await raw.close();
        }
      }
      // The library reports it as BUSY too.
      await assert.rejects(t.client(TOKENS.read), (e) => (e as FerryError).code === "BUSY");
      // 127.0.0.2 has its own allowance.
      const other = await t.client(TOKENS.write, fromTwo.port);
      try {
        await other.upload(new TextEncoder().encode("from .2"), "two.txt");
        assert.deepEqual((await other.list()).map((e) => e.name), ["two.txt"]);
      } finally {
        other.close();
        await other.closed;
      }
      await waitFor(
        () => t.logs.some((l) => String(l.peer).startsWith("127.0.0.2:") && l.event === "connect"),
        "the server saw 127.0.0.2",
      );
      // The held connections kept working throughout.
      for (const c of held) assert.equal((await c.list()).length, 1);
      // Closing one frees a place.
      const first = held.shift()!;
      first.close();
      await first.closed;
      await waitFor(
        () => t.logs.filter((l) => l.event === "disconnect" && l.user === "bob").length >= 1,
        "the first client's disconnect",
      );
      held.push(await t.client(TOKENS.read));
    } finally {
      for (const c of held) {
        c.close();
        await c.closed;
      }
      await fromTwo.close();
    }
    assert.equal(
      t.logs.filter((l) => l.event === "refused" && l.result === "BUSY").length,
      6,
      "six refusals were logged",
    );
  }, { maxConnectionsPerIp: 3, maxConnections: 50 });
  await waitFor(() => fdCount() <= baseline, `fd count back to ${baseline}`);
});

Deno.test(`global cap: BUSY past maxConnections; past ${MAX_REFUSING} refusals at once, connections are dropped without a handshake; fds return to baseline`, async () => {
  const baseline = fdCount();
  await withServer(async (t) => {
    const a = await t.client(TOKENS.read);
    const b = await t.client(TOKENS.read);
    const sockets: Deno.TcpConn[] = [];
    try {
      for (let i = 0; i < MAX_REFUSING + 36; i++) sockets.push(await openTcp(t.port));
      // The ones past MAX_REFUSING are dropped at once; the others wait for their handshake.
      await waitFor(
        () => t.logs.filter((l) => l.event === "refused" && l.handshake === false).length === 36,
        "36 connections dropped without a handshake",
      );
      await waitFor(
        () =>
          t.logs.filter((l) => l.event === "handshake" && l.result === "TIMEOUT").length ===
            MAX_REFUSING,
        "the handshake deadline of the refused ones",
      );
      // A client arriving now is told BUSY; running clients are unaffected.
      await assert.rejects(t.client(TOKENS.admin), (e) => (e as FerryError).code === "BUSY");
      assert.deepEqual(await a.list(), []);
      assert.deepEqual(await b.list(), []);
      // The server closed every one of them (dropped, or at the handshake deadline), though
      // they are still open on this side.
      const closedByServer = await Promise.all(sockets.map((s) => tcpClosedWithin(s, 2_000)));
      assert.equal(closedByServer.filter(Boolean).length, sockets.length);
    } finally {
      for (const s of sockets) closeQuietly(s);
      a.close();
      b.close();
      await a.closed;
      await b.closed;
    }
    await waitFor(
      () => t.logs.filter((l) => l.event === "disconnect" && l.user === "bob").length === 2,
      "both disconnects",
    );
    await roundTrip(t.port, t.ca, "after.bin", 64 * KiB);
  }, { maxConnections: 2, maxConnectionsPerIp: 1_000, handshakeTimeoutMs: 1_000 });
  await waitFor(() => fdCount() <= baseline, `fd count back to ${baseline}`);
});

Deno.test("auth back-off: after 5 failures an address is locked out (BUSY, even with the right token), 127.0.0.2 still logs in, and the lockout ends", async () => {
  await withServer(async (t) => {
    const fromTwo = relay(t.port, { from: "127.0.0.2" });
    try {
      const guesses: string[] = [];
      for (let conn = 0; conn < 3; conn++) {
        const raw = await openRaw(t.port, t.ca);
        try {
          await raw.send(encodeHello({ id: 1, minVersion: 1, maxVersion: 1, agent: "guess" }));
          expectFrame(await raw.next(), SERVICES.WELCOME, "HELLO");
          for (let i = 0; i < 3; i++) {
            await raw.send(encodeAuth({ id: 10 + i, token: `guess-${conn}-${i}` }));
            const e = errorOf(await raw.next());
            assert.ok(e !== undefined, "an AUTH answer");
            guesses.push(e.code);
          }
          assert.ok(await raw.closedWithin(2_000), "closed after three failures");
        } finally {
          await raw.close();
        }
      }
      assert.deepEqual(guesses, [
        ...Array(5).fill("UNAUTHENTICATED"),
        ...Array(4).fill("BUSY"),
      ]);
      // Locked out: even the right token is not considered.
      const refused = await t.client(TOKENS.write).then(
        (c) => (c.close(), assert.fail("a locked-out address logged in")),
        (e: FerryError) => e,
      );
      assert.equal(refused.code, "BUSY");
      assert.match(refused.message, /failed logins.*try again in \d+ s/);
      // From another address, logging in works at once.
      const other = await t.client(TOKENS.write, fromTwo.port);
      other.close();
      await other.closed;
      // Once the lockout is over, 127.0.0.1 logs in again.
      await sleep(1_600);
      await roundTrip(t.port, t.ca, "after-lockout.bin", 4 * KiB);
    } finally {
      await fromTwo.close();
    }
    const checked = t.logs.filter((l) => l.op === "auth" && l.result === "UNAUTHENTICATED");
    assert.equal(checked.length, 5, "only five tokens were ever checked");
    assert.ok(t.logs.some((l) => l.op === "auth" && l.lockout_ms === 1_500));
    assert.ok(!t.logs.some((l) => JSON.stringify(l).includes(TOKENS.write)), "no token logged");
  }, { authFailuresPerIp: 5, authLockoutMs: 1_500 });
});

Deno.test("auth back-off: a burst of 600 guesses over 200 connections is throttled to a handful of checks; another address is unaffected (row 27)", async () => {
  await withServer(async (t) => {
    const fromTwo = relay(t.port, { from: "127.0.0.2" });
    try {
      const answers = new Map<string, number>();
      const attacker = async (n: number) => {
        const raw = await openRaw(t.port, t.ca);
        try {
          const frames = [encodeHello({ id: 1, minVersion: 1, maxVersion: 1, agent: "burst" })];
          for (let i = 0; i < 3; i++) frames.push(encodeAuth({ id: 2 + i, token: `g${n}.${i}` }));
          await raw.send(...frames);
          while (true) {
            const f = await raw.next(10_000);
            if (f === null) break;
            const e = errorOf(f);
            if (e) answers.set(e.code, (answers.get(e.code) ?? 0) + 1);
          }
        } finally {
          await raw.close();
        }
      };
      for (let wave = 0; wave < 10; wave++) {
        await Promise.all(Array.from({ length: 20 }, (_, i) => attacker(wave * 20 + i)));
      }
      assert.equal(answers.get("UNAUTHENTICATED"), 5, JSON.stringify([...answers]));
      assert.equal(answers.get("BUSY"), 595);
      await roundTrip(fromTwo.port, t.ca, "other-address.bin", 8 * KiB);
    } finally {
      await fromTwo.close();
    }
  }, { authFailuresPerIp: 5, authLockoutMs: 60_000, maxConnectionsPerIp: 1_000 });
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
        5_000,
      );
      await withClient(t, TOKENS.admin, async (c) => assert.deepEqual(await c.list(), []));
    } finally {
      a.close();
      await a.closed;
    }
  }, { maxConnections: 2 });
});
