/**
 * MKDIR (0,7): creates a directory, or with `parents` every missing one on the way (like
 * `mkdir -p`). Each level is located with the same checks as any other path, so a symlink
 * cannot lead the creation outside the root.
 *
 * @module
 */

import { decodeMkdir, encodeIdOnly } from "../../protocol/messages.ts";
import { SERVICES } from "../../protocol/services.ts";
import { FerryError } from "../../protocol/errors.ts";
import { fsError, parsePath, resolveParent } from "../paths.ts";
import { logOp, type Session } from "../session.ts";
import { requireRole } from "./access.ts";

async function makeOne(
  root: string,
  path: string,
  existingOk: boolean,
  last = true,
): Promise<void> {
  const { absolute } = await resolveParent(root, path, "create");
  try {
    await Deno.mkdir(absolute);
  } catch (err) {
    if (existingOk && err instanceof Deno.errors.AlreadyExists) {
      const info = await Deno.lstat(absolute);
      if (info.isDirectory) return;
      throw new FerryError(
        last ? "ALREADY_EXISTS" : "NOT_A_DIRECTORY",
        `${JSON.stringify(path)} exists and is not a directory`,
      );
    }
    throw fsError(err, path);
  }
}

/** MKDIR (0,7) handler. */
export async function handleMkdir(session: Session, payload: Uint8Array): Promise<void> {
  const req = decodeMkdir(payload);
  requireRole(session, "write", "creating directories");
  const components = parsePath(req.path, "create");
  if (components.length === 0) {
    if (req.parents) {
      await session.writer.send(encodeIdOnly(SERVICES.OK, req.id));
      return;
    }
    throw new FerryError("ALREADY_EXISTS", "the root exists");
  }
  if (req.parents) {
    for (let i = 1; i <= components.length; i++) {
      const prefix = components.slice(0, i).join("/");
      await makeOne(session.ctx.root, prefix, true, i === components.length);
    }
  } else {
    await makeOne(session.ctx.root, req.path, false);
  }
  logOp(session, { op: "mkdir", path: req.path, result: "ok" });
  await session.writer.send(encodeIdOnly(SERVICES.OK, req.id));
}
