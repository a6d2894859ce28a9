/**
 * HASH (0,5): the digest of a file or of its first bytes, in the algorithm the request names
 * (SHA-256 when it names none), which is how a client checks that a partial download still
 * matches before resuming it, and how `stat` shows a file's SHA-256.
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
  const algorithm = req.algorithm ?? "sha256";
  if (!(session.ctx.storage.checksums ?? ["sha256"]).includes(algorithm)) {
    throw new FerryError("BAD_ARGUMENT", `this server does not hash with ${algorithm}`);
  }
  return {
    id: req.id,
    async run(signal) {
      const digest = await session.ctx.storage.hash(req.path, {
        length: req.length,
        algorithm,
        signal,
      });
      if (req.length !== UNKNOWN_SIZE && digest.length < req.length) {
        throw new FerryError(
          "BAD_ARGUMENT",
          `${quoteName(req.path)} has only ${digest.length} of the ${req.length} bytes asked for`,
        );
      }
      logOp(session, { op: "hash", path: req.path, bytes: digest.length, algorithm, result: "ok" });
      await session.writer.send(
        encodeDigest(SERVICES.HASH_RESULT, {
          id: req.id,
          length: digest.length,
          digest: digest.digest,
        }),
      );
    },
  };
}
