/**
 * Hardening: connection caps per address, the back-off after failed logins, the flood budget,
 * deadlines (handshake, login, idle, write stall) and bounded buffering for clients that stop
 * reading (catalogue rows 8, 27, 32-36). Unit tests of the trackers, then live tests over real
 * TLS, some against a server in a child process so its memory and CPU can be read in /proc.
 */

import assert from "node:assert/strict";
import { connect, type FerryError } from "../mod.ts";
import {
  addressKey,
  AuthThrottle,
  DEFAULT_LIMITS,
  FloodBudget,
  peerAddressKey,
} from "../server/limits.ts";
import { floodCost } from "../server/connection.ts";
import { MAX_REFUSING } from "../server/server.ts";
import { parseDuration, parseSize } from "../server/config.ts";
import {
  encodeAuth,
  encodeDownload,
  encodeHello,
  encodeIdOnly,
  encodePathRequest,
  encodeUpload,
} from "../protocol/messages/mod.ts";
import { SERVICES } from "../protocol/services.ts";
import { randomBytes, startServer, type TestServer, TOKENS } from "./helpers.ts";
import {
  closeQuietly,
  errorOf,
  expectError,
  expectFrame,
  fdCount,
  openRaw,
  openTcp,
  rawLogin,
  relayFrom,
  roundTrip,
  sleep,
  spawnServer,
  tcpClosedWithin,
  waitFor,
} from "./raw.ts";
import { concat } from "./bytes.ts";
import { encodeDataFrames } from "./protocol/_frames.ts";

const KiB = 1024;
const MiB = 1024 * 1024;

