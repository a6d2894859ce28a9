/**
 * Tests of `protocol/services.ts`: the service table and the protocol version range.
 */

import assert from "node:assert/strict";

import {
  MAX_VERSION,
  MIN_VERSION,
  PROTOCOL_VERSION,
  serviceKey,
  type ServiceName,
  serviceName,
  SERVICES,
} from "../../protocol/services.ts";

Deno.test("services: the original numbers are kept", () => {
  const original: [ServiceName, number, number][] = [
    ["LIST", 0, 0],
    ["DELETE", 0, 1],
    ["DOWNLOAD", 1, 0],
    ["DOWNLOAD_DATA", 1, 1],
    ["UPLOAD", 1, 2],
    ["UPLOAD_DATA", 1, 3],
    ["CLOSE_SERVER", 2, 3],
  ];
  for (const [name, type, num] of original) {
    assert.deepEqual(SERVICES[name], { type, num }, name);
  }
});

Deno.test("services: every (type, num) pair is unique and u16", () => {
  const keys = new Set<number>();
  for (
    const [name, s] of Object.entries(SERVICES) as [ServiceName, { type: number; num: number }][]
  ) {
    assert.ok(s.type >= 0 && s.type <= 0xffff && s.num >= 0 && s.num <= 0xffff, name);
    const k = serviceKey(s.type, s.num);
    assert.ok(!keys.has(k), `${name} (${s.type},${s.num}) is taken`);
    keys.add(k);
    assert.equal(serviceName(s.type, s.num), name);
  }
  assert.equal(serviceName(0, 99), undefined);
  assert.equal(serviceName(9, 9), undefined);
  assert.equal(serviceName(0xffff, 0xffff), undefined);
  assert.notEqual(serviceKey(0, 0x10000 - 1), serviceKey(1, 0));
});

Deno.test("services: version range", () => {
  assert.equal(PROTOCOL_VERSION, 1);
  assert.ok(MIN_VERSION <= PROTOCOL_VERSION && PROTOCOL_VERSION <= MAX_VERSION);
});
