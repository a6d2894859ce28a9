/**
 * HASH (0,5): the SHA-256 of a file or of its first bytes, which is how a client checks that a
 * partial download still matches before resuming it.
 *
 * @module
 */

import { decodeHashRequest, encodeDigest } from "../../protocol/messages/mod.ts";
import { SERVICES } from "../../protocol/services.ts";
import { UNKNOWN_SIZE } from "../../protocol/bytes.ts";
import { FerryError } from "../../protocol/errors.ts";
import { requireRole } from "../access.ts";
import { quoteName } from "../../common/names.ts";
import { type BackgroundWork, logOp, type Session } from "../session.ts";

/** HASH (0,5): runs in the background, as hashing a large file takes a while. */
export function startHash(session: Session, payload: Uint8Array): BackgroundWork {
  const req = decodeHashRequest(payload);
  requireRole(session, "read", "hashing");
  return {
    id: req.id,
    async run(signal) {
      const digest = await session.ctx.storage.hash(req.path, { length: req.length, signal });
      if (req.length !== UNKNOWN_SIZE && digest.length < req.length) {
        throw new FerryError(
          "BAD_ARGUMENT",
          `${quoteName(req.path)} has only ${digest.length} of the ${req.length} bytes asked for`,
        );
      }
      logOp(session, { op: "hash", path: req.path, bytes: digest.length, result: "ok" });
      await session.writer.send(
        encodeDigest(SERVICES.HASH_RESULT, {
          id: req.id,
          length: digest.length,
          sha256: digest.digest,
        }),
      );
    },
  };
}
