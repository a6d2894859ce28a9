/**
 * Mixed load (catalogue row 54, shortened): 200 connections at once against a server run as a
 * child process. 100 good clients put, list, get and remove files of 1 KiB to 2 MiB and check
 * every download by SHA-256; 100 hostile ones are slow readers, idle logins, garbage senders,
 * plaintext on the TLS port and half-open handshakes. Every good operation must verify, the
 * server must stay up, its peak RSS (VmHWM) stay under 200 MiB and its fd count return to the
 * baseline. Timing is reported, never asserted.
 *
 * LOAD_GOOD and LOAD_HOSTILE change the numbers of clients (default 100 each); LOAD_SECONDS
 * makes each good client go on for that long instead of two rounds, and LOAD_MAX_KIB sets the
 * largest file (default 2048). Catalogue row 54 in full, by hand:
 * `LOAD_SECONDS=60 LOAD_MAX_KIB=20480 deno test -A tests/e2e/load_test.ts`.
 */

import assert from "node:assert/strict";
import { connect } from "../../mod.ts";
import { encodeAuth, encodeDownload, encodeHello } from "../../protocol/messages/mod.ts";
import {
  closeQuietly,
  collector,
  concat,
  KiB,
  MiB,
  openRaw,
  openTcp,
  randomBytes,
  type RawConn,
  sha256Hex,
  sleep,
  spawnTestServer,
  TOKENS,
  waitFor,
} from "../_helpers/mod.ts";

const GOOD = Number(Deno.env.get("LOAD_GOOD") ?? 100);
const HOSTILE = Number(Deno.env.get("LOAD_HOSTILE") ?? 100);
const SECONDS = Number(Deno.env.get("LOAD_SECONDS") ?? 0);
const MAX_KIB = Number(Deno.env.get("LOAD_MAX_KIB") ?? 2048);
const RSS_LIMIT_MIB = 200;

/** A size between 1 KiB and MAX_KIB, spread evenly on a log scale. */
function randomSize(): number {
  return Math.round(KiB * 2 ** (Math.random() * Math.log2(MAX_KIB)));
}

