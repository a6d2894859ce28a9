/**
 * Rate limits on the log lines of connections that have not logged in, so that nobody can make
 * the log grow fast without a token. Every line about such a connection (its connect, refused
 * frames, failed logins, timeouts, disconnect) passes two token buckets: one of its own
 * ({@linkcode CONNECTION_LOG_BURST} lines, then one every {@linkcode CONNECTION_LOG_INTERVAL_MS})
 * and one shared by all of them (`preLoginLogBurst`, then `preLoginLogPerSecond`). A line
 * that finds either empty is counted, not written: what the connection's own bucket held back
 * goes into its disconnect line (`suppressed=N`), what the shared one held back into an
 * `event=suppressed` line written at most once a second. Lines of logged-in connections are never held back.
 *
 * @module
 */

import { FloodBudget, type Limits } from "./limits.ts";
import type { LogFields, Logger } from "./log.ts";

/** Lines a connection that has not logged in may log in a burst. */
export const CONNECTION_LOG_BURST = 8;

/** After its burst, a connection that has not logged in may log one line per this many ms. */
export const CONNECTION_LOG_INTERVAL_MS = 5_000;

/** Most often the shared count of suppressed lines is written, in ms. */
export const SUPPRESSED_REPORT_MS = 1_000;

/** The settings of a {@linkcode PreLoginLogGate}, named as in {@linkcode Limits}. */
export type PreLoginLogLimits = Pick<Limits, "preLoginLogBurst" | "preLoginLogPerSecond">;

/** The server-wide budget of log lines of connections that have not logged in. */
export class PreLoginLogGate {
  readonly #log: Logger;
  readonly #budget: FloodBudget;
  #suppressed = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** Creates a full budget writing to `log`. */
  constructor(log: Logger, limits: PreLoginLogLimits) {
    this.#log = log;
    this.#budget = new FloodBudget(limits.preLoginLogBurst, limits.preLoginLogPerSecond);
  }

  /** Lines held back and not yet reported. */
  get suppressed(): number {
    return this.#suppressed;
  }

  /** Takes one line from the budget; when it is empty, counts the line as suppressed. */
  admit(): boolean {
    if (this.#budget.spend(1)) return true;
    this.#suppressed++;
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.report(), SUPPRESSED_REPORT_MS);
      Deno.unrefTimer(this.#timer);
    }
    return false;
  }

  /** Writes the count of suppressed lines now, if there are any. */
  report(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#suppressed === 0) return;
    this.#log({ event: "suppressed", scope: "pre-login", lines: this.#suppressed });
    this.#suppressed = 0;
  }
}

/** The logger of one connection, holding back its lines while it has not logged in. */
export interface ConnectionLogger {
  /** Logs a line (or counts it as suppressed). */
  (fields: LogFields): void;
  /** Lines of this connection its own budget held back so far. */
  readonly suppressed: number;
}

/**
 * A logger for one connection: lines pass at once while `trusted()` (logged in), and through
 * the connection's own budget and `gate` before. `always` lines (the disconnect) skip the
 * connection's own budget, not the shared one.
 */
export function connectionLogger(
  log: Logger,
  gate: PreLoginLogGate,
  trusted: () => boolean,
): ConnectionLogger {
  const own = new FloodBudget(CONNECTION_LOG_BURST, 1_000 / CONNECTION_LOG_INTERVAL_MS);
  let suppressed = 0;
  const logger = ((fields: LogFields) => {
    if (trusted()) return log(fields);
    if (fields.event !== "disconnect" && !own.spend(1)) {
      suppressed++;
      return;
    }
    if (gate.admit()) log(fields);
  }) as ConnectionLogger;
  Object.defineProperty(logger, "suppressed", { get: () => suppressed });
  return logger;
}
