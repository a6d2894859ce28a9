/**
 * Worker of {@linkcode SymlinkRace} (tests/server/storage/symlink_race.ts): exchanges two names with
 * `renameat2(RENAME_EXCHANGE)` in a tight loop on its own thread, through the same FFI
 * bindings as the storage layer, until the shared stop flag is set. It always stops after an
 * even number of successful exchanges, so both names end as they started.
 *
 * Messages: receives `{ a, b, control }` (two absolute paths and a SharedArrayBuffer of three
 * BigInt64 slots: stop flag, exchanges, failures); posts `"ready"`, then `"done"` or
 * `{ error }`.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { AT, Libc, RENAME } from "../../../server/storage/beneath/libc.ts";

/** What the worker is told to exchange. */
export interface RaceJob {
  /** One absolute path. */
  a: string;
  /** The other absolute path. */
  b: string;
  /** Three BigInt64 slots: stop flag, exchanges, failures. */
  control: SharedArrayBuffer;
}

self.onmessage = (event: MessageEvent<RaceJob>) => {
  const { a, b, control } = event.data;
  const slots = new BigInt64Array(control);
  let libc: Libc;
  try {
    libc = Libc.open();
  } catch (err) {
    self.postMessage({ error: String(err) });
    return;
  }
  self.postMessage("ready");
  let exchanges = 0n;
  let failures = 0n;
  const exchange = () => {
    const r = libc.renameat2(AT.FDCWD, a, AT.FDCWD, b, RENAME.EXCHANGE);
    if (r === 0) exchanges++;
    else failures++;
  };
  while (Atomics.load(slots, 0) === 0n) {
    for (let i = 0; i < 64; i++) exchange();
    Atomics.store(slots, 1, exchanges);
    Atomics.store(slots, 2, failures);
  }
  for (let tries = 0; exchanges % 2n !== 0n && tries < 1000; tries++) exchange();
  Atomics.store(slots, 1, exchanges);
  Atomics.store(slots, 2, failures);
  libc.release();
  self.postMessage(exchanges % 2n === 0n ? "done" : { error: "could not restore the names" });
};
