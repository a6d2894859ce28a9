/**
 * The server's limits and deadlines, with their defaults, and the small trackers that enforce
 * the per-address and per-connection ones: the back-off after failed logins, and the flood
 * budget of a connection (the connection counts are in `connection_caps.ts`). The server-wide
 * trackers (`ConnectionCaps`, {@linkcode AuthThrottle}) live on the server's context, one of
 * each per server, so that they could later be backed by a coordinator shared between
 * processes without their users changing.
 *
 * @module
 */

/** Limits and deadlines; every field has a default in {@linkcode DEFAULT_LIMITS}. */
export interface Limits {
  /** Logged-in connections served at once; more are told BUSY and closed. */
  maxConnections: number;
  /**
   * Logged-in connections served at once from one client address (an IPv4 address, or an
   * IPv6 /64); more are told BUSY and closed.
   */
  maxConnectionsPerIp: number;
  /**
   * Connections not logged in yet (in their TLS handshake or before AUTH succeeded) at once,
   * apart from the logged-in ones. Past it a newcomer evicts the oldest connection still in
   * its handshake from the address holding the most (see `connection_caps.ts`).
   */
  maxUnauthenticated: number;
  /** Connections not logged in yet from one client address; more are dropped at once. */
  maxUnauthenticatedPerIp: number;
  /** Time allowed for the TLS handshake, in ms. */
  handshakeTimeoutMs: number;
  /** Time allowed from the end of the TLS handshake to a successful AUTH, in ms. */
  authTimeoutMs: number;
  /**
   * A connection that received no frame and finished no write for this long, and runs nothing
   * but uploads waiting for their data, is closed, in ms.
   */
  idleTimeoutMs: number;
  /** A connection whose pending write makes no progress for this long is closed, in ms. */
  writeStallTimeoutMs: number;
  /** Failed AUTH attempts before the connection is closed. */
  maxAuthFailures: number;
  /**
   * Failed AUTH attempts from one client address within {@linkcode authFailureWindowMs}
   * before that address is locked out.
   */
  authFailuresPerIp: number;
  /** The window in which failed AUTH attempts of one address are counted, in ms. */
  authFailureWindowMs: number;
  /** First lockout of an address, in ms; each further lockout doubles it. */
  authLockoutMs: number;
  /** Longest lockout, in ms. */
  authLockoutMaxMs: number;
  /** Client addresses whose failed logins are remembered; the oldest are forgotten first. */
  trackedAddresses: number;
  /**
   * Useless frames a connection may send in a burst: frames refused with a protocol error,
   * CANCELs, repeated HELLOs, data frames without data. Past it the connection is closed.
   */
  floodBudget: number;
  /** Useless frames per second a connection may send without ever exhausting its budget. */
  floodRefillPerSecond: number;
  /** Operations running at once per connection; past it the server stops reading. */
  maxInflightPerConnection: number;
  /** Largest upload accepted, in bytes. */
  maxUploadBytes: number;
  /** Time transfers in flight get to finish when the server shuts down, in ms. */
  shutdownGraceMs: number;
  /** Most bytes the files in the data root may take together; 0 means no quota. */
  quotaBytes: number;
  /** A kept partial upload untouched for this long is removed, in ms. */
  partialTtlMs: number;
  /** How often stale temporary files are looked for (also once at start-up), in ms. */
  cleanupIntervalMs: number;
  /**
   * Log lines that connections not logged in may write together in a burst; past it (and
   * past each one's own small budget) their lines are counted, not written.
   */
  preLoginLogBurst: number;
  /** Log lines per second connections not logged in may write together, indefinitely. */
  preLoginLogPerSecond: number;
}

