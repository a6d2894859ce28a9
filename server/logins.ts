/**
 * Logins: a token checked against the accounts, under the per-address back-off of
 * {@linkcode AuthThrottle}, as one step, so that the check of the lockout, the token and the
 * count of a failure are never split by another login. A server running one isolate checks them
 * in place ({@linkcode createLogins}); one running several sends each to its coordinator, which
 * holds the accounts and the only throttle (`server/workers/coordinator.ts`).
 *
 * @module
 */

import { type Account, authenticate } from "./auth.ts";
import type { AuthThrottle } from "./limits.ts";

/** What came of one login. */
export type LoginOutcome =
  /** The address is locked out: the token was not even checked. */
  | { readonly kind: "locked"; readonly lockedMs: number }
  /** The token was not accepted; `lockoutMs` > 0 when this failure locked the address out. */
  | { readonly kind: "failed"; readonly lockoutMs: number }
  /** The token belongs to `account`. */
  | { readonly kind: "ok"; readonly account: Account };

/** Checks logins for a server. */
export interface Logins {
  /** Checks `token` from client address `address` (an `addressKey`). */
  attempt(address: string, token: string): LoginOutcome | Promise<LoginOutcome>;
}

/**
 * Logins against the accounts `accounts()` returns (asked on each attempt, so they can be
 * reloaded), throttled by `throttle`.
 *
 * @example Usage
 * ```ts
 * import { createLogins } from "./logins.ts";
 * import { accountFor } from "./auth.ts";
 * import { AuthThrottle, DEFAULT_LIMITS } from "./limits.ts";
 * const logins = createLogins(() => [accountFor("ann", "read", "t0ken")], new AuthThrottle(DEFAULT_LIMITS));
 * logins.attempt("10.0.0.1", "t0ken"); // => { kind: "ok", account: ... }
 * ```
 */
export function createLogins(accounts: () => readonly Account[], throttle: AuthThrottle): Logins {
  return {
    attempt(address, token) {
      const locked = throttle.lockedFor(address);
      if (locked > 0) return { kind: "locked", lockedMs: locked };
      const account = authenticate(accounts(), token);
      if (account === undefined) return { kind: "failed", lockoutMs: throttle.fail(address) };
      return { kind: "ok", account };
    },
  };
}
