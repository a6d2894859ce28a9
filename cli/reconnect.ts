/**
 * The CLI's connection: opened on first use, shared by every command of a batch, and opened
 * again (with back-off) when a transfer is interrupted, so that the transfer can resume.
 *
 * @module
 */

import { FerryError } from "../protocol/errors.ts";
import type { FerryClient } from "../client/types.ts";
import { isInterruption } from "../protocol/errors.ts";

/** One connection of a {@linkcode Reconnector}, numbered so concurrent failures reconnect only once. */
export interface Connected {
  /** The client of this connection. */
  client: FerryClient;
  /** 1 for the first connection, 2 after the first reconnect, … */
  generation: number;
}

/** The CLI's connection to the server, which can be replaced after an interruption. */
export interface Reconnector {
  /** The current connection, connecting if there is none (or it closed). */
  current(): Promise<Connected>;
  /** Replaces connection `generation` (once, however many callers ask) and returns the new one. */
  reconnect(generation: number): Promise<Connected>;
  /** How many connections were opened. */
  readonly connections: number;
  /** Closes the current connection. */
  close(): Promise<void>;
}

/** A reconnector over `open`, which connects and authenticates. */
export function createReconnector(open: () => Promise<FerryClient>): Reconnector {
  let connected: Promise<Connected> | null = null;
  let generation = 0;
  let isClosed = false;

  function start(): Promise<Connected> {
    const g = ++generation;
    isClosed = false;
    const p = open().then((client) => {
      client.closed.then(() => {
        if (generation === g) isClosed = true;
      });
      return { client, generation: g };
    });
    connected = p;
    // A failed connect leaves nothing behind: the next call tries again.
    p.catch(() => {
      if (connected === p) connected = null;
    });
    return p;
  }

  return {
    current() {
      if (connected === null || isClosed) return start();
      return connected;
    },
    async reconnect(g) {
      if (connected !== null) {
        const now = await connected.catch(() => null);
        if (now !== null && now.generation !== g) return now; // someone reconnected already
        now?.client.close();
      }
      return start();
    },
    get connections() {
      return generation;
    },
    async close() {
      const c = await connected?.catch(() => null);
      if (c) {
        c.client.close();
        await c.client.closed;
      }
      connected = null;
    },
  };
}

/** Waits between reconnection attempts, in ms: three tries. */
export const BACKOFF_MS = [500, 1000, 2000];

/**
 * Runs `op` on the current connection; when it fails with an interruption (the connection,
 * not the data), reconnects after 0.5, 1 and 2 s and runs it again with `resume` set, up to
 * three times. `notice` is told about each attempt.
 */
export async function withReconnect<T>(
  connection: Reconnector,
  what: string,
  op: (client: FerryClient, retrying: boolean) => Promise<T>,
  notice: (text: string) => void,
  backoff: readonly number[] = BACKOFF_MS,
): Promise<T> {
  let connected = await connection.current();
  let failure: FerryError | null = null;
  for (let attempt = 0;; attempt++) {
    if (failure === null) {
      try {
        return await op(connected.client, attempt > 0);
      } catch (err) {
        // After an interruption, BUSY means the server still holds the old transfer's partial.
        const retryable = isInterruption(err) ||
          (attempt > 0 && err instanceof FerryError && err.code === "BUSY");
        if (!retryable) throw err;
        failure = err as FerryError;
      }
    }
    if (attempt >= backoff.length) throw failure;
    const wait = backoff[attempt];
    notice(
      `ferry: ${what}: ${failure.message}; reconnecting in ${wait / 1000} s (try ${
        attempt + 1
      } of ${backoff.length})`,
    );
    await new Promise((r) => setTimeout(r, wait));
    try {
      connected = await connection.reconnect(connected.generation);
      failure = null;
    } catch (err) {
      if (!isInterruption(err)) throw err;
      failure = err as FerryError;
    }
  }
}
