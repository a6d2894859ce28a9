/**
 * RENAME (0,8): moves a file, symlink (the link itself) or directory within the root. An
 * existing target is replaced only when asked and only if it is not a directory.
 *
 * @module
 */

import { decodeRename, encodeIdOnly } from "../../protocol/messages/mod.ts";
import { SERVICES } from "../../protocol/services.ts";
import { requireRole } from "../access.ts";
import { logOp, type Session } from "../session.ts";

/** RENAME (0,8) handler. */
export async function handleRename(session: Session, payload: Uint8Array): Promise<void> {
  const req = decodeRename(payload);
  requireRole(session, "write", "renaming");
  await session.ctx.storage.rename(req.from, req.to, { replace: req.replace });
  logOp(session, { op: "mv", path: req.from, to: req.to, result: "ok" });
  await session.writer.send(encodeIdOnly(SERVICES.OK, req.id));
}
