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
import type { Admission, Limits } from "../limits.ts";
import type { Quota } from "../quota.ts";
import type { TempRegistry } from "../storage/staging.ts";
import { SharedCounts, SharedLock } from "./shared_table.ts";

/** The shared memory of one server, sent to each worker when it starts. */
export interface SharedBuffers {
  /** Lock, then used and reserved bytes (two `Float64` at bytes 8 and 16). */
  readonly quota: SharedArrayBuffer;
  /** Lock, connections admitted, connections being refused, last connection number. */
  readonly caps: SharedArrayBuffer;
  /** Connections per client address ({@linkcode SharedCounts}). */
  readonly addresses: SharedArrayBuffer;
  /** Slots of `addresses`. */
  readonly addressSlots: number;
  /** Temporaries being written, each counted at most once ({@linkcode SharedCounts}). */
  readonly temps: SharedArrayBuffer;
  /** Slots of `temps`. */
  readonly tempSlots: number;
}

/**
 * Creates the shared memory for a server with `limits` whose files take `used` bytes. The
 * tables hold twice the most keys the limits allow at once: every connection admitted or
 * being refused from its own address, every operation of every connection an upload.
 */
export function createSharedBuffers(
  limits: Pick<Limits, "maxConnections" | "maxInflightPerConnection">,
  maxRefusing: number,
  used: number,
): SharedBuffers {
  const quota = new SharedArrayBuffer(24);
  new Float64Array(quota, 8, 2)[0] = used;
  const addressSlots = 2 * (limits.maxConnections + maxRefusing) + 16;
  const tempSlots = Math.min(2 * limits.maxConnections * limits.maxInflightPerConnection, 1 << 20) +
    16;
  return {
    quota,
    caps: new SharedArrayBuffer(16),
    addresses: new SharedArrayBuffer(SharedCounts.bytes(addressSlots)),
    addressSlots,
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
const ADMITTED = 1;
const REFUSING = 2;
const LAST_CONN = 3;

/** The connection caps of all isolates: `ConnectionCaps` over shared memory. */
export class SharedConnectionCaps {
  readonly #limits: Pick<Limits, "maxConnections" | "maxConnectionsPerIp">;
  readonly #maxRefusing: number;
  readonly #lock: SharedLock;
  readonly #cells: Int32Array;
  readonly #perAddress: SharedCounts;

  /** The caps over `buffers`, with the limits of `ConnectionCaps`. */
  constructor(
    buffers: SharedBuffers,
    limits: Pick<Limits, "maxConnections" | "maxConnectionsPerIp">,
    maxRefusing: number,
  ) {
    this.#limits = limits;
    this.#maxRefusing = maxRefusing;
    this.#lock = new SharedLock(buffers.caps, LOCK * 4);
    this.#cells = new Int32Array(buffers.caps);
    this.#perAddress = new SharedCounts(buffers.addresses, buffers.addressSlots);
  }

  /** Connections admitted on all isolates now. */
  get admitted(): number {
    return Atomics.load(this.#cells, ADMITTED);
  }

  /** The next connection number, unique across isolates (1, 2, ...). */
  nextConnection(): number {
    return Atomics.add(this.#cells, LAST_CONN, 1) + 1;
  }

  /** See `ConnectionCaps.admit`: the same decision, over the counts of every isolate. */
  admit(address: string): Admission | undefined {
    const cells = this.#cells;
    const limits = this.#limits;
    const outcome = this.#lock.hold((): "admitted" | "drop" | FerryError => {
      let refuse: FerryError | undefined;
      if (cells[ADMITTED] >= limits.maxConnections) {
        refuse = new FerryError(
          "BUSY",
          `the server is at its limit of ${limits.maxConnections} connections`,
        );
      } else if (!this.#perAddress.increment(address, limits.maxConnectionsPerIp)) {
        refuse = new FerryError(
          "BUSY",
          `your address is at its limit of ${limits.maxConnectionsPerIp} connections`,
        );
      }
      if (refuse === undefined) {
        cells[ADMITTED]++;
        return "admitted";
      }
      if (cells[REFUSING] >= this.#maxRefusing) return "drop";
      cells[REFUSING]++;
      return refuse;
    });
    if (outcome === "drop") return undefined;
    if (outcome instanceof FerryError) {
      return { refuse: outcome, end: () => this.#lock.hold(() => void cells[REFUSING]--) };
    }
    return {
      refuse: undefined,
      end: () =>
        this.#lock.hold(() => {
          cells[ADMITTED]--;
          this.#perAddress.decrement(address);
        }),
    };
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
