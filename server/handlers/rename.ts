/**
 * RENAME (0,8): moves a file, symlink (the link itself) or directory within the root. An
 * existing target is replaced only when asked and only if it is not a directory.
 *
 * @module
 */

import { decodeRename, encodeIdOnly } from "../../protocol/messages.ts";
import { SERVICES } from "../../protocol/services.ts";
import { FerryError } from "../../protocol/errors.ts";
import { fsError, resolveParent } from "../paths.ts";
import { logOp, type Session } from "../session.ts";
import { requireRole } from "./access.ts";

/** RENAME (0,8) handler. */
export async function handleRename(session: Session, payload: Uint8Array): Promise<void> {
  const req = decodeRename(payload);
  requireRole(session, "write", "renaming");
  const from = await resolveParent(session.ctx.root, req.from, "read");
  const to = await resolveParent(session.ctx.root, req.to, "create");
  if (to.absolute.startsWith(`${from.absolute}/`)) {
    throw new FerryError(
      "BAD_ARGUMENT",
      `cannot move ${JSON.stringify(req.from)} into itself (${JSON.stringify(req.to)})`,
    );
  }
  try {
    await Deno.lstat(from.absolute);
  } catch (err) {
    throw fsError(err, req.from);
  }
  let target: Deno.FileInfo | null = null;
  try {
    target = await Deno.lstat(to.absolute);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw fsError(err, req.to);
  }
  if (target !== null && from.absolute !== to.absolute) {
    if (target.isDirectory) {
      throw new FerryError("ALREADY_EXISTS", `${JSON.stringify(req.to)} is an existing directory`);
    }
    if (!req.replace) {
      throw new FerryError(
        "ALREADY_EXISTS",
        `${JSON.stringify(req.to)} exists; ask to replace it (mv --force)`,
      );
    }
  }
  try {
    await Deno.rename(from.absolute, to.absolute);
  } catch (err) {
    throw fsError(err, req.from);
  }
  logOp(session, { op: "mv", path: req.from, to: req.to, result: "ok" });
  await session.writer.send(encodeIdOnly(SERVICES.OK, req.id));
}
