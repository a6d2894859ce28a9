/**
 * MKDIR (0,7): creates a directory, or with `parents` every missing one on the way (like
 * `mkdir -p`).
 *
 * @module
 */

import { decodeMkdir, encodeIdOnly } from "../../protocol/messages/mod.ts";
import { SERVICES } from "../../protocol/services.ts";
import { requireRole } from "../access.ts";
import { logOp, type Session } from "../session.ts";

/** MKDIR (0,7) handler. */
export async function handleMkdir(session: Session, payload: Uint8Array): Promise<void> {
  const req = decodeMkdir(payload);
  requireRole(session, "write", "creating directories");
  await session.ctx.storage.mkdir(req.path, { parents: req.parents });
  logOp(session, { op: "mkdir", path: req.path, result: "ok" });
  await session.writer.send(encodeIdOnly(SERVICES.OK, req.id));
}