Deno.test(`load: ${GOOD} good and ${HOSTILE} hostile connections at once; every good transfer verifies, RSS stays bounded, fds return to baseline (row 54)`, async () => {
  const server = await spawnTestServer([
    "--max-connections",
    "1000",
    "--max-connections-per-ip",
    "1000",
    // Good and hostile clients share 127.0.0.1: past 32 connections not logged in from one
    // address (the default), the hostile ones would keep the good ones out, as they should.
    "--max-unauthenticated",
    "1000",
    "--max-unauthenticated-per-ip",
    "1000",
    // Deadlines a good client can meet while 200 connections share the machine (handshakes
    // have been measured at a p99 of 7.6 s): the hostile connections are closed by the test,
    // and the slow readers, by the stall timeout.
    "--handshake-timeout",
    "30s",
    "--auth-timeout",
    "30s",
    "--idle-timeout",
    "30s",
    "--write-stall-timeout",
    "10s",
  ]);
  const { port, ca } = server;
  let status: Deno.CommandStatus;
  try {
    await Deno.writeFile(`${server.root}/big.bin`, randomBytes(16 * MiB));
    const baselineFds = server.fdCount();
    const rssStart = server.statusKiB("VmRSS");
    let rssPeakSampled = rssStart;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        rssPeakSampled = Math.max(rssPeakSampled, server.statusKiB("VmRSS"));
        await sleep(200);
      }
    })();

    // ---- hostile connections: opened first, kept busy while the good clients run
    const hostileRaw: RawConn[] = [];
    const hostileTcp: Deno.Conn[] = [];
    const slowReaders: Deno.TlsConn[] = [];
    const kinds = ["slow reader", "idle login", "garbage", "plaintext", "half-open handshake"];
    const hostileDone: Promise<void>[] = [];
    for (let i = 0; i < HOSTILE; i++) {
      const kind = kinds[i % kinds.length];
      if (kind === "slow reader") {
        const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
        const conn = await Deno.startTls(tcp, { hostname: "localhost", caCerts: [ca] });
        slowReaders.push(conn);
        hostileDone.push((async () => {
          await conn.write(concat([
            encodeHello({ id: 1, minVersion: 1, maxVersion: 1, agent: "slow" }),
            encodeAuth({ id: 2, token: TOKENS.read }),
            encodeDownload({ id: 3, offset: 0, path: "big.bin" }),
          ]));
          const buf = new Uint8Array(KiB);
          try {
            while ((await conn.read(buf)) !== null) await sleep(200);
          } catch {
            // closed
          }
        })());
      } else if (kind === "idle login") {
        const raw = await openRaw(port, ca, { discard: true });
        hostileRaw.push(raw);
        await raw.send(
          encodeHello({ id: 1, minVersion: 1, maxVersion: 1, agent: "idle" }),
          encodeAuth({ id: 2, token: TOKENS.read }),
        );
      } else if (kind === "garbage") {
        const raw = await openRaw(port, ca, { discard: true });
        hostileRaw.push(raw);
        hostileDone.push((async () => {
          for (let j = 0; j < 20; j++) {
            await raw.send(randomBytes(4 * KiB)).catch(() => {});
            await sleep(50);
          }
        })());
      } else if (kind === "plaintext") {
        hostileTcp.push(
          await openTcp(port, new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n")),
        );
      } else {
        // A TLS record header announcing a 512-byte ClientHello, then 20 bytes of it, then
        // nothing: the handshake never completes.
        const partial = new Uint8Array(25);
        partial.set([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);
        hostileTcp.push(await openTcp(port, partial));
      }
    }

    // ---- good clients
    const started = performance.now();
    const latencies: number[] = [];
    let verified = 0;
    let bytesMoved = 0;
    const good = Array.from({ length: GOOD }, async (_, n) => {
      const c = await connect({ hostname: "localhost", port, token: TOKENS.write, caCerts: [ca] });
      try {
        const until = performance.now() + SECONDS * 1000;
        for (let round = 0; round < 2 || performance.now() < until; round++) {
          const name = `good-${n}-${round}.bin`;
          const data = randomBytes(randomSize());
          let t0 = performance.now();
          await c.upload(data, name);
          latencies.push(performance.now() - t0);
          t0 = performance.now();
          const listed = await c.list();
          latencies.push(performance.now() - t0);
          assert.ok(
            listed.some((e) => e.name === name && e.size === data.length),
            `${name} listed`,
          );
          t0 = performance.now();
          const sink = collector();
          await c.download(name, sink.stream);
          latencies.push(performance.now() - t0);
          assert.equal(sha256Hex(sink.bytes()), sha256Hex(data), `${name}: SHA-256`);
          verified++;
          bytesMoved += 2 * data.length;
          t0 = performance.now();
          await c.remove(name);
          latencies.push(performance.now() - t0);
        }
      } finally {
        c.close();
        await c.closed;
      }
    });
    const results = await Promise.allSettled(good);
    const failures = results.filter((r) => r.status === "rejected") as PromiseRejectedResult[];
    const seconds = (performance.now() - started) / 1000;

    // ---- wind down the hostile ones
    await waitFor(
      () => (server.stderr().match(/event=stall/g)?.length ?? 0) >= slowReaders.length,
      "the stall timeout of every slow reader",
      60_000,
    );
    for (const c of slowReaders) closeQuietly(c);
    for (const r of hostileRaw) await r.close();
    for (const c of hostileTcp) closeQuietly(c);
    await Promise.allSettled(hostileDone);
    sampling = false;
    await sampler;

    const hwm = server.statusKiB("VmHWM") / 1024;
    latencies.sort((a, b) => a - b);
    const p = (q: number) =>
      latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
    console.log(
      `load: ${GOOD} good clients, ${verified} verified transfers, ${
        (bytesMoved / MiB).toFixed(0)
      } MiB moved in ${seconds.toFixed(1)} s; ${HOSTILE} hostile connections`,
    );
    console.log(
      `server RSS: start ${(rssStart / 1024).toFixed(0)} MiB, peak sampled ${
        (rssPeakSampled / 1024).toFixed(0)
      } MiB, VmHWM ${hwm.toFixed(0)} MiB`,
    );
    console.log(
      `good operation latency: p50 ${p(0.5).toFixed(0)} ms, p99 ${p(0.99).toFixed(0)} ms, max ${
        latencies.at(-1)?.toFixed(0)
      } ms`,
    );
    if (failures.length > 0) {
      // What the server said about the good clients' connections, for the failure report.
      const lines = server.stderr().split("\n").filter((l) =>
        /user=alice .*event=disconnect/.test(l) && !/reason="closed by client"/.test(l)
      );
      console.log(`good connections the server ended:\n${lines.join("\n")}`);
    }
    assert.deepEqual(failures.map((f) => String(f.reason)), [], "every good client succeeded");
    // Two rounds each, or as many as fit in LOAD_SECONDS.
    if (SECONDS === 0) assert.equal(verified, GOOD * 2);
    else assert.ok(verified >= GOOD * 2, `${verified} verified transfers`);
    assert.ok(hwm < RSS_LIMIT_MIB, `peak RSS ${hwm.toFixed(0)} MiB < ${RSS_LIMIT_MIB} MiB`);

    // The server is alive and its fds return to the baseline.
    await waitFor(() => server.fdCount() <= baselineFds, `server fds back to ${baselineFds}`);
    const c = await connect({ hostname: "localhost", port, token: TOKENS.read, caCerts: [ca] });
    try {
      assert.deepEqual((await c.list()).map((e) => e.name), ["big.bin"]);
    } finally {
      c.close();
      await c.closed;
    }
    const log = server.stderr();
    assert.doesNotMatch(log, /result=INTERNAL/, "no INTERNAL error in the server log");
    console.log(
      `server log: ${log.match(/event=stall/g)?.length ?? 0} stalls, ${
        log.match(/event=idle/g)?.length ?? 0
      } idle, ${log.match(/event=handshake result=TLS/g)?.length ?? 0} TLS failures, ${
        log.match(/result=BAD_FRAME|result=UNSUPPORTED/g)?.length ?? 0
      } refused frames`,
    );
  } finally {
    status = await server.stop();
  }
  // After the finally, so that it never hides an earlier failure.
  assert.equal(status.code, 0, "the server exits cleanly on SIGTERM");
});
