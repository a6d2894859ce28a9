/**
 * DELETE (0,1): removes a file, a symlink (the link itself, never its target) or an empty
 * directory.
 *
 * @module
 */

import { decodePathRequest, encodeIdOnly } from "../../protocol/messages.ts";
import { SERVICES } from "../../protocol/services.ts";
import { fsError, resolveParent } from "../paths.ts";
import { assertNewRequest, logOp, type Session } from "../session.ts";
import { requireRole } from "./access.ts";

/** DELETE (0,1) handler. */
export async function handleDelete(session: Session, payload: Uint8Array): Promise<void> {
  const req = decodePathRequest(payload);
  requireRole(session, "write", "deleting");
  assertNewRequest(session, req.id);
  const { absolute } = await resolveParent(session.ctx.root, req.path, "read");
  try {
    const info = await Deno.lstat(absolute);
    await Deno.remove(absolute);
    if (info.isFile) session.ctx.quota.used = Math.max(0, session.ctx.quota.used - info.size);
  } catch (err) {
    throw fsError(err, req.path);
  }
  logOp(session, { op: "rm", path: req.path, result: "ok" });
  await session.writer.send(encodeIdOnly(SERVICES.OK, req.id));
}
