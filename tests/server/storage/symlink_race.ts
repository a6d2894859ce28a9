/**
 * A local attacker for tests: {@linkcode SymlinkRace} exchanges two names (typically a real
 * directory inside the data root and a symbolic link to a directory outside it) with
 * `renameat2(RENAME_EXCHANGE)` in a tight loop on a Worker thread, so it truly races the
 * operations of the thread under test. Needs `--allow-ffi` (and Linux).
 *
 * @example Usage
 * ```ts ignore
 * const race = await SymlinkRace.start(`${root}/d`, `${root}/s`);
 * // ... operations on d/f ...
 * const { exchanges } = await race.stop();
 * ```
 *
 * @module
 */

import type { RaceJob } from "./symlink_race_worker.ts";

/** Counts reported by {@linkcode SymlinkRace.stop}. */
export interface RaceCounts {
  /** Successful exchanges (always even once stopped: both names end as they started). */
  exchanges: number;
  /** Exchanges that failed (a name missing for a moment, for example). */
  failures: number;
}

/** A running exchange loop. Stop it exactly once. */
export class SymlinkRace {
  readonly #worker: Worker;
  readonly #slots: BigInt64Array;
  readonly #done: Promise<void>;

  private constructor(worker: Worker, slots: BigInt64Array, done: Promise<void>) {
    this.#worker = worker;
    this.#slots = slots;
    this.#done = done;
  }

  /** Starts exchanging the absolute paths `a` and `b`; resolves once the loop runs. */
  static async start(a: string, b: string): Promise<SymlinkRace> {
    const control = new SharedArrayBuffer(3 * 8);
    const slots = new BigInt64Array(control);
    const worker = new Worker(new URL("./symlink_race_worker.ts", import.meta.url), {
      type: "module",
    });
    const ready = Promise.withResolvers<void>();
    const done = Promise.withResolvers<void>();
    worker.onmessage = (event: MessageEvent<unknown>) => {
      if (event.data === "ready") ready.resolve();
      else if (event.data === "done") done.resolve();
      else {
        const error = new Error(`race worker: ${JSON.stringify(event.data)}`);
        ready.reject(error);
        done.reject(error);
      }
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      const error = new Error(`race worker failed: ${event.message}`);
      ready.reject(error);
      done.reject(error);
    };
    done.promise.catch(() => {}); // surfaced by stop()
    const job: RaceJob = { a, b, control };
    worker.postMessage(job);
    try {
      await ready.promise;
    } catch (err) {
      worker.terminate();
      throw err;
    }
    return new SymlinkRace(worker, slots, done.promise);
  }

  /** Successful exchanges so far. */
  get exchanges(): number {
    return Number(Atomics.load(this.#slots, 1));
  }

  /** Stops the loop (leaving both names as they started) and returns the counts. */
  async stop(): Promise<RaceCounts> {
    Atomics.store(this.#slots, 0, 1n);
    try {
      await this.#done;
    } finally {
      this.#worker.terminate();
    }
    return {
      exchanges: Number(Atomics.load(this.#slots, 1)),
      failures: Number(Atomics.load(this.#slots, 2)),
    };
  }
}
