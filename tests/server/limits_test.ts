/**
 * The trackers behind the hardening limits, as units: address keys (IPv6 by its /64), the
 * back-off after failed logins, the flood budget and the cost of each frame kind, and the
 * duration and size flags (catalogue rows 8, 27, 34). The live tests of the same limits are in
 * tests/e2e/admission_test.ts, deadlines_test.ts and flood_test.ts.
 */

import assert from "node:assert/strict";
import type { FerryError } from "../../mod.ts";
import { MiB } from "../_helpers/mod.ts";
import {
  addressKey,
  AuthThrottle,
  DEFAULT_LIMITS,
  FloodBudget,
  peerAddressKey,
} from "../../server/limits.ts";
import { floodCost } from "../../server/connection.ts";
import { parseDuration, parseSize } from "../../server/config.ts";
import { SERVICES } from "../../protocol/services.ts";

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
