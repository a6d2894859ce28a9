/**
 * STAT (0,3) and HASH (0,5): describe one path, and the SHA-256 of a file or of its first bytes
 * (which is how a client checks that a partial download still matches before resuming it).
 *
 * @module
 */

import { createHash } from "node:crypto";
import {
  decodeHashRequest,
  decodePathRequest,
  encodeDigest,
  encodeStatResult,
} from "../../protocol/messages.ts";
import { SERVICES } from "../../protocol/services.ts";
import { UNKNOWN_SIZE } from "../../protocol/bytes.ts";
import { FerryError } from "../../protocol/errors.ts";
import { resolveExisting } from "../paths.ts";
import { logOp, type Session } from "../session.ts";
import { requireRole } from "./access.ts";
import { statPath } from "./list.ts";
import { CHUNK, openRegularFile, readFull } from "./download.ts";

/** STAT (0,3) handler: the entry for one path (symlinks inside the root are followed). */
export async function handleStat(session: Session, payload: Uint8Array): Promise<void> {
  const req = decodePathRequest(payload);
  requireRole(session, "read", "stat");
  const { entry } = await statPath(session.ctx.root, req.path);
  logOp(session, { op: "stat", path: req.path, result: "ok" });
  await session.writer.send(encodeStatResult({ id: req.id, entry }));
}

/** Hashes the first `length` bytes of `file` (all of it for {@linkcode UNKNOWN_SIZE}). */
export async function hashPrefix(
  file: Deno.FsFile,
  length: number,
  signal?: AbortSignal,
): Promise<{ length: number; sha256: Uint8Array }> {
  const hash = createHash("sha256");
  const buf = new Uint8Array(CHUNK);
  let remaining = length === UNKNOWN_SIZE ? Number.MAX_SAFE_INTEGER : length;
  let hashed = 0;
  while (remaining > 0) {
    signal?.throwIfAborted();
    const n = await readFull(file, buf.subarray(0, Math.min(CHUNK, remaining)));
    if (n === 0) break;
    hash.update(buf.subarray(0, n));
    hashed += n;
    remaining -= n;
  }
  return { length: hashed, sha256: new Uint8Array(hash.digest()) };
}

/** HASH (0,5) handler: runs in the background, as hashing a large file takes a while. */
export function handleHash(session: Session, payload: Uint8Array): Promise<void> {
  const req = decodeHashRequest(payload);
  requireRole(session, "read", "hashing");
  session.run(req.id, "hash", async (signal) => {
    const { absolute } = await resolveExisting(session.ctx.root, req.path);
    const { file } = await openRegularFile(absolute, req.path);
    try {
      const digest = await hashPrefix(file, req.length, signal);
      if (req.length !== UNKNOWN_SIZE && digest.length < req.length) {
        throw new FerryError(
          "BAD_ARGUMENT",
          `${
            JSON.stringify(req.path)
          } has only ${digest.length} of the ${req.length} bytes asked for`,
        );
      }
      logOp(session, { op: "hash", path: req.path, bytes: digest.length, result: "ok" });
      await session.writer.send(encodeDigest(SERVICES.HASH_RESULT, { id: req.id, ...digest }));
    } finally {
      file.close();
    }
  });
  return Promise.resolve();
}