/** Default limits. */
export const DEFAULT_LIMITS: Readonly<Limits> = {
  maxConnections: 256,
  maxConnectionsPerIp: 32,
  maxUnauthenticated: 256,
  maxUnauthenticatedPerIp: 32,
  handshakeTimeoutMs: 10_000,
  authTimeoutMs: 10_000,
  idleTimeoutMs: 300_000,
  writeStallTimeoutMs: 60_000,
  maxAuthFailures: 3,
  authFailuresPerIp: 5,
  authFailureWindowMs: 60_000,
  authLockoutMs: 2_000,
  authLockoutMaxMs: 300_000,
  trackedAddresses: 10_000,
  floodBudget: 1_000,
  floodRefillPerSecond: 100,
  maxInflightPerConnection: 16,
  maxUploadBytes: Number.MAX_SAFE_INTEGER,
  shutdownGraceMs: 10_000,
  quotaBytes: 0,
  partialTtlMs: 24 * 3_600_000,
  cleanupIntervalMs: 3_600_000,
  preLoginLogBurst: 200,
  preLoginLogPerSecond: 20,
};

// ---------------------------------------------------------------------------------------------
// Client addresses

/**
 * The key under which per-address limits count a client: an IPv4 address as is (also when
 * written IPv4-mapped, `::ffff:1.2.3.4`), an IPv6 address by its /64 prefix (one host
 * commonly holds a whole /64, so counting single IPv6 addresses would count nothing).
 */
export function addressKey(hostname: string): string {
  let host = hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
  const zone = host.indexOf("%");
  if (zone !== -1) host = host.slice(0, zone);
  if (!host.includes(":")) return host;
  const groups = expandIpv6(host);
  if (groups === undefined) return host.toLowerCase();
  if (groups.slice(0, 5).every((g) => g === "0") && groups[5] === "ffff") {
    const [hi, lo] = [parseInt(groups[6], 16), parseInt(groups[7], 16)];
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return `${groups.slice(0, 4).join(":")}::/64`;
}

/**
 * The eight 16-bit groups of an IPv6 address (a trailing dotted quad allowed), as lower-case
 * hex without leading zeros; `undefined` when it is not one.
 */
export function expandIpv6(host: string): string[] | undefined {
  const halves = host.toLowerCase().split("::");
  if (halves.length > 2) return undefined;
  const part = (s: string) => (s === "" ? [] : s.split(":"));
  const head = part(halves[0]);
  const tail = halves.length === 2 ? part(halves[1]) : [];
  // A trailing dotted quad stands for two groups.
  const last = tail.length > 0 ? tail : head;
  const quad = last.length > 0 ? /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(last[last.length - 1]) : null;
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number);
    last.splice(last.length - 1, 1, ((a << 8) | b).toString(16), ((c << 8) | d).toString(16));
  }
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return undefined;
  return groups.map((g) => parseInt(g, 16).toString(16));
}

/** The {@linkcode addressKey} of a peer written `ip:port` or `[ipv6]:port`. */
export function peerAddressKey(peer: string): string {
  if (peer.startsWith("[")) {
    const end = peer.indexOf("]");
    return addressKey(end === -1 ? peer.slice(1) : peer.slice(1, end));
  }
  const colon = peer.lastIndexOf(":");
  return addressKey(colon === -1 ? peer : peer.slice(0, colon));
}

// ---------------------------------------------------------------------------------------------
// Back-off after failed logins

/** What {@linkcode AuthThrottle} remembers of one address. */
interface AddressRecord {
  /** Failures counted in the current window. */
  failures: number;
  /** When the current window began. */
  windowStart: number;
  /** Lockouts so far; each doubles the next. */
  lockouts: number;
  /** No AUTH from this address is considered before this time. */
  lockedUntil: number;
  /** Time of the last failure. */
  lastFailure: number;
}

/** Settings of an {@linkcode AuthThrottle}, named as in {@linkcode Limits}. */
export type AuthThrottleLimits = Pick<
  Limits,
  | "authFailuresPerIp"
  | "authFailureWindowMs"
  | "authLockoutMs"
  | "authLockoutMaxMs"
  | "trackedAddresses"
>;

