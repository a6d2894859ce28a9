/**
 * The shared-memory state of a server running several isolates (`server/workers/`), in one
 * process: two wrappers over the same buffers stand for two isolates. The table against a
 * `Map` under random changes (its deletions move entries back), the quota against the
 * single-isolate one, the caps and temporaries seen from both "isolates", and `--workers`
 * parsing. The e2e test (`tests/e2e/workers_test.ts`) runs the real isolates.
 */

import assert from "node:assert/strict";
import { SharedCounts } from "../../server/workers/shared_table.ts";
import {
  createSharedBuffers,
  SharedConnectionCaps,
  sharedQuota,
  sharedTemps,
} from "../../server/workers/shared_state.ts";
import { MAX_WORKERS, parseWorkers } from "../../server/workers/coordinator.ts";
import { createQuota } from "../../server/quota.ts";
import { DEFAULT_LIMITS } from "../../server/limits.ts";
import { FerryError } from "../../mod.ts";

Deno.test("SharedCounts: matches a Map under 20,000 random increments and decrements in a small table", () => {
  const slots = 24;
  const buffer = new SharedArrayBuffer(SharedCounts.bytes(slots));
  const table = new SharedCounts(buffer, slots);
  const other = new SharedCounts(buffer, slots); // another isolate's view
  const model = new Map<string, number>();
  const keys = Array.from({ length: 80 }, (_, i) => `10.0.${i}.${i * 7}`);
  let seed = 12345;
  const random = (n: number) => { // mulberry32
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
  let refusedFull = 0;
  for (let step = 0; step < 20_000; step++) {
    const key = keys[random(keys.length)];
    const view = random(2) === 0 ? table : other;
    if (random(3) === 0) {
      view.decrement(key);
      const left = (model.get(key) ?? 0) - 1;
      if (left > 0) model.set(key, left);
      else model.delete(key);
    } else {
      const now = model.get(key) ?? 0;
      const ok = view.increment(key, 3);
      if (now >= 3) assert.equal(ok, false, `${key} at its max`);
      else if (now === 0 && model.size >= slots) {
        assert.equal(ok, false, "a full table takes no new key");
        refusedFull++;
      } else assert.equal(ok, true, `${key} below its max (step ${step})`);
      if (ok) model.set(key, now + 1);
    }
    if (step % 97 === 0) {
      for (const k of keys) assert.equal(other.get(k), model.get(k) ?? 0, `${k} at step ${step}`);
    }
  }
  for (const k of keys) assert.equal(table.get(k), model.get(k) ?? 0, k);
  assert.ok(refusedFull > 0, "the table was full at times (80 keys, 24 slots)");
});

Deno.test("sharedQuota: the same answers as createQuota, and one isolate's reservations count for the other", () => {
  const buffers = createSharedBuffers(DEFAULT_LIMITS, 600);
  const a = sharedQuota(buffers, 1000);
  const b = sharedQuota(buffers, 1000);
  const local = createQuota(1000, 600);
  for (const q of [a, local]) q.reserve(300);
  assert.equal(b.reserved, 300, "b sees a's reservation");
  for (const q of [b, local]) {
    assert.throws(() => q.reserve(200), (e) => e instanceof FerryError && e.code === "NO_SPACE");
  }
  for (const q of [b, local]) q.reserve(200, 150); // replacing 150 bytes: fits
  for (const q of [b, local]) {
    assert.throws(() => q.assertRoom(51, 0), (e) => (e as FerryError).code === "NO_SPACE");
  }
  for (const q of [a, local]) q.release(300);
  for (const q of [a, local]) q.stored(300, 0);
  for (const q of [b, local]) q.freed(100);
  assert.deepEqual([a.used, a.reserved], [local.used, local.reserved]);
  assert.deepEqual([b.used, b.reserved], [800, 200]);
});

Deno.test("SharedConnectionCaps: both pools' caps count the connections of both isolates; refusals past maxRefusing and over the per-address pending cap are dropped", () => {
  const limits = {
    ...DEFAULT_LIMITS,
    maxConnections: 4,
    maxConnectionsPerIp: 3,
    maxUnauthenticated: 6,
    maxUnauthenticatedPerIp: 4,
  };
  const buffers = createSharedBuffers(limits, 0);
  const one = new SharedConnectionCaps(buffers, limits, 2);
  const two = new SharedConnectionCaps(buffers, limits, 2);
  const none = () => {};
  const login = (caps: SharedConnectionCaps, address: string) => {
    const a = caps.admit(address, none)!;
    assert.equal(a.refuse, undefined);
    a.handshaken();
    assert.equal(a.login(), undefined, `${address} logs in`);
    return a;
  };
  const x1 = login(one, "10.0.0.1");
  const x2 = login(two, "10.0.0.1");
  // A fourth from 10.0.0.1 gets in the pending pool while the third logs in: it cannot.
  const x4 = two.admit("10.0.0.1", none)!;
  assert.equal(x4.refuse, undefined);
  login(one, "10.0.0.1");
  assert.match(x4.login()!.message, /your address is at its limit of 3/);
  x4.end();
  // The address is now refused up front, on either isolate.
  const x5 = one.admit("10.0.0.1", none)!;
  assert.match(x5.refuse!.message, /your address is at its limit of 3/);
  login(two, "10.0.0.2");
  assert.equal(one.loggedIn, 4);
  const y2 = one.admit("10.0.0.3", none)!;
  assert.match(y2.refuse!.message, /limit of 4 connections/);
  assert.equal(two.admit("10.0.0.4", none), undefined, "two being refused: the third dropped");
  x5.end();
  y2.end();
  x1.end();
  x2.end();
  // Pending pool: 4 per address at most, counted across isolates.
  const held = [one, two, one, two].map((caps) => caps.admit("10.0.0.9", none)!);
  assert.ok(held.every((a) => a.refuse === undefined));
  assert.equal(one.pending, 4);
  assert.equal(two.admit("10.0.0.9", none), undefined, "a fifth from one address is dropped");
  held[0].end();
  assert.notEqual(two.admit("10.0.0.9", none), undefined, "room again after an end on the other");
  assert.equal(new Set([one.nextConnection(), two.nextConnection(), one.nextConnection()]).size, 3);
});

Deno.test("SharedConnectionCaps: a full pending pool evicts a connection still handshaking, of the address holding the most places, from the newcomer's isolate", () => {
  const limits = {
    ...DEFAULT_LIMITS,
    maxUnauthenticated: 4,
    maxUnauthenticatedPerIp: 4,
  };
  const buffers = createSharedBuffers(limits, 0);
  const one = new SharedConnectionCaps(buffers, limits, 2);
  const two = new SharedConnectionCaps(buffers, limits, 2);
  const evicted: string[] = [];
  const admit = (caps: SharedConnectionCaps, name: string, address: string) =>
    caps.admit(address, () => evicted.push(name));
  admit(one, "a1", "10.0.0.1");
  admit(two, "a2", "10.0.0.1");
  admit(one, "a3", "10.0.0.1");
  admit(two, "b1", "10.0.0.2")!.handshaken();
  assert.equal(one.pending, 4);
  // The pool is full: a newcomer on isolate two evicts two's oldest from 10.0.0.1 (3 places).
  assert.notEqual(admit(two, "c1", "10.0.0.3"), undefined);
  assert.deepEqual(evicted, ["a2"]);
  // On isolate one, the same: its oldest from 10.0.0.1.
  assert.notEqual(admit(one, "c2", "10.0.0.4"), undefined);
  assert.deepEqual(evicted, ["a2", "a1"]);
  // Now every address holds one place: nobody is evicted, the newcomer is dropped.
  assert.equal(admit(two, "c3", "10.0.0.5"), undefined);
  assert.deepEqual(evicted, ["a2", "a1"]);
  assert.equal(two.pending, 4);
});

Deno.test("sharedTemps: a temporary claimed by one isolate cannot be claimed by the other until released", () => {
  const buffers = createSharedBuffers(DEFAULT_LIMITS, 0);
  const a = sharedTemps(buffers);
  const b = sharedTemps(buffers);
  assert.equal(a.claim("/d/.ferry-1.partial"), true);
  assert.equal(b.claim("/d/.ferry-1.partial"), false);
  assert.equal(b.has("/d/.ferry-1.partial"), true);
  a.release("/d/.ferry-1.partial");
  assert.equal(b.has("/d/.ferry-1.partial"), false);
  assert.equal(b.claim("/d/.ferry-1.partial"), true);
});

Deno.test("parseWorkers: unset is 1, auto is the cores (capped), numbers 1..MAX_WORKERS, anything else USAGE", () => {
  assert.equal(parseWorkers(undefined), 1);
  assert.equal(parseWorkers("1"), 1);
  assert.equal(parseWorkers(String(MAX_WORKERS)), MAX_WORKERS);
  const auto = parseWorkers("auto");
  assert.ok(auto >= 1 && auto <= Math.min(MAX_WORKERS, navigator.hardwareConcurrency));
  for (const bad of ["0", "-1", "1.5", "x", "", String(MAX_WORKERS + 1)]) {
    assert.throws(() => parseWorkers(bad), (e) => e instanceof FerryError && e.code === "USAGE");
  }
});
