/**
 * A bandwidth limit shared by every transfer of a connection (`ConnectOptions.limitRate`): each
 * chunk of data takes its share of time at the given rate before it moves, so the bytes of all
 * transfers together never go faster, after an initial burst of at most {@linkcode BURST_MS}.
 *
 * @module
 */

/** Longest burst after an idle moment, in ms of data at the rate. */
export const BURST_MS = 100;

/** Paces data to a number of bytes per second. */
export interface Throttle {
  /** The rate, in bytes per second. */
  readonly bytesPerSecond: number;
  /** Waits until `bytes` more bytes may move. */
  take(bytes: number): Promise<void>;
}

/** A throttle at `bytesPerSecond`; `now` is the clock in ms (for tests). */
export function createThrottle(
  bytesPerSecond: number,
  now: () => number = () => performance.now(),
): Throttle {
  if (!(bytesPerSecond > 0) || !Number.isFinite(bytesPerSecond)) {
    throw new RangeError(`a rate limit must be a positive number of bytes per second`);
  }
  // When the bytes taken so far will have moved at the rate; never further back than a burst.
  let due = now() - BURST_MS;
  return {
    bytesPerSecond,
    async take(bytes) {
      const t = now();
      due = Math.max(due, t - BURST_MS) + (bytes * 1000) / bytesPerSecond;
      const wait = due - t;
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    },
  };
}
