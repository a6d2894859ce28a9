/**
 * Role checks shared by the handlers: what an account may do, and whether the server still
 * takes new work.
 *
 * @module
 */

import type { Role } from "../protocol/messages/mod.ts";
import { FerryError } from "../protocol/errors.ts";
import { roleAllows } from "./auth.ts";
import type { Session } from "./session.ts";

/**
 * Throws unless the session is authenticated with at least `needed`, and (for new work) the
 * server is not shutting down.
 */
export function requireRole(session: Session, needed: Role, what: string): void {
  if (session.account === null) {
    throw new FerryError("UNAUTHENTICATED", `authenticate before ${what}`);
  }
  if (!roleAllows(session.account.role, needed)) {
    throw new FerryError(
      "FORBIDDEN",
      `${what} needs the ${needed} role; user ${
        JSON.stringify(session.account.user)
      } has ${session.account.role}`,
    );
  }
  if (session.ctx.isShuttingDown()) {
    throw new FerryError(
      "SHUTTING_DOWN",
      "the server is shutting down and accepts no new operations",
    );
  }
}
