/**
 * What every transfer of a connection shares: its rate limit, and how long its data may stall
 * before the connection counts as lost. A stalled transfer fails with `TIMEOUT` (an
 * interruption), so the caller can reconnect and resume instead of waiting forever on a server
 * that froze or a network that silently dropped the connection.
 *
 * @module
 */

import { FerryError } from "../protocol/errors.ts";
import type { DirectorySync } from "../common/atomic_file.ts";
import type { Throttle } from "./throttle.ts";

/** Default {@linkcode TransferSettings.stallMs}: one minute, the server's write-stall timeout. */
export const DEFAULT_STALL_MS = 60_000;

/** Settings shared by a connection's transfers. */
export interface TransferSettings {
  /** Paces the data of all transfers together, if set. */
  throttle?: Throttle;
  /** Longest wait for the next data frame to arrive or to be taken, in ms. */
  stallMs: number;
  /**
   * The directory fsyncs of downloads, shared so that files committed into one directory at
   * about the same time share them (group commit); each download has its own when unset.
   */
  directories?: DirectorySync;
}

/** A timer that fires `onStall` unless it is re-armed within `ms`; idle until armed. */
export interface StallTimer {
  /** Starts (or restarts) the wait. */
  arm(): void;
  /** Stops waiting. */
  disarm(): void;
}

/**
 * A stall timer of `ms` that calls `onStall` with the `TIMEOUT` error saying `what` stalled.
 * With `waited`, it fires only once that says the wait was for the network for `ms` (a reader
 * busy with other requests' frames is not a stalled server); until then it waits on.
 */
export function stallTimer(
  ms: number,
  what: string,
  onStall: (err: FerryError) => void,
  waited: () => number = () => ms,
): StallTimer {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const wait = (delay: number) => {
    timer = setTimeout(() => {
      const w = waited();
      if (w < ms) {
        wait(ms - w);
        return;
      }
      timer = undefined;
      onStall(
        new FerryError(
          "TIMEOUT",
          `${what}: nothing came for ${ms / 1000} s; the connection is lost`,
        ),
      );
    }, delay);
  };
  return {
    arm() {
      clearTimeout(timer);
      wait(ms);
    },
    disarm() {
      clearTimeout(timer);
      timer = undefined;
    },
  };
}

/** Resolves like `promise`, or rejects with the stall `TIMEOUT` after `ms`. */
export async function withinStall<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let reject!: (err: FerryError) => void;
  const stalled = new Promise<never>((_, r) => reject = r);
  const timer = stallTimer(ms, what, reject);
  timer.arm();
  try {
    return await Promise.race([promise, stalled]);
  } finally {
    timer.disarm();
  }
}
