/**
 * LIST (0,0): streams a directory's entries as LIST_ENTRIES batches (a file lists as itself).
 * Entries describe links as links, and the server's temporary files are hidden (see
 * `Storage.list`). A LIST asking for names only (PROTOCOL.md §4.2) lets the storage skip each
 * entry's size and time.
 *
 * Memory stays the same whatever the directory's size: entries are encoded into one frame
 * buffer as the storage reads them, and the buffer goes out (and is reused) once full.
 *
 * @module
 */

import { decodeList, ListEntriesEncoder } from "../../protocol/messages/mod.ts";
import { FerryError } from "../../protocol/errors.ts";
import { requireRole } from "../access.ts";
import { type BackgroundWork, logOp, type Session } from "../session.ts";

/** LIST (0,0): the listing runs in the background, in batches that fit one frame each. */
export function startList(session: Session, payload: Uint8Array): BackgroundWork {
  const req = decodeList(payload);
  requireRole(session, "read", "listing");
  return {
    id: req.id,
    async run(signal) {
      const started = performance.now();
      const namesOnly = req.namesOnly ?? false;
      const listing = await session.ctx.storage.list(req.path, signal, { namesOnly });
      const entries = listing.entries ?? [listing.entry];
      const frames = new ListEntriesEncoder(req.id);
      let count = 0;
      for await (const entry of entries) {
        if (!frames.add(entry)) {
          signal.throwIfAborted();
          await session.writer.send(frames.frame(false));
          frames.add(entry);
        }
        count++;
      }
      if (signal.aborted) throw new FerryError("CANCELLED", "listing cancelled");
      await session.writer.send(frames.frame(true));
      logOp(session, {
        op: "ls",
        path: req.path,
        ...(namesOnly ? { names: true } : {}),
        entries: count,
        ms: Math.round(performance.now() - started),
        result: "ok",
      });
    },
  };
}
