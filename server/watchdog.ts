/**
 * The deadlines of a connection after its handshake: the login deadline, the idle timeout and
 * the write-stall timeout. Every write goes through a sink that notes when writes last made
 * progress, and a ticker checks the notes:
 * - not logged in by `authTimeoutMs` after the handshake: TIMEOUT, closed;
 * - idle (nothing received, nothing written, and nothing running but uploads that wait for
 *   the client's data) for `idleTimeoutMs`: TIMEOUT, closed;
 * - a write that made no progress for `writeStallTimeoutMs` (the peer stopped reading):
 *   closed at once, as nothing more can be written to it, and its socket shut down at once
 *   (a close alone would wait for the peer to read what is stuck).
 *
 * @module
 */

import { FerryError } from "../protocol/errors.ts";
import type { ByteSink } from "../protocol/frame_writer.ts";
import type { Limits } from "./limits.ts";
import type { Logger } from "./log.ts";

/** When a connection last made progress, kept up to date by its sink and its read loop. */
export interface Activity {
  /** Last time a frame arrived or a write made progress (`Date.now()`). */
  lastActivity: number;
  /** Writes waiting for the peer. */
  writesPending: number;
  /** When the pending writes last made progress. */
  writeProgressAt: number;
  /** True while the read loop handles a frame. */
  dispatching: boolean;
}

/**
 * A sink writing to `conn` that notes every write's progress in `activity` (a new one, which
 * it returns too), and calls `onFailure` with the error when a write fails (the connection is
 * gone).
 */
export function watchedSink(
  conn: ByteSink,
  onFailure: (err: unknown) => void = () => {},
): { sink: ByteSink; activity: Activity } {
  const now = Date.now();
  const activity: Activity = {
    lastActivity: now,
    writesPending: 0,
    writeProgressAt: now,
    dispatching: false,
  };
  const sink: ByteSink = {
    async write(p) {
      if (activity.writesPending++ === 0) activity.writeProgressAt = Date.now();
      try {
        const n = await conn.write(p);
        activity.writeProgressAt = activity.lastActivity = Date.now();
        return n;
      } catch (err) {
        onFailure(err);
        throw err;
      } finally {
        activity.writesPending--;
      }
    },
  };
  return { sink, activity };
}

/** The connection a watchdog watches. */
export interface Watched {
  /** Connection number, for logs. */
  readonly conn: number;
  /** Peer address, for logs. */
  readonly peer: string;
  /** The connection's progress. */
  readonly activity: Activity;
  /** True once the connection is closed. */
  isClosed(): boolean;
  /** True once the client has logged in. */
  isAuthenticated(): boolean;
  /** True while background requests (listings, downloads, hashes) run. */
  hasBackgroundWork(): boolean;
  /** Closes the connection at once, giving `reason` for the disconnect log line. */
  close(reason: string): void;
  /** Tells the client `error` (id 0), then closes, giving `reason` for the log line. */
  closeWith(error: FerryError, reason: string): Promise<void>;
}

/** Starts watching `watched`; the returned function stops it. */
export function startWatchdog(watched: Watched, limits: Limits, log: Logger): () => void {
  const { conn, peer, activity } = watched;
  const authTimer = setTimeout(() => {
    if (watched.isAuthenticated()) return;
    log({ conn, peer, event: "auth", result: "TIMEOUT" });
    void watched.closeWith(
      new FerryError("TIMEOUT", "authentication deadline passed"),
      "authentication deadline passed",
    );
  }, limits.authTimeoutMs);

  const tickMs = Math.max(
    10,
    Math.min(1000, Math.floor(Math.min(limits.idleTimeoutMs, limits.writeStallTimeoutMs) / 4)),
  );
  const ticker = setInterval(() => {
    if (watched.isClosed()) return;
    const now = Date.now();
    if (activity.writesPending > 0) {
      if (now - activity.writeProgressAt < limits.writeStallTimeoutMs) return;
      log({ conn, peer, event: "stall", result: "TIMEOUT" });
      watched.close("write stalled: the client stopped reading");
      return;
    }
    if (activity.dispatching || now - activity.lastActivity < limits.idleTimeoutMs) return;
    if (watched.hasBackgroundWork()) return;
    log({ conn, peer, event: "idle", result: "TIMEOUT" });
    void watched.closeWith(new FerryError("TIMEOUT", "idle timeout"), "idle timeout");
  }, tickMs);

  return () => {
    clearTimeout(authTimer);
    clearInterval(ticker);
  };
}
