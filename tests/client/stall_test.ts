/**
 * Tests for the stall timeouts of `client/transfer_settings.ts`: one timeout per transfer,
 * re-armed with a clock read, firing only after a whole quiet period (and only when the wait was
 * for the network), never after being disarmed or stopped.
 */

import assert from "node:assert/strict";
import { stallGuard, stallTimer } from "../../client/transfer_settings.ts";
import { FerryError } from "../../protocol/errors.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("stall timer: fires once a whole period passes without a re-arm, naming what stalled", async () => {
  const fired: FerryError[] = [];
  const timer = stallTimer(400, "get f", (e) => fired.push(e));
  timer.arm();
  // Re-armed every 25 ms for 600 ms: never a quiet 400 ms.
  for (let i = 0; i < 24; i++) {
    await sleep(25);
    timer.arm();
  }
  assert.equal(fired.length, 0, "kept alive by re-arming");
  await sleep(1000);
  assert.equal(fired.length, 1, "fired after a quiet period");
  assert.equal(fired[0].code, "TIMEOUT");
  assert.match(fired[0].message, /^get f: nothing came for 0\.4 s/);
  timer.stop();
});

Deno.test("stall timer: disarmed or stopped, it never fires; a reader busy elsewhere holds it off", async () => {
  let fired = 0;
  const disarmed = stallTimer(100, "x", () => fired++);
  disarmed.arm();
  disarmed.disarm();
  await sleep(300);
  assert.equal(fired, 0, "disarmed");
  disarmed.stop();
  const stopped = stallTimer(100, "x", () => fired++);
  stopped.arm();
  stopped.stop();
  await sleep(300);
  assert.equal(fired, 0, "stopped");
  // The wait was not for the network (waited() < ms) until 800 ms had gone by.
  const started = Date.now();
  const busy = stallTimer(200, "x", () => fired++, () => Date.now() - started - 600);
  busy.arm();
  await sleep(500);
  assert.equal(fired, 0, "not while the reader was busy");
  await sleep(1000);
  assert.equal(fired, 1);
  busy.stop();
});

Deno.test("stall guard: one timer for a sequence of waits; a wait longer than ms rejects", async () => {
  const guard = stallGuard(400, "put f");
  for (let i = 0; i < 5; i++) assert.equal(await guard.within(sleep(20).then(() => i)), i);
  const late = await guard.within(sleep(1500)).then(() => null, (e) => e);
  assert.ok(late instanceof FerryError);
  assert.equal(late.code, "TIMEOUT");
  guard.stop();
});