async function withServer(
  limits: Parameters<typeof startServer>[0],
  fn: (t: TestServer) => Promise<void>,
): Promise<void> {
  const t = await startServer(limits);
  try {
    await fn(t);
  } finally {
    await t.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Units

Deno.test("addressKey: IPv4 as is, IPv4-mapped IPv6 as IPv4, other IPv6 by its /64", () => {
  assert.equal(addressKey("127.0.0.1"), "127.0.0.1");
  assert.equal(addressKey("::ffff:10.1.2.3"), "10.1.2.3");
  assert.equal(addressKey("[::ffff:7f00:1]"), "127.0.0.1");
  assert.equal(addressKey("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
  assert.equal(addressKey("2001:DB8:1:2::ffff"), "2001:db8:1:2::/64");
  assert.equal(addressKey("2001:db8::1"), "2001:db8:0:0::/64");
  assert.equal(addressKey("fe80::1%eth0"), "fe80:0:0:0::/64");
  assert.equal(addressKey("::1"), "0:0:0:0::/64");
  assert.equal(peerAddressKey("127.0.0.2:5555"), "127.0.0.2");
  assert.equal(peerAddressKey("[2001:db8:0:7::9]:443"), "2001:db8:0:7::/64");
  // Whatever it is given, it returns a string and never throws.
  for (const junk of ["", ":::", "1:2:3:4:5:6:7:8:9", "x", "[", "::g"]) {
    assert.equal(typeof addressKey(junk), "string");
    assert.equal(typeof peerAddressKey(junk), "string");
  }
});

const THROTTLE = {
  authFailuresPerIp: 5,
  authFailureWindowMs: 60_000,
  authLockoutMs: 2_000,
  authLockoutMaxMs: 300_000,
  trackedAddresses: 1_000,
};

Deno.test("AuthThrottle: an address is locked out after N failures; lockouts double up to the max; others unaffected", () => {
  const th = new AuthThrottle(THROTTLE);
  let now = 1_000_000;
  for (let i = 1; i < 5; i++) {
    assert.equal(th.fail("1.2.3.4", now), 0, `failure ${i} is not yet a lockout`);
    assert.equal(th.lockedFor("1.2.3.4", now), 0);
  }
  assert.equal(th.fail("1.2.3.4", now), 2_000, "the 5th failure locks the address out");
  assert.equal(th.lockedFor("1.2.3.4", now + 500), 1_500);
  assert.equal(th.lockedFor("5.6.7.8", now + 500), 0, "another address may log in");
  assert.equal(th.lockedFor("1.2.3.4", now + 2_000), 0, "the lockout ends");
  // Each further round of failures doubles the lockout, up to the maximum.
  const lockouts: number[] = [];
  let last = 2_000;
  for (let round = 0; round < 10; round++) {
    now += last; // each round starts as the previous lockout ends
    let lockout = 0;
    for (let i = 0; i < 5; i++) lockout = th.fail("1.2.3.4", now);
    lockouts.push(lockout);
    last = lockout;
  }
  assert.deepEqual(
    lockouts,
    [4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000, 300_000, 300_000],
  );
});

Deno.test("AuthThrottle: failures spread beyond the window do not add up; a quiet address is forgotten", () => {
  const th = new AuthThrottle(THROTTLE);
  let now = 0;
  for (let i = 0; i < 20; i++) {
    assert.equal(th.fail("9.9.9.9", now), 0, `failure ${i}, 20 s apart: no lockout`);
    now += 20_000;
  }
  assert.equal(th.size, 1);
  now += THROTTLE.authLockoutMaxMs + THROTTLE.authFailureWindowMs + 1;
  assert.equal(th.lockedFor("9.9.9.9", now), 0);
  assert.equal(th.size, 0, "forgotten after a quiet period");
});

Deno.test("AuthThrottle: failures from 100,000 addresses keep at most trackedAddresses records", () => {
  const th = new AuthThrottle(THROTTLE);
  for (let i = 0; i < 100_000; i++) {
    th.fail(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, i);
  }
  assert.equal(th.size, THROTTLE.trackedAddresses);
  // The most recently seen address is still tracked: five failures lock it out.
  for (let i = 0; i < 4; i++) th.fail("192.0.2.1", 200_000);
  assert.equal(th.fail("192.0.2.1", 200_000), 2_000);
  assert.equal(th.size, THROTTLE.trackedAddresses);
});

Deno.test("FloodBudget and floodCost: a burst up to the budget passes, then the refill rate; only useless frames cost", () => {
  const b = new FloodBudget(10, 100, 0);
  for (let i = 0; i < 10; i++) assert.ok(b.spend(1, 0), `frame ${i} of the burst`);
  assert.equal(b.spend(1, 0), false, "the 11th at once is a flood");
  assert.ok(b.spend(1, 10), "10 ms later one more token has come back");
  assert.equal(b.spend(1, 10), false);
  assert.ok(b.spend(10, 1_000_000), "refills to the budget, never beyond");
  assert.equal(b.spend(1, 1_000_000), false);

  const frame = (s: { type: number; num: number }, payload: Uint8Array) => ({
    ...s,
    version: 1,
    payload,
  });
  const id = new Uint8Array([0, 0, 0, 7]);
  assert.equal(floodCost(frame(SERVICES.LIST, id), undefined, 1), 0, "an answered request");
  assert.equal(floodCost(frame(SERVICES.LIST, id), "NOT_FOUND", 1), 0, "a real outcome");
  assert.equal(floodCost(frame(SERVICES.LIST, id), "BAD_ARGUMENT", 1), 1, "a protocol refusal");
  assert.equal(floodCost(frame(SERVICES.LIST, new Uint8Array()), undefined, 1), 1, "empty");
  assert.equal(floodCost(frame(SERVICES.CANCEL, id), undefined, 1), 1, "CANCEL");
  assert.equal(floodCost(frame(SERVICES.HELLO, id), undefined, 1), 0, "the first HELLO");
  assert.equal(floodCost(frame(SERVICES.HELLO, id), undefined, 2), 1, "a second HELLO");
  assert.equal(floodCost(frame(SERVICES.UPLOAD_DATA, id), undefined, 1), 1, "data without data");
  assert.equal(
    floodCost(frame(SERVICES.UPLOAD_DATA, new Uint8Array(5)), undefined, 1),
    0,
    "data",
  );
});

Deno.test("server flags: durations and sizes parse; bad ones are USAGE errors", () => {
  assert.equal(parseDuration("500ms", "x"), 500);
  assert.equal(parseDuration("30s", "x"), 30_000);
  assert.equal(parseDuration("1.5", "x"), 1_500);
  assert.equal(parseDuration("5m", "x"), 300_000);
  assert.equal(parseDuration("1h", "x"), 3_600_000);
  assert.equal(parseSize("1048576", "x"), MiB);
  assert.equal(parseSize("512M", "x"), 512 * MiB);
  assert.equal(parseSize("10GiB", "x"), 10 * 1024 * MiB);
  assert.equal(parseSize("unlimited", "x"), Number.MAX_SAFE_INTEGER);
  for (const bad of ["", "-1", "5 minutes", "1e3", "0x10"]) {
    assert.throws(
      () => parseDuration(bad, "idle-timeout"),
      (e) => (e as FerryError).code === "USAGE",
    );
  }
  for (const bad of ["", "-1", "1.5G", "99999999T"]) {
    assert.throws(() => parseSize(bad, "max-upload"), (e) => (e as FerryError).code === "USAGE");
  }
  assert.ok(DEFAULT_LIMITS.maxConnectionsPerIp < DEFAULT_LIMITS.maxConnections);
});

// ---------------------------------------------------------------------------------------------
// Connection caps (row 34)

Deno.test("per-address cap: past maxConnectionsPerIp a client is told BUSY (id 0) and closed; another address still gets in; fds return to baseline", async () => {
  const baseline = fdCount();
  await withServer({ maxConnectionsPerIp: 3, maxConnections: 50 }, async (t) => {
    const relay = relayFrom("127.0.0.2", t.port);
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
      const other = await connect({
        hostname: "localhost",
        port: relay.port,
        token: TOKENS.write,
        caCerts: [t.ca],
      });
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
      await relay.close();
    }
    assert.equal(
      t.logs.filter((l) => l.event === "refused" && l.result === "BUSY").length,
      6,
      "six refusals were logged",
    );
  });
  await waitFor(() => fdCount() <= baseline, `fd count back to ${baseline}`);
});

Deno.test(`global cap: BUSY past maxConnections; past ${MAX_REFUSING} refusals at once, connections are dropped without a handshake; fds return to baseline`, async () => {
  const baseline = fdCount();
  await withServer(
    { maxConnections: 2, maxConnectionsPerIp: 1_000, handshakeTimeoutMs: 1_000 },
    async (t) => {
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
    },
  );
  await waitFor(() => fdCount() <= baseline, `fd count back to ${baseline}`);
});

// ---------------------------------------------------------------------------------------------
// Deadlines (rows 32, 33, 3a)

Deno.test("slowloris: 100 TCP sockets that never send a ClientHello and 30 that never log in reach their deadlines; a good client is served at once; fds return to baseline (rows 32, 33)", async () => {
  const baseline = fdCount();
  await withServer(
    {
      // Deadlines well past the set-up of the 130 sockets on a loaded machine: the good
      // client must be served before any of them passes, which a server that waited for
      // pending handshakes (or logins) before serving others would not do.
      handshakeTimeoutMs: 5_000,
      authTimeoutMs: 5_000,
      maxConnections: 500,
      maxConnectionsPerIp: 500,
      maxUnauthenticated: 500,
      maxUnauthenticatedPerIp: 500,
      // Every connection's lines are counted below.
      preLoginLogBurst: 1_000,
    },
    async (t) => {
      const silent: Deno.TcpConn[] = [];
      const quiet: Awaited<ReturnType<typeof openRaw>>[] = [];
      try {
        for (let i = 0; i < 100; i++) silent.push(await openTcp(t.port));
        quiet.push(...await Promise.all(Array.from({ length: 30 }, () => openRaw(t.port, t.ca))));
        const started = Date.now();
        await roundTrip(t.port, t.ca, "good.bin", 128 * KiB);
        const took = Date.now() - started;
        console.log(`good client served in ${took} ms while 130 sockets idled`);
        assert.ok(
          t.logs.filter((l) => l.event === "handshake").length === 0,
          "the good client was served before any deadline passed",
        );
        // Logged in never: told TIMEOUT and closed at the deadline.
        for (const [i, raw] of quiet.entries()) {
          expectError(await raw.next(15_000), "TIMEOUT", `quiet connection #${i}`, 0);
          assert.ok(await raw.closedWithin(10_000));
        }
        // No ClientHello: the server gives up on them at the deadline...
        await waitFor(
          () =>
            t.logs.filter((l) => l.event === "handshake" && l.result === "TIMEOUT").length ===
              100,
          "100 handshake deadlines",
          20_000,
        );
        // ...and really closes their TCP connections (the socket reaper), while they are
        // still open on this side.
        const closedByServer = (await Promise.all(silent.map((s) => tcpClosedWithin(s, 2_000))))
          .filter(Boolean).length;
        assert.equal(closedByServer, 100, "the server closed every silent socket");
        // They no longer count: a full set of new connections is served.
        await Promise.all(
          Array.from({ length: 10 }, (_, i) => roundTrip(t.port, t.ca, `after-${i}.bin`, 16 * KiB)),
        );
      } finally {
        for (const s of silent) closeQuietly(s);
        for (const r of quiet) await r.close();
      }
      assert.equal(t.logs.filter((l) => l.event === "auth" && l.result === "TIMEOUT").length, 30);
    },
  );
  await waitFor(() => fdCount() <= baseline, `fd count back to ${baseline}`);
});

Deno.test("idle: authenticated connections trickling one byte at a time, a Data_Len that lies, and an upload that stops are closed by the idle timeout (rows 33, 3a)", async () => {
  await withServer({ idleTimeoutMs: 800 }, async (t) => {
    await Deno.writeTextFile(`${t.root}/doc.txt`, "version 1");
    const tricklers = [];
    for (let i = 0; i < 20; i++) {
      const raw = await openRaw(t.port, t.ca);
      await rawLogin(raw);
      tricklers.push(raw);
    }
    const liar = await openRaw(t.port, t.ca);
    await rawLogin(liar);
    const stalledUpload = await openRaw(t.port, t.ca);
    await rawLogin(stalledUpload);
    try {
      // A header announcing 65,535 bytes, then only 10.
      const header = new Uint8Array([0, 0, 0, 1, 0, 1, 0xff, 0xff]);
      await liar.send(header, new Uint8Array(10));
      // An upload of 1 MiB that sends one data frame and then nothing.
      await stalledUpload.send(
        encodeUpload({ id: 5, size: MiB, mtime: null, path: "doc.txt" }),
        encodeDataFrames(SERVICES.UPLOAD_DATA, 5, new Uint8Array(1000)),
      );
      // Each trickler sends a LIST one byte every 200 ms: data flows, no frame completes.
      const list = encodePathRequest(SERVICES.LIST, { id: 9, path: "." });
      const trickling = tricklers.map(async (raw) => {
        for (let i = 0; i < list.length - 1; i++) {
          try {
            await raw.send(list.subarray(i, i + 1));
          } catch {
            return; // closed by the server
          }
          await sleep(200);
        }
      });
      for (const [i, raw] of [...tricklers, liar, stalledUpload].entries()) {
        expectError(await raw.next(5_000), "TIMEOUT", `connection #${i}`, 0);
        assert.ok(await raw.closedWithin(2_000), `connection #${i} closed`);
      }
      await Promise.all(trickling);
      await roundTrip(t.port, t.ca, "others.bin");
    } finally {
      for (const r of [...tricklers, liar, stalledUpload]) await r.close();
    }
    assert.equal(await Deno.readTextFile(`${t.root}/doc.txt`), "version 1", "old version intact");
    assert.equal(t.logs.filter((l) => l.event === "idle").length, 22);
  });
});

// ---------------------------------------------------------------------------------------------
// Failed logins (row 27)

Deno.test("auth back-off: after 5 failures an address is locked out (BUSY, even with the right token), 127.0.0.2 still logs in, and the lockout ends", async () => {
  await withServer({ authFailuresPerIp: 5, authLockoutMs: 1_500 }, async (t) => {
    const relay = relayFrom("127.0.0.2", t.port);
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
      const other = await connect({
        hostname: "localhost",
        port: relay.port,
        token: TOKENS.write,
        caCerts: [t.ca],
      });
      other.close();
      await other.closed;
      // Once the lockout is over, 127.0.0.1 logs in again.
      await sleep(1_600);
      await roundTrip(t.port, t.ca, "after-lockout.bin", 4 * KiB);
    } finally {
      await relay.close();
    }
    const checked = t.logs.filter((l) => l.op === "auth" && l.result === "UNAUTHENTICATED");
    assert.equal(checked.length, 5, "only five tokens were ever checked");
    assert.ok(t.logs.some((l) => l.op === "auth" && l.lockout_ms === 1_500));
    assert.ok(!t.logs.some((l) => JSON.stringify(l).includes(TOKENS.write)), "no token logged");
  });
});

Deno.test("auth back-off: a burst of 600 guesses over 200 connections is throttled to a handful of checks; another address is unaffected (row 27)", async () => {
  await withServer(
    { authFailuresPerIp: 5, authLockoutMs: 60_000, maxConnectionsPerIp: 1_000 },
    async (t) => {
      const relay = relayFrom("127.0.0.2", t.port);
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
        await roundTrip(relay.port, t.ca, "other-address.bin", 8 * KiB);
      } finally {
        await relay.close();
      }
    },
  );
});

// ---------------------------------------------------------------------------------------------
// Floods (row 8) and clients that stop reading (rows 35, 36), against a child process

Deno.test("flood: 100,000 empty frames, 10,000 LIST+CANCEL pairs and a HELLO storm each get BUSY and a close; CPU falls back to idle; others OK (row 8)", async () => {
  const server = await spawnServer(["--flood-budget", "1000", "--flood-refill", "100"]);
  try {
    const { port, ca } = server;
    await Deno.writeTextFile(`${server.root}/a.txt`, "a");
    const floods: Record<string, Uint8Array> = {
      "empty frames": new Uint8Array(8 * 100_000), // 100,000 headers of (0,0,v0,len 0)
      "LIST+CANCEL": new Uint8Array(0),
      "HELLO storm": new Uint8Array(0),
    };
    const pairs: Uint8Array[] = [];
    for (let i = 0; i < 10_000; i++) {
      pairs.push(encodePathRequest(SERVICES.LIST, { id: 100 + i, path: "." }));
      pairs.push(encodeIdOnly(SERVICES.CANCEL, 100 + i));
    }
    floods["LIST+CANCEL"] = concat(pairs);
    floods["HELLO storm"] = concat(
      Array.from(
        { length: 20_000 },
        (_, i) => encodeHello({ id: i, minVersion: 1, maxVersion: 1, agent: "storm" }),
      ),
    );
    for (const [what, bytes] of Object.entries(floods)) {
      const raw = await openRaw(port, ca, { discard: false });
      try {
        await rawLogin(raw);
        await raw.send(bytes).catch(() => {}); // the server may close before all is written
        assert.ok(await raw.closedWithin(10_000), `${what}: the server closed the connection`);
        const busy = raw.pending.map(errorOf).find((e) => e?.code === "BUSY" && e.id === 0);
        assert.ok(busy !== undefined, `${what}: a parting ERROR BUSY`);
        assert.match(busy.message, /too many refused, empty or cancelled frames/);
      } finally {
        await raw.close();
      }
      await roundTrip(port, ca, `others-${what.replaceAll(/\W/g, "")}.bin`);
    }
    // An honest client that cancels now and then is not a flood.
    const honest = await openRaw(port, ca);
    try {
      await rawLogin(honest);
      for (let i = 0; i < 50; i++) {
        await honest.send(
          encodeDownload({ id: 500 + i, offset: 0, path: "a.txt" }),
          encodeIdOnly(SERVICES.CANCEL, 500 + i),
        );
        await sleep(5);
      }
      assert.equal(await honest.closedWithin(500), false, "the honest client stays connected");
    } finally {
      await honest.close();
    }
    // The server falls back to idle: some 1 s window, starting within 10 s, uses less than
    // 0.3 s of CPU (a loaded machine may delay the first quiet window, never fake one).
    await sleep(300);
    const settled = Date.now() + 10_000;
    let idle = Infinity;
    while (idle >= 0.3 && Date.now() < settled) {
      const before = server.cpuSeconds();
      await sleep(1_000);
      idle = server.cpuSeconds() - before;
      console.log(`server CPU over 1 s after the floods: ${idle.toFixed(2)} s`);
    }
    assert.ok(idle < 0.3, `the server is idle again (${idle} s of CPU in 1 s)`);
    assert.equal(server.output().match(/event=flood/g)?.length, 3);
  } finally {
    await server.stop();
  }
});

Deno.test("a client that stops reading: a 64 MiB download and 10,000 pipelined LISTs, never read; server memory stays bounded, the stall timeout closes it, others OK (rows 35, 36)", async () => {
  const server = await spawnServer(["--write-stall-timeout", "3s"]);
  try {
    const { port, ca } = server;
    const big = randomBytes(64 * MiB);
    await Deno.writeFile(`${server.root}/big.bin`, big);
    for (let i = 0; i < 300; i++) {
      await Deno.writeTextFile(`${server.root}/entry-${"x".repeat(100)}-${i}.txt`, "e");
    }
    await roundTrip(port, ca, "warmup.bin");
    const rssBefore = server.statusKiB("VmRSS");
    const raw = await openRaw(port, ca, { noRead: true });
    let peak = rssBefore;
    try {
      // Log in without reading the answers (they are small and sit in the socket buffers).
      await raw.send(
        encodeHello({ id: 1, minVersion: 1, maxVersion: 1, agent: "deaf" }),
        encodeAuth({ id: 2, token: TOKENS.read }),
        encodeDownload({ id: 3, offset: 0, path: "big.bin" }),
      );
      const lists = Array.from(
        { length: 10_000 },
        (_, i) => encodePathRequest(SERVICES.LIST, { id: 10 + i, path: "." }),
      );
      // The server stops reading once its replies back up, so this write may never finish.
      const sending = raw.send(concat(lists)).catch(() => {});
      const until = Date.now() + 2_500;
      while (Date.now() < until) {
        peak = Math.max(peak, server.statusKiB("VmRSS"));
        await sleep(100);
      }
      // Meanwhile others are served.
      await roundTrip(port, ca, "meanwhile.bin", MiB);
      await waitFor(() => /event=stall/.test(server.output()), "the stall timeout", 10_000);
      peak = Math.max(peak, server.statusKiB("VmRSS"));
      await sending;
    } finally {
      await raw.close();
    }
    const grew = (peak - rssBefore) / 1024;
    console.log(
      `server RSS before ${(rssBefore / 1024).toFixed(0)} MiB, peak ${
        (peak / 1024).toFixed(0)
      } MiB (+${grew.toFixed(0)} MiB) with 64 MiB + 10,000 listings unread`,
    );
    assert.ok(grew < 48, `server RSS grew by ${grew.toFixed(0)} MiB`);
    await waitFor(
      () => /event=disconnect.*reason="write stalled/.test(server.output()),
      "the disconnect line of the stalled connection",
    );
    await roundTrip(port, ca, "after.bin");
  } finally {
    await server.stop();
  }
});

Deno.test("a slow reader (about 4 KiB/s) of a large download is closed by the stall timeout, a patient one (3 MiB/s) is not; others OK (row 35)", async () => {
  // A stall timeout far above the patient reader's pauses (20 ms), so that only a pause of
  // the whole test process that long could cut it off.
  const server = await spawnServer(["--write-stall-timeout", "5s"]);
  try {
    const { port, ca } = server;
    await Deno.writeFile(`${server.root}/big.bin`, randomBytes(16 * MiB));
    const conn = await Deno.connectTls({ hostname: "localhost", port, caCerts: [ca] });
    try {
      await conn.handshake();
      const w = conn.write(concat([
        encodeHello({ id: 1, minVersion: 1, maxVersion: 1, agent: "slow" }),
        encodeAuth({ id: 2, token: TOKENS.read }),
        encodeDownload({ id: 3, offset: 0, path: "big.bin" }),
      ]));
      await w;
      const buf = new Uint8Array(1024);
      let got = 0;
      const deadline = Date.now() + 30_000;
      while (!/event=stall/.test(server.output()) && Date.now() < deadline) {
        const n = await conn.read(buf).catch(() => null);
        if (n === null) break;
        got += n;
        await sleep(250);
      }
      assert.match(server.output(), /event=stall/, "the server gave up on the slow reader");
      console.log(`slow reader got ${(got / MiB).toFixed(1)} MiB before the stall timeout`);
    } finally {
      closeQuietly(conn);
    }
    await waitFor(() => /event=stall/.test(server.output()), "the stall log line");
    await roundTrip(port, ca, "others.bin");
    // A reader that is slower than the server but keeps reading (about 3 MiB/s) is not cut
    // off, although the server's writes wait on it all the time.
    const conn2 = await Deno.connectTls({ hostname: "localhost", port, caCerts: [ca] });
    try {
      await conn2.handshake();
      await conn2.write(concat([
        encodeHello({ id: 1, minVersion: 1, maxVersion: 1, agent: "patient" }),
        encodeAuth({ id: 2, token: TOKENS.read }),
        encodeDownload({ id: 3, offset: 0, path: "big.bin" }),
      ]));
      const buf = new Uint8Array(64 * KiB);
      let got = 0;
      let sinceSleep = 0;
      while (got < 12 * MiB) {
        const n = await conn2.read(buf);
        if (n === null) break;
        got += n;
        sinceSleep += n;
        if (sinceSleep >= 64 * KiB) {
          sinceSleep = 0;
          await sleep(20);
        }
      }
      assert.ok(got >= 12 * MiB, `the patient reader got ${got} bytes and was not cut off`);
    } finally {
      closeQuietly(conn2);
    }
    assert.equal(server.output().match(/event=stall/g)?.length, 1, "only the slow reader stalled");
  } finally {
    await server.stop();
  }
});
