/**
 * The socket reaper (`server/socket_reaper.ts`) against Deno's own close: a TLS connection
 * closed before its handshake keeps its descriptor until the reaper shuts it down.
 */

import assert from "node:assert/strict";
import { createSocketReaper } from "../../server/socket_reaper.ts";
import {
  closeQuietly,
  fdCount,
  sleep,
  tcpClosedWithin,
  testCertificates,
  waitFor,
} from "../_helpers/mod.ts";

Deno.test("socket reaper: a TLS connection closed before its handshake keeps its descriptor (Deno's rustls stream); the reaper frees it and the peer sees the close", async () => {
  const set = await testCertificates();
  const listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert: set.cert, key: set.key });
  const port = (listener.addr as Deno.NetAddr).port;
  const reaper = createSocketReaper();
  assert.ok(reaper.active, `the reaper works here (${reaper.reason})`);
  const peers: Deno.TcpConn[] = [];
  try {
    const baseline = fdCount();
    for (let i = 0; i < 10; i++) peers.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    const accepted = await Promise.all(peers.map(() => listener.accept()));
    await waitFor(() => fdCount() >= baseline + 20, "both ends of 10 connections");
    for (const conn of accepted) conn.close();
    await sleep(300);
    // Positive control: closing alone frees nothing while the peers stay silent. (Should a
    // later Deno free them, this fails, and the reaper may no longer be needed.)
    assert.equal(fdCount(), baseline + 20, "closed TLS connections keep their sockets");
    for (const conn of accepted) reaper.reap(conn);
    await waitFor(() => fdCount() <= baseline + 10, "the server ends' descriptors freed", 3_000);
    assert.equal(reaper.reaped, 10);
    const seen = await Promise.all(peers.map((p) => tcpClosedWithin(p, 2_000)));
    assert.ok(seen.every(Boolean), "every peer saw its connection closed");
  } finally {
    for (const p of peers) closeQuietly(p);
    reaper.stop();
    listener.close();
  }
});
