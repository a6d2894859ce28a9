/**
 * Tests for server/inflight.ts: a connection runs up to its limit of background requests and
 * four times as many upload commits at once; past either, `whenRoom` waits until one settles,
 * or until the connection is told to stop; `settled` waits for everything tracked.
 */

import assert from "node:assert/strict";
import { COMMITS_PER_REQUEST_SLOT, createInflight } from "../../server/inflight.ts";

/** A promise the test settles. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => open = r);
  return { promise, open };
}

/** Whether `p` has settled after the pending callbacks ran. */
async function isSettled(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  p.then(() => settled = true, () => settled = true);
  await new Promise((r) => setTimeout(r, 0));
  return settled;
}

Deno.test("inflight: requests up to the limit, commits up to four times as many", async () => {
  const limit = 2;
  const inflight = createInflight(() => limit);
  const commits = Array.from({ length: limit * COMMITS_PER_REQUEST_SLOT }, gate);
  for (const c of commits.slice(0, -1)) inflight.track(c.promise, "commit");
  assert.ok(await isSettled(inflight.whenRoom(() => false)), "room left under the commit limit");
  inflight.track(commits.at(-1)!.promise, "commit");
  const waiting = inflight.whenRoom(() => false);
  assert.ok(!(await isSettled(waiting)), "no room at the commit limit");
  commits[3].open();
  assert.ok(await isSettled(waiting), "room again once one commit settled");

  // Requests have their own, smaller limit.
  const requests = [gate(), gate()];
  inflight.track(requests[0].promise, "request");
  assert.ok(await isSettled(inflight.whenRoom(() => false)));
  inflight.track(requests[1].promise, "request");
  const blocked = inflight.whenRoom(() => false);
  assert.ok(!(await isSettled(blocked)), "no room at the request limit, whatever the commits");
  requests[1].open();
  assert.ok(await isSettled(blocked));

  // A connection told to stop does not wait for room.
  inflight.track(gate().promise, "request");
  assert.ok(await isSettled(inflight.whenRoom(() => true)));

  // settled waits for everything tracked so far.
  const all = inflight.settled();
  assert.ok(!(await isSettled(all)));
  for (const g of [...commits, ...requests]) g.open();
  const last = gate();
  const lastOnly = createInflight(() => limit);
  lastOnly.track(last.promise, "commit");
  const lastSettled = lastOnly.settled();
  assert.ok(!(await isSettled(lastSettled)));
  last.open();
  assert.ok(await isSettled(lastSettled));
});
