/**
 * Progress lines on stderr, stamped with the seconds since the run started.
 *
 * @module
 */

/** Prints one progress line. */
export type Log = (message: string) => void;

/** A log whose stamps count from `started` (a `performance.now()` value). */
export function createLog(started: number = performance.now()): Log {
  return (message) => {
    const s = ((performance.now() - started) / 1000).toFixed(0).padStart(4);
    console.error(`[${s} s] ${message}`);
  };
}
