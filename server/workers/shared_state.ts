/**
 * The state every isolate of one server reads and changes synchronously, in shared memory: the
 * quota (bytes used and reserved), the connection caps (connections in all, per client address,
 * and being refused), the temporaries being written (so that two uploads on two isolates never
 * write one resumable temporary, and the cleanup spares them), and the connection numbers of the
 * logs. The coordinator creates the buffers ({@linkcode createSharedBuffers}); each isolate wraps
 * them with the functions here, which implement the same interfaces as the single-isolate
 * objects, so handlers do not know which they run on.
 *
 * Logins and the commit lock are not here: they go through the coordinator by message
 * (`server/workers/coordinator.ts`), being asynchronous anyway.
 *
 * @module
 */

import { FerryError } from "../../protocol/errors.ts";
import type { Limits } from "../limits.ts";
import { type Admission, type ConnectionLimits, loggedInRefusal } from "../connection_caps.ts";
import type { Quota } from "../quota.ts";
import type { TempRegistry } from "../storage/staging.ts";
import { SharedCounts, SharedLock } from "./shared_table.ts";

/** The shared memory of one server, sent to each worker when it starts. */
export interface SharedBuffers {
  /** Lock, then used and reserved bytes (two `Float64` at bytes 8 and 16). */
  readonly quota: SharedArrayBuffer;
  /** Lock, connections logged in, not logged in, being refused, last connection number. */
  readonly caps: SharedArrayBuffer;
  /** Logged-in connections per client address ({@linkcode SharedCounts}). */
  readonly loggedIn: SharedArrayBuffer;
  /** Slots of `loggedIn`. */
  readonly loggedInSlots: number;
  /** Not-logged-in connections per client address ({@linkcode SharedCounts}). */
  readonly pending: SharedArrayBuffer;
  /** Slots of `pending`. */
  readonly pendingSlots: number;
  /** Temporaries being written, each counted at most once ({@linkcode SharedCounts}). */
  readonly temps: SharedArrayBuffer;
  /** Slots of `temps`. */
  readonly tempSlots: number;
}

/**
 * Creates the shared memory for a server with `limits` whose files take `used` bytes. The
 * tables hold twice the most keys the limits allow at once: every connection of a pool from
 * its own address, every operation of every connection an upload.
 */
export function createSharedBuffers(
  limits: Pick<
    Limits,
    "maxConnections" | "maxUnauthenticated" | "maxInflightPerConnection"
  >,
  used: number,
): SharedBuffers {
  const quota = new SharedArrayBuffer(24);
  new Float64Array(quota, 8, 2)[0] = used;
  const loggedInSlots = 2 * limits.maxConnections + 16;
  const pendingSlots = 2 * limits.maxUnauthenticated + 16;
  const tempSlots = Math.min(2 * limits.maxConnections * limits.maxInflightPerConnection, 1 << 20) +
    16;
  return {
    quota,
    caps: new SharedArrayBuffer(5 * 4),
    loggedIn: new SharedArrayBuffer(SharedCounts.bytes(loggedInSlots)),
    loggedInSlots,
    pending: new SharedArrayBuffer(SharedCounts.bytes(pendingSlots)),
    pendingSlots,
    temps: new SharedArrayBuffer(SharedCounts.bytes(tempSlots)),
    tempSlots,
  };
}

/** The data root's quota over shared memory: the same checks as `createQuota`, under a lock. */
export function sharedQuota(buffers: SharedBuffers, limit: number): Quota {
  const lock = new SharedLock(buffers.quota, 0);
  const cells = new Float64Array(buffers.quota, 8, 2); // [used, reserved]
  return {
    limit,
    get used() {
      return lock.hold(() => cells[0]);
    },
    get reserved() {
      return lock.hold(() => cells[1]);
    },
    reserve(bytes, replacing = 0) {
      if (limit === 0) return;
      const refused = lock.hold(() => {
        const [used, reserved] = cells;
        if (used + reserved + bytes - replacing > limit) return { used, reserved };
        cells[1] = reserved + bytes;
        return undefined;
      });
      if (refused !== undefined) {
        throw new FerryError(
          "NO_SPACE",
          `the server's quota of ${limit} bytes would be exceeded (${refused.used} used, ${refused.reserved} reserved)`,
        );
      }
    },
    release(bytes) {
      lock.hold(() => void (cells[1] = Math.max(0, cells[1] - bytes)));
    },
    assertRoom(received, replacing) {
      if (limit === 0) return;
      const full = lock.hold(() => cells[0] + cells[1] + received - replacing > limit);
      if (full) throw new FerryError("NO_SPACE", `the server's quota of ${limit} bytes is full`);
    },
    stored(bytes, replaced) {
      lock.hold(() => void (cells[0] += bytes - replaced));
    },
    freed(bytes) {
      lock.hold(() => void (cells[0] = Math.max(0, cells[0] - bytes)));
    },
  };
}

/** Indexes of the `caps` buffer's `Int32` cells. */
const LOCK = 0;
const LOGGED_IN = 1;
const PENDING = 2;
const REFUSING = 3;
const LAST_CONN = 4;

/** A place of this isolate in the not-logged-in pool. */
interface Pending {
  readonly address: string;
  handshaken: boolean;
  readonly evict: () => void;
}

/**
 * The connection caps of all isolates: `ConnectionCaps` (`server/connection_caps.ts`) with its
 * counts in shared memory, so that the two pools' limits, in all and per address, and the
 * refusals count every isolate's connections. When the not-logged-in pool is full, the
 * newcomer's isolate evicts one of its own connections still handshaking, from the address
 * holding the most places server-wide (never one holding a single place); an isolate with no
 * such connection drops the newcomer instead. The kernel spreads a flood's connections over
 * every isolate, so each holds some of them to evict.
 */
