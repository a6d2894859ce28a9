/**
 * CANCEL and CLOSE_SERVER.
 *
 * @module
 */

import { decodeIdOnly, encodeIdOnly } from "../../protocol/messages.ts";
import { SERVICES } from "../../protocol/services.ts";
import { FerryError } from "../../protocol/errors.ts";
import { logOp, type Session } from "../session.ts";
import { requireRole } from "./access.ts";
import { cancelUpload } from "./upload.ts";

/** CANCEL (3,2): aborts a listing, download or upload in flight; it then answers CANCELLED. */
export async function handleCancel(session: Session, payload: Uint8Array): Promise<void> {
  if (session.account === null) throw new FerryError("UNAUTHENTICATED", "authenticate first");
  const id = decodeIdOnly(payload);
  if (await cancelUpload(session, id)) return;
  const task = session.tasks.get(id);
  if (task !== undefined) {
    task.abort.abort(new FerryError("CANCELLED", `${task.op} cancelled by the client`));
    return;
  }
  if (session.discarding.has(id)) return;
  throw new FerryError("UNKNOWN_REQUEST", `no request ${id} is in flight`);
}

/** CLOSE_SERVER (2,3): admin only; answers OK, then the server shuts down gracefully. */
export async function handleCloseServer(session: Session, payload: Uint8Array): Promise<void> {
  const id = decodeIdOnly(payload);
  requireRole(session, "admin", "closing the server");
  logOp(session, { op: "shutdown", result: "ok" });
  await session.writer.send(encodeIdOnly(SERVICES.OK, id));
  session.ctx.requestShutdown(session.account?.user ?? "?");
}