/**
 * Counts failed logins per client address. After `authFailuresPerIp` failures within
 * `authFailureWindowMs`, the address is locked out for `authLockoutMs`, doubling with each
 * further lockout up to `authLockoutMaxMs`; a locked-out address gets no answer to its tokens
 * at all, right or wrong, so guessing stops paying. A success does not clear the count (a
 * holder of one token could otherwise hide guesses at another between its own logins); the
 * record is forgotten once the address has been quiet for the longest lockout.
 *
 * Memory stays bounded whatever the number of addresses: at most `trackedAddresses` records
 * are kept, and the one touched least recently is forgotten first.
 */
export class AuthThrottle {
  readonly #limits: AuthThrottleLimits;
  readonly #records = new Map<string, AddressRecord>();

  /** Creates a tracker with the given limits. */
  constructor(limits: AuthThrottleLimits) {
    this.#limits = limits;
  }

  /** Number of addresses remembered. */
  get size(): number {
    return this.#records.size;
  }

  /** Milliseconds until `address` may try again; 0 when it may try now. */
  lockedFor(address: string, now: number = Date.now()): number {
    const record = this.#current(address, now);
    return record === undefined ? 0 : Math.max(0, record.lockedUntil - now);
  }

  /**
   * Records a failed login from `address`; returns the lockout it caused in ms, or 0 when the
   * address may still try.
   */
  fail(address: string, now: number = Date.now()): number {
    const limits = this.#limits;
    let record = this.#current(address, now);
    if (record === undefined) {
      record = { failures: 0, windowStart: now, lockouts: 0, lockedUntil: 0, lastFailure: now };
    }
    // Most recently used last: a Map iterates in insertion order.
    this.#records.delete(address);
    this.#records.set(address, record);
    while (this.#records.size > Math.max(1, limits.trackedAddresses)) {
      this.#records.delete(this.#records.keys().next().value!);
    }
    if (now - record.windowStart > limits.authFailureWindowMs) {
      record.failures = 0;
      record.windowStart = now;
    }
    record.failures++;
    record.lastFailure = now;
    if (record.failures < limits.authFailuresPerIp) return 0;
    const lockout = Math.min(
      limits.authLockoutMaxMs,
      limits.authLockoutMs * 2 ** Math.min(record.lockouts, 30),
    );
    record.lockouts++;
    record.failures = 0;
    record.windowStart = now;
    record.lockedUntil = now + lockout;
    return lockout;
  }

  /** The record of `address`, or `undefined` (and forgotten) once it has been quiet long enough. */
  #current(address: string, now: number): AddressRecord | undefined {
    const record = this.#records.get(address);
    if (record === undefined) return undefined;
    const quietSince = Math.max(record.lastFailure, record.lockedUntil);
    if (
      now - quietSince > this.#limits.authLockoutMaxMs &&
      now - record.windowStart > this.#limits.authFailureWindowMs
    ) {
      this.#records.delete(address);
      return undefined;
    }
    return record;
  }
}

// ---------------------------------------------------------------------------------------------
// Flood budget

/**
 * A token bucket for one connection's useless frames: it starts full with `budget` tokens and
 * refills at `refillPerSecond`; each useless frame takes one. Empty means a flood.
 */
export class FloodBudget {
  readonly #budget: number;
  readonly #refill: number;
  #tokens: number;
  #at: number;

  /** Creates a full bucket. */
  constructor(budget: number, refillPerSecond: number, now: number = performance.now()) {
    this.#budget = budget;
    this.#refill = refillPerSecond;
    this.#tokens = budget;
    this.#at = now;
  }

  /** Takes `cost` tokens; returns false (a flood) when there were not enough. */
  spend(cost = 1, now: number = performance.now()): boolean {
    this.#tokens = Math.min(this.#budget, this.#tokens + ((now - this.#at) / 1000) * this.#refill);
    this.#at = now;
    if (this.#tokens < cost) return false;
    this.#tokens -= cost;
    return true;
  }
}
