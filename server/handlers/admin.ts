/**
 * CLOSE_SERVER (2,3): an admin shuts the server down.
 *
 * @module
 */

import { decodeIdOnly, encodeIdOnly } from "../../protocol/messages/mod.ts";
import { SERVICES } from "../../protocol/services.ts";
import { requireRole } from "../access.ts";
import { logOp, type Session } from "../session.ts";

/** CLOSE_SERVER (2,3): admin only; answers OK, then the server shuts down gracefully. */
export async function handleCloseServer(session: Session, payload: Uint8Array): Promise<void> {
  const id = decodeIdOnly(payload);
  requireRole(session, "admin", "closing the server");
  logOp(session, { op: "shutdown", result: "ok" });
  await session.writer.send(encodeIdOnly(SERVICES.OK, id));
  session.ctx.requestShutdown(session.account?.user ?? "?");
}
