/**
 * What every transfer of a connection shares: its rate limit, and how long its data may stall
 * before the connection counts as lost. A stalled transfer fails with `TIMEOUT` (an
 * interruption), so the caller can reconnect and resume instead of waiting forever on a server
 * that froze or a network that silently dropped the connection.
 *
 * @module
 */

import { FerryError } from "../protocol/errors.ts";
import type { HashAlgorithm } from "../common/hash_file.ts";
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
  /** The checksum algorithm HELLO and WELCOME chose (default SHA-256). */
  checksum?: HashAlgorithm;
  /** Whether the server honours DOWNLOAD's `length` (WELCOME's `RANGES` feature). */
  ranges?: boolean;
  /** Whether the server honours LIST's names-only option (WELCOME's `LIST_NAMES` feature). */
  listNames?: boolean;
  /**
   * The directory fsyncs of downloads, shared so that files committed into one directory at
   * about the same time share them (group commit); each download has its own when unset.
   */
  directories?: DirectorySync;
}

/**
 * A timer that fires `onStall` unless it is re-armed within `ms`; idle until armed. Re-arming is
 * cheap (a clock read): it is done once per data frame, and the one underlying timeout is only
 * rescheduled when it runs out.
 */
export interface StallTimer {
  /** Starts (or restarts) the wait. */
  arm(): void;
  /** Stops waiting (the underlying timeout may linger, unreferenced, until it runs out). */
  disarm(): void;
  /** Stops waiting and clears the underlying timeout: call once the transfer has ended. */
  stop(): void;
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
  /** When the wait was last (re)started, or null while disarmed. */
  let armedAt: number | null = null;
  const schedule = (delay: number) => {
    timer = setTimeout(check, delay);
    // A lingering timeout of a disarmed timer must not keep the process alive.
    if (typeof timer === "number") Deno.unrefTimer(timer);
  };
  const check = () => {
    timer = undefined;
    if (armedAt === null) return;
    const elapsed = Date.now() - armedAt;
    if (elapsed < ms) return schedule(ms - elapsed);
    const w = waited();
    if (w < ms) return schedule(ms - w);
    armedAt = null;
    onStall(
      new FerryError(
        "TIMEOUT",
        `${what}: nothing came for ${ms / 1000} s; the connection is lost`,
      ),
    );
  };
  return {
    arm() {
      armedAt = Date.now();
      if (timer === undefined) schedule(ms);
    },
    disarm() {
      armedAt = null;
    },
    stop() {
      armedAt = null;
      clearTimeout(timer);
      timer = undefined;
    },
  };
}

/** One stall timer for a sequence of waits (an upload's sends). */
export interface StallGuard {
  /** Resolves like `promise`, or rejects with the stall `TIMEOUT` once it took `ms`. */
  within<T>(promise: Promise<T>): Promise<T>;
  /** Clears the timer. */
  stop(): void;
}

/** A {@linkcode StallGuard} of `ms`, whose `TIMEOUT` says `what` stalled. */
export function stallGuard(ms: number, what: string): StallGuard {
  let reject!: (err: FerryError) => void;
  const stalled = new Promise<never>((_, r) => reject = r);
  stalled.catch(() => {});
  const timer = stallTimer(ms, what, reject);
  return {
    async within(promise) {
      timer.arm();
      try {
        return await Promise.race([promise, stalled]);
      } finally {
        timer.disarm();
      }
    },
    stop: () => timer.stop(),
  };
}
