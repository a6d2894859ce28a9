/**
 * DELETE (0,1): removes a file, a symlink (the link itself, never its target) or an empty
 * directory.
 *
 * @module
 */

import { decodePathRequest, encodeIdOnly } from "../../protocol/messages/mod.ts";
import { SERVICES } from "../../protocol/services.ts";
import { requireRole } from "../access.ts";
import { assertNewRequest, logOp, type Session } from "../session.ts";

/** DELETE (0,1) handler. */
export async function handleDelete(session: Session, payload: Uint8Array): Promise<void> {
  const req = decodePathRequest(payload);
  requireRole(session, "write", "deleting");
  assertNewRequest(session, req.id);
  const { freedBytes } = await session.ctx.storage.remove(req.path);
  session.ctx.quota.freed(freedBytes);
  logOp(session, { op: "rm", path: req.path, result: "ok" });
  await session.writer.send(encodeIdOnly(SERVICES.OK, req.id));
}
