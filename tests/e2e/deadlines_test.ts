/**
 * End to end, the deadlines that close a connection: the login deadline, the idle timeout
 * (including one byte at a time, a Data_Len that lies and an upload that stops), the handshake
 * deadline against silent sockets (slowloris), and the write-stall timeout for clients that stop
 * reading, with the server's memory bounded meanwhile (catalogue rows 3a, 32, 33, 35, 36). The
 * stall tests run the server as a child process, so its memory can be read in /proc.
 */

import assert from "node:assert/strict";
import {
  encodeAuth,
  encodeDownload,
  encodeHello,
  encodePathRequest,
  encodeUpload,
} from "../../protocol/messages/mod.ts";
import { SERVICES } from "../../protocol/services.ts";
import { encodeDataFrames } from "../protocol/_frames.ts";
import {
  closeQuietly,
  concat,
  expectError,
  expectFrame,
  fdCount,
  KiB,
  MiB,
  openRaw,
  openTcp,
  randomBytes,
  rawLogin,
  rejectsWith,
  roundTrip,
  settlesWithin,
  sleep,
  spawnTestServer,
  tcpClosedWithin,
  TOKENS,
  waitFor,
  withClient,
  withServer,
} from "../_helpers/mod.ts";

Deno.test("a connection that does not authenticate in time is told TIMEOUT and closed", async () => {
  await withServer(async (t) => {
    const raw = await openRaw(t.port, t.ca);
    try {
      await raw.send(encodeHello({ id: 1, minVersion: 1, maxVersion: 1, agent: "slow" }));
      expectFrame(await raw.next(), SERVICES.WELCOME, "HELLO");
      expectError(await raw.next(2_000), "TIMEOUT", "the authentication deadline", 0);
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

Deno.test("slowloris: 100 TCP sockets that never send a ClientHello and 30 that never log in reach their deadlines; a good client is served at once; fds return to baseline (rows 32, 33)", async () => {
  const baseline = fdCount();
  await withServer(async (t) => {
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
  }, {
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
  });
  await waitFor(() => fdCount() <= baseline, `fd count back to ${baseline}`);
});

Deno.test("idle: authenticated connections trickling one byte at a time, a Data_Len that lies, and an upload that stops are closed by the idle timeout (rows 33, 3a)", async () => {
  await withServer(async (t) => {
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
  }, { idleTimeoutMs: 800 });
});

Deno.test("a client that stops reading: a 64 MiB download and 10,000 pipelined LISTs, never read; server memory stays bounded, the stall timeout closes it, others OK (rows 35, 36)", async () => {
  const server = await spawnTestServer(["--write-stall-timeout", "3s"]);
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
      await waitFor(() => /event=stall/.test(server.stderr()), "the stall timeout", 10_000);
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
    // The disconnect is logged once the connection's queued work has ended, a moment after the
    // stall line.
    await waitFor(
      () => /event=disconnect.*reason="write stalled/.test(server.stderr()),
      "the disconnect line",
      10_000,
    );
    assert.match(server.stderr(), /event=disconnect.*reason="write stalled/);
    await roundTrip(port, ca, "after.bin");
  } finally {
    await server.stop();
  }
});

Deno.test("a slow reader (about 4 KiB/s) of a large download is closed by the stall timeout, a patient one (3 MiB/s) is not; others OK (row 35)", async () => {
  // A stall timeout far above the patient reader's pauses (20 ms), so that only a pause of
  // the whole test process that long could cut it off.
  const server = await spawnTestServer(["--write-stall-timeout", "5s"]);
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
      while (!/event=stall/.test(server.stderr()) && Date.now() < deadline) {
        const n = await conn.read(buf).catch(() => null);
        if (n === null) break;
        got += n;
        await sleep(250);
      }
      assert.match(server.stderr(), /event=stall/, "the server gave up on the slow reader");
      console.log(`slow reader got ${(got / MiB).toFixed(1)} MiB before the stall timeout`);
    } finally {
      closeQuietly(conn);
    }
    await waitFor(() => /event=stall/.test(server.stderr()), "the stall log line");
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
    assert.equal(server.stderr().match(/event=stall/g)?.length, 1, "only the slow reader stalled");
  } finally {
    await server.stop();
  }
});
