/**
 * STAT (0,3): describes one path.
 *
 * @module
 */

import { decodePathRequest, encodeStatResult } from "../../protocol/messages/mod.ts";
import { requireRole } from "../access.ts";
import { logOp, type Session } from "../session.ts";

/** STAT (0,3) handler: the entry for one path (symlinks inside the root are followed). */
export async function handleStat(session: Session, payload: Uint8Array): Promise<void> {
  const req = decodePathRequest(payload);
  requireRole(session, "read", "stat");
  const entry = await session.ctx.storage.stat(req.path);
  logOp(session, { op: "stat", path: req.path, result: "ok" });
  await session.writer.send(encodeStatResult({ id: req.id, entry }));
}
