/**
 * The schedule of the storage's cleanup of stale temporaries (`Storage.cleanup`): once at
 * start-up, in the background, then every `cleanupIntervalMs`, each pass removing kept uploads
 * older than `partialTtlMs`. Passes never overlap, and errors are logged, never thrown.
 *
 * @module
 */

import type { Limits } from "./limits.ts";
import type { Logger } from "./log.ts";
import type { Storage } from "./storage/storage.ts";

/** A running cleanup schedule. */
export interface CleanupSchedule {
  /** Stops the schedule and aborts a pass under way; resolves once it has ended. */
  stop(): Promise<void>;
}

/** Starts cleaning `storage` now and every `limits.cleanupIntervalMs`. */
export function startCleanup(
  storage: Storage,
  limits: Pick<Limits, "partialTtlMs" | "cleanupIntervalMs">,
  log: Logger,
): CleanupSchedule {
  const abort = new AbortController();
  let cleaning: Promise<void> = Promise.resolve();
  const pass = () => {
    cleaning = cleaning.then(async () => {
      try {
        const { removed } = await storage.cleanup({
          ttlMs: limits.partialTtlMs,
          signal: abort.signal,
        });
        if (removed.length > 0) log({ event: "cleanup", removed: removed.length });
      } catch (err) {
        if (!abort.signal.aborted) log({ event: "cleanup", result: "error", error: String(err) });
      }
    });
  };
  pass();
  const timer = setInterval(pass, limits.cleanupIntervalMs);
  return {
    stop() {
      clearInterval(timer);
      abort.abort();
      return cleaning;
    },
  };
}
