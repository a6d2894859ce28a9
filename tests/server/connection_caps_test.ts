/**
 * The two pools of `ConnectionCaps` (issue 10 item 5, catalogue row 32): connections logged in
 * and connections not logged in are counted apart, a full logged-in pool refuses, a full
 * pre-login pool evicts from the heaviest address. The live attack is in
 * tests/e2e/connections_test.ts.
 */

import assert from "node:assert/strict";
import { ConnectionCaps } from "../../server/connection_caps.ts";

const CAPS = {
  maxConnections: 5,
  maxConnectionsPerIp: 2,
  maxUnauthenticated: 6,
  maxUnauthenticatedPerIp: 3,
};

Deno.test("ConnectionCaps: logged-in and not-logged-in connections are counted apart; a full logged-in pool refuses, a full pre-login pool evicts from the heaviest address", () => {
  const caps = new ConnectionCaps(CAPS, 2);
  const evicted: string[] = [];
  const admit = (address: string, name: string) => caps.admit(address, () => evicted.push(name));
  // Two addresses log in to the per-address limit.
  const a1 = admit("a", "a1")!;
  const a2 = admit("a", "a2")!;
  assert.equal(a1.login(), undefined);
  assert.equal(a2.login(), undefined);
  assert.equal(caps.loggedIn, 2);
  assert.equal(caps.pending, 0);
  // A third from "a" is refused (BUSY after its handshake), and counts as a refusal.
  const a3 = admit("a", "a3")!;
  assert.match(a3.refuse?.message ?? "", /your address/);
  a3.end();
  // Pre-login: at most 3 per address; the fourth from one address is dropped.
  const b = [admit("b", "b1")!, admit("b", "b2")!, admit("b", "b3")!];
  assert.equal(admit("b", "b4"), undefined, "past maxUnauthenticatedPerIp: dropped");
  const c = [admit("c", "c1")!, admit("c", "c2")!];
  b[0].handshaken(); // b1 has finished its handshake: not the first to go
  assert.equal(caps.pending, 5);
  // One place left, then the pool is full: a newcomer from "d" evicts the oldest of "b"
  // (the heaviest address) that is still handshaking: b2.
  const d1 = admit("d", "d1")!;
  const d2 = admit("d", "d2")!;
  assert.deepEqual(evicted, ["b2"]);
  assert.equal(caps.pending, 6);
  // The evicted connection's own end changes nothing more.
  b[1].end();
  assert.equal(caps.pending, 6);
  // Logging in moves a connection to the other pool; logged-in connections are untouched
  // by evictions.
  assert.equal(c[0].login(), undefined);
  assert.equal(caps.loggedIn, 3);
  assert.equal(caps.pending, 5);
  // The logged-in pool is per address too: a second login from "c" fits, a third does not.
  assert.equal(c[1].login(), undefined);
  const c3 = admit("c", "c3");
  assert.match(c3?.refuse?.message ?? "", /your address/);
  c3?.end();
  // The server-wide logged-in limit (5): d1 logs in, d2 is told BUSY at login.
  assert.equal(d1.login(), undefined);
  assert.match(d2.login()?.message ?? "", /server is at its limit of 5/);
  // Ends free places in the right pool.
  for (const x of [a1, a2, b[0], b[2], c[0], c[1], d1, d2]) x.end();
  assert.equal(caps.loggedIn, 0);
  assert.equal(caps.pending, 0);
});

Deno.test("ConnectionCaps: a pre-login pool full of single connections from distinct addresses drops the newcomer; refusals past maxRefusing are dropped", () => {
  const caps = new ConnectionCaps(CAPS, 1);
  const evicted: string[] = [];
  const held = Array.from(
    { length: 6 },
    (_, i) => caps.admit(`x${i}`, () => evicted.push(`x${i}`))!,
  );
  assert.equal(caps.admit("y", () => evicted.push("y")), undefined);
  assert.deepEqual(evicted, [], "no address holds two: nobody is evicted");
  for (const h of held.slice(0, 5)) h.login();
  const refused = caps.admit("z", () => {})!;
  assert.match(refused.refuse?.message ?? "", /server is at its limit/);
  assert.equal(caps.admit("z", () => {}), undefined, "past maxRefusing refusals: dropped");
  refused.end();
  refused.end(); // twice is harmless
  assert.ok(caps.admit("z", () => {})?.refuse !== undefined, "a refusal place is free again");
});
