/**
 * CANCEL (3,2): aborts a listing, download, hash or upload in flight, which then answers
 * CANCELLED.
 *
 * @module
 */

import { decodeIdOnly } from "../../protocol/messages/mod.ts";
import { FerryError } from "../../protocol/errors.ts";
import type { Session } from "../session.ts";

/** CANCEL (3,2) handler; the cancelled request answers, CANCEL itself never does. */
export async function handleCancel(session: Session, payload: Uint8Array): Promise<void> {
  const id = decodeIdOnly(payload);
  if (await session.uploads.cancel(id)) return;
  const task = session.tasks.get(id);
  if (task !== undefined) {
    task.abort.abort(new FerryError("CANCELLED", `${task.op} cancelled by the client`));
    return;
  }
  if (session.uploads.has(id)) return; // a rejected upload: nothing left to cancel
  throw new FerryError("UNKNOWN_REQUEST", `no request ${id} is in flight`);
}
