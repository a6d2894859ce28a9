/**
 * CANCEL (3,2): aborts a listing, download, hash or upload in flight, which then answers
 * CANCELLED. CANCEL itself is never answered: a CANCEL for an id with no request in flight
 * (one that ended before the CANCEL arrived, or never existed) is ignored, so a late CANCEL
 * cannot produce a frame that a request reusing the id would mistake for its own. It costs
 * one unit of the flood budget all the same.
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
  // A rejected upload, or no request at all (it ended before the CANCEL arrived): nothing to
  // cancel, nothing to say.
}
