/**
 * How many connections a server holds, in two pools that never take places from each other:
 *
 * - **logged in**: at most `maxConnections` in all and `maxConnectionsPerIp` per client
 *   address. A connection arriving while its address (or the server) is at that limit is told
 *   BUSY after its handshake and closed; one that logs in past it is told BUSY then.
 * - **not logged in yet** (handshaking, or waiting for AUTH): at most `maxUnauthenticated` in
 *   all and `maxUnauthenticatedPerIp` per address. Past the per-address limit a new connection
 *   is dropped at once, so one address can never hold more. When the whole pool is full, the
 *   newcomer takes the place of the oldest connection that has not even finished its TLS
 *   handshake, taken from the address holding the most places (never from an address holding
 *   only one): silent sockets from a few addresses cannot lock out a client from another one,
 *   whose own connection is never the one evicted while any address holds two.
 *
 * Connections being refused (the handshake, then BUSY) are counted apart, at most
 * `maxRefusing`; past that, refusals are dropped without a handshake.
 *
 * @module
 */

import { FerryError } from "../protocol/errors.ts";
import type { Limits } from "./limits.ts";

/** The limits {@linkcode ConnectionCaps} enforces, named as in {@linkcode Limits}. */
export type ConnectionLimits = Pick<
  Limits,
  "maxConnections" | "maxConnectionsPerIp" | "maxUnauthenticated" | "maxUnauthenticatedPerIp"
>;

/** A connection let in by {@linkcode ConnectionCaps.admit}. */
export interface Admission {
  /** When set, the connection is over a limit: it is told this error and closed. */
  readonly refuse: FerryError | undefined;
  /** Its TLS handshake is done: it is no longer among the first evicted. */
  handshaken(): void;
  /**
   * It has logged in: it moves to the logged-in pool. Returns the error to tell it (and close
   * it with) when that pool is full for the server or its address.
   */
  login(): FerryError | undefined;
  /** The connection has ended: it no longer counts. Safe to call more than once. */
  end(): void;
}

/** Why a connection was evicted, for its log line and its closing. */
export const EVICTED = "evicted: too many connections not logged in";

/** One place in the not-logged-in pool. */
interface Pending {
  readonly address: string;
  handshaken: boolean;
  /** Closes the connection; called once if it is evicted. */
  readonly evict: () => void;
}

/** Counts the connections of one server in its two pools; see the module documentation. */
export class ConnectionCaps {
  readonly #limits: ConnectionLimits;
  readonly #maxRefusing: number;
  /** Logged-in connections per address. */
  readonly #loggedIn = new Map<string, number>();
  #loggedInTotal = 0;
  /** Not-logged-in connections per address, oldest first. */
  readonly #pending = new Map<string, Pending[]>();
  #pendingTotal = 0;
  #refusing = 0;

  /** Creates the counters; at most `maxRefusing` connections are refused properly at once. */
  constructor(limits: ConnectionLimits, maxRefusing: number) {
    this.#limits = limits;
    this.#maxRefusing = maxRefusing;
  }

  /** Logged-in connections now. */
  get loggedIn(): number {
    return this.#loggedInTotal;
  }

  /** Connections not logged in yet now (refusals not counted). */
  get pending(): number {
    return this.#pendingTotal;
  }

  /**
   * Counts a new connection from `address`. Returns `undefined` when it is to be dropped at
   * once, without a handshake; otherwise its admission, whose `refuse` says whether it is to
   * be told BUSY. `evict` closes the connection should it be evicted later (see the module
   * documentation); admitting it may evict another connection, whose `evict` is called.
   */
  admit(address: string, evict: () => void): Admission | undefined {
    const refuse = this.#overLoggedInLimit(address);
    if (refuse !== undefined) {
      if (this.#refusing >= this.#maxRefusing) return undefined;
      this.#refusing++;
      let ended = false;
      return {
        refuse,
        handshaken() {},
        login: () => refuse,
        end: () => {
          if (!ended) this.#refusing--;
          ended = true;
        },
      };
    }
    const limits = this.#limits;
    if ((this.#pending.get(address)?.length ?? 0) >= limits.maxUnauthenticatedPerIp) {
      return undefined;
    }
    if (this.#pendingTotal >= limits.maxUnauthenticated) {
      const victim = this.#victim();
      if (victim === undefined) return undefined;
      this.#removePending(victim);
      victim.evict();
    }
    const entry: Pending = { address, handshaken: false, evict };
    const list = this.#pending.get(address);
    if (list === undefined) this.#pending.set(address, [entry]);
    else list.push(entry);
    this.#pendingTotal++;
    let state: "pending" | "logged in" | "ended" = "pending";
    return {
      refuse: undefined,
      handshaken: () => void (entry.handshaken = true),
      login: () => {
        if (state !== "pending") return undefined;
        const over = this.#overLoggedInLimit(address);
        if (over !== undefined) return over;
        this.#removePending(entry);
        this.#loggedIn.set(address, (this.#loggedIn.get(address) ?? 0) + 1);
        this.#loggedInTotal++;
        state = "logged in";
        return undefined;
      },
      end: () => {
        if (state === "pending") this.#removePending(entry);
        if (state === "logged in") {
          this.#loggedInTotal--;
          const left = (this.#loggedIn.get(address) ?? 1) - 1;
          if (left > 0) this.#loggedIn.set(address, left);
          else this.#loggedIn.delete(address);
        }
        state = "ended";
      },
    };
  }

  /**
   * The connection to evict for a newcomer when the pool is full: the oldest of those still
   * handshaking at the address holding the most places (more than one), or `undefined`.
   */
  #victim(): Pending | undefined {
    let heaviest: Pending[] | undefined;
    for (const list of this.#pending.values()) {
      if (!list.some((p) => !p.handshaken)) continue;
      if (heaviest === undefined || list.length > heaviest.length) heaviest = list;
    }
    if (heaviest === undefined || heaviest.length < 2) return undefined;
    return heaviest.find((p) => !p.handshaken);
  }

  #removePending(entry: Pending): void {
    const list = this.#pending.get(entry.address);
    const at = list?.indexOf(entry) ?? -1;
    if (list === undefined || at === -1) return;
    list.splice(at, 1);
    if (list.length === 0) this.#pending.delete(entry.address);
    this.#pendingTotal--;
  }

  /** Why `address` may not have another logged-in connection now, or `undefined`. */
  #overLoggedInLimit(address: string): FerryError | undefined {
    return loggedInRefusal(this.#limits, this.#loggedInTotal, this.#loggedIn.get(address) ?? 0);
  }
}

/**
 * Why one more logged-in connection may not be had, with `total` logged in on the server and
 * `atAddress` from the newcomer's address (`BUSY`), or `undefined`. The rule of both
 * {@linkcode ConnectionCaps} and the shared caps of several isolates.
 */
export function loggedInRefusal(
  limits: ConnectionLimits,
  total: number,
  atAddress: number,
): FerryError | undefined {
  if (total >= limits.maxConnections) {
    return new FerryError(
      "BUSY",
      `the server is at its limit of ${limits.maxConnections} connections`,
    );
  }
  if (atAddress >= limits.maxConnectionsPerIp) {
    return new FerryError(
      "BUSY",
      `your address is at its limit of ${limits.maxConnectionsPerIp} connections`,
    );
  }
  return undefined;
}
