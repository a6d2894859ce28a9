/**
 * Tests for common/commit_rounds.ts: the changes of one round all run before its one flush, and
 * every caller resolves only after that flush; callers arriving during a round join the next
 * one, whose changes run after the first flush ended; a failing change fails its caller alone,
 * a failing flush every caller it covered, and the rounds go on; keys are apart.
 */

import assert from "node:assert/strict";
import { createCommitRounds } from "../../common/commit_rounds.ts";

Deno.test("commit rounds: one round's changes, then its one flush; latecomers join the next", async () => {
  const rounds = createCommitRounds();
  const events: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const flush = (who: string, wait = false) => async () => {
    events.push(`flush ${who}`);
    if (wait) await gate;
  };
  const change = (who: string) => () => {
    events.push(`change ${who}`);
    return who;
  };
  const first = [1, 2, 3].map((i) => rounds.commit("d", change(`a${i}`), flush(`a${i}`, true)));
  let settled = 0;
  for (const p of first) p.then(() => settled++);
  // The first round's flush is held open: its callers wait, latecomers queue.
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(events, ["change a1", "change a2", "change a3", "flush a1"]);
  assert.equal(settled, 0, "no caller resolves before the flush that covers it has ended");
  const late = [1, 2].map((i) => rounds.commit("d", change(`b${i}`), flush(`b${i}`)));
  const other = await rounds.commit("e", change("e1"), flush("e1")); // another key: no wait
  assert.equal(other, "e1");
  assert.ok(!events.includes("change b1"), "a latecomer's change waits for the next round");
  release();
  assert.deepEqual(await Promise.all(first), ["a1", "a2", "a3"]);
  assert.deepEqual(await Promise.all(late), ["b1", "b2"]);
  assert.deepEqual(events.filter((e) => !e.endsWith("e1")), [
    "change a1",
    "change a2",
    "change a3",
    "flush a1",
    "change b1",
    "change b2",
    "flush b1",
  ]);
});

Deno.test("commit rounds: a failing change fails its caller alone; a failing flush its round", async () => {
  const rounds = createCommitRounds();
  const flushes: string[] = [];
  const flush = (who: string) => () => {
    flushes.push(who);
    return Promise.resolve();
  };
  const results = await Promise.allSettled([
    rounds.commit("d", () => {
      throw new Error("rename refused");
    }, flush("bad")),
    rounds.commit("d", () => "ok", flush("good")),
  ]);
  assert.equal(results[0].status, "rejected");
  assert.equal((results[0] as PromiseRejectedResult).reason.message, "rename refused");
  assert.deepEqual(results[1], { status: "fulfilled", value: "ok" });
  // The flush is one of a caller whose change it covers.
  assert.deepEqual(flushes, ["good"]);
  // A round where every change failed needs no flush.
  await assert.rejects(
    rounds.commit("d", () => Promise.reject(new Error("gone")), flush("none")),
    /gone/,
  );
  assert.deepEqual(flushes, ["good"]);
  // A failed flush fails every caller of its round, and the next round works.
  const failing = () => Promise.reject(new Error("disk on fire"));
  const burnt = await Promise.allSettled([1, 2, 3].map(() => rounds.commit("c", () => 1, failing)));
  assert.ok(burnt.every((r) => r.status === "rejected" && /disk on fire/.test(r.reason.message)));
  assert.equal(await rounds.commit("c", () => 7, flush("c")), 7);
  assert.deepEqual(flushes, ["good", "c"]);
});