export class SharedConnectionCaps {
  readonly #limits: ConnectionLimits;
  readonly #maxRefusing: number;
  readonly #lock: SharedLock;
  readonly #cells: Int32Array;
  readonly #loggedIn: SharedCounts;
  readonly #pendingCounts: SharedCounts;
  /** This isolate's not-logged-in connections per address, oldest first. */
  readonly #pending = new Map<string, Pending[]>();

  /** The caps over `buffers`, with the limits of `ConnectionCaps`. */
  constructor(buffers: SharedBuffers, limits: ConnectionLimits, maxRefusing: number) {
    this.#limits = limits;
    this.#maxRefusing = maxRefusing;
    this.#lock = new SharedLock(buffers.caps, LOCK * 4);
    this.#cells = new Int32Array(buffers.caps);
    this.#loggedIn = new SharedCounts(buffers.loggedIn, buffers.loggedInSlots);
    this.#pendingCounts = new SharedCounts(buffers.pending, buffers.pendingSlots);
  }

  /** Logged-in connections on all isolates now. */
  get loggedIn(): number {
    return Atomics.load(this.#cells, LOGGED_IN);
  }

  /** Connections not logged in yet on all isolates now. */
  get pending(): number {
    return Atomics.load(this.#cells, PENDING);
  }

  /** The next connection number, unique across isolates (1, 2, ...). */
  nextConnection(): number {
    return Atomics.add(this.#cells, LAST_CONN, 1) + 1;
  }

  /** See `ConnectionCaps.admit`: the same decisions, over the counts of every isolate. */
  admit(address: string, evict: () => void): Admission | undefined {
    const cells = this.#cells;
    let victim: Pending | undefined;
    const outcome = this.#lock.hold((): "drop" | FerryError | Pending => {
      const refuse = this.#overLoggedInLimit(address);
      if (refuse !== undefined) {
        if (cells[REFUSING] >= this.#maxRefusing) return "drop";
        cells[REFUSING]++;
        return refuse;
      }
      const limits = this.#limits;
      if (this.#pendingCounts.get(address) >= limits.maxUnauthenticatedPerIp) return "drop";
      if (cells[PENDING] >= limits.maxUnauthenticated) {
        victim = this.#victim();
        if (victim === undefined) return "drop";
        this.#removePending(victim);
      }
      if (!this.#pendingCounts.increment(address, limits.maxUnauthenticatedPerIp)) return "drop";
      cells[PENDING]++;
      const entry: Pending = { address, handshaken: false, evict };
      const list = this.#pending.get(address);
      if (list === undefined) this.#pending.set(address, [entry]);
      else list.push(entry);
      return entry;
    });
    victim?.evict();
    if (outcome === "drop") return undefined;
    if (outcome instanceof FerryError) {
      let ended = false;
      return {
        refuse: outcome,
        handshaken() {},
        login: () => outcome,
        end: () => {
          if (!ended) this.#lock.hold(() => void cells[REFUSING]--);
          ended = true;
        },
      };
    }
    const entry = outcome;
    let state: "pending" | "logged in" | "ended" = "pending";
    return {
      refuse: undefined,
      handshaken: () => void (entry.handshaken = true),
      login: () =>
        this.#lock.hold(() => {
          if (state !== "pending") return undefined;
          const over = this.#overLoggedInLimit(address);
          if (over !== undefined) return over;
          if (!this.#loggedIn.increment(address, this.#limits.maxConnectionsPerIp)) {
            return new FerryError("BUSY", "the server is at its limit of connections");
          }
          this.#removePending(entry);
          cells[LOGGED_IN]++;
          state = "logged in";
          return undefined;
        }),
      end: () =>
        this.#lock.hold(() => {
          if (state === "pending") this.#removePending(entry);
          if (state === "logged in") {
            cells[LOGGED_IN]--;
            this.#loggedIn.decrement(address);
          }
          state = "ended";
        }),
    };
  }

  /**
   * This isolate's connection to evict for a newcomer: the oldest still handshaking, of the
   * address holding the most places server-wide (at least two), or `undefined`.
   */
  #victim(): Pending | undefined {
    let heaviest: Pending[] | undefined;
    let weight = 1;
    for (const [address, list] of this.#pending) {
      if (!list.some((p) => !p.handshaken)) continue;
      const held = this.#pendingCounts.get(address);
      if (held > weight) {
        heaviest = list;
        weight = held;
      }
    }
    return heaviest?.find((p) => !p.handshaken);
  }

  /** Takes `entry` out of the pool (under the lock); safe for an entry already out. */
  #removePending(entry: Pending): void {
    const list = this.#pending.get(entry.address);
    const at = list?.indexOf(entry) ?? -1;
    if (list === undefined || at === -1) return;
    list.splice(at, 1);
    if (list.length === 0) this.#pending.delete(entry.address);
    this.#pendingCounts.decrement(entry.address);
    this.#cells[PENDING]--;
  }

  /** Why `address` may not have another logged-in connection now (under the lock). */
  #overLoggedInLimit(address: string): FerryError | undefined {
    return loggedInRefusal(this.#limits, this.#cells[LOGGED_IN], this.#loggedIn.get(address));
  }
}

/** The temporaries being written by any isolate, as a {@linkcode TempRegistry}. */
export function sharedTemps(buffers: SharedBuffers): TempRegistry {
  const table = new SharedCounts(buffers.temps, buffers.tempSlots);
  return {
    claim: (key) => table.increment(key, 1),
    release: (key) => table.decrement(key),
    has: (key) => table.get(key) > 0,
  };
}
