/**
 * LIST (0,0): streams a directory's entries as LIST_ENTRIES batches (a file lists as itself).
 * Entries describe links as links, and the server's temporary files are hidden (see
 * `Storage.list`).
 *
 * @module
 */

import {
  decodePathRequest,
  encodeListEntries,
  type Entry,
  entrySize,
  LIST_ENTRIES_OVERHEAD,
} from "../../protocol/messages/mod.ts";
import { MAX_PAYLOAD } from "../../protocol/frame.ts";
import { utf8Bytes } from "../../protocol/bytes.ts";
import { FerryError } from "../../protocol/errors.ts";
import { requireRole } from "../access.ts";
import { type BackgroundWork, logOp, type Session } from "../session.ts";

/** LIST (0,0): the listing runs in the background, in batches that fit one frame each. */
export function startList(session: Session, payload: Uint8Array): BackgroundWork {
  const req = decodePathRequest(payload);
  requireRole(session, "read", "listing");
  return {
    id: req.id,
    async run(signal) {
      const started = performance.now();
      const listing = await session.ctx.storage.list(req.path, signal);
      const entries = listing.entries ?? [listing.entry];
      let batch: Entry[] = [];
      let size = LIST_ENTRIES_OVERHEAD;
      let count = 0;
      for await (const entry of entries) {
        const bytes = entrySize(utf8Bytes(entry.name).length);
        if (size + bytes > MAX_PAYLOAD) {
          signal.throwIfAborted();
          await session.writer.send(
            encodeListEntries({ id: req.id, last: false, entries: batch }),
          );
          batch = [];
          size = LIST_ENTRIES_OVERHEAD;
        }
        batch.push(entry);
        size += bytes;
        count++;
      }
      if (signal.aborted) throw new FerryError("CANCELLED", "listing cancelled");
      await session.writer.send(encodeListEntries({ id: req.id, last: true, entries: batch }));
      logOp(session, {
        op: "ls",
        path: req.path,
        entries: count,
        ms: Math.round(performance.now() - started),
        result: "ok",
      });
    },
  };
}
