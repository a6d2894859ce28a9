/**
 * DOWNLOAD (1,0): streams a file, or a range of it, as FILE_INFO, DOWNLOAD_DATA frames and an
 * EOF carrying the digest of the bytes sent, in the connection's checksum algorithm. Reads and
 * writes are batched (`DATA_BATCH` bytes, four full frames, per write) and one data-frame buffer
 * is reused, so memory does not grow with the file.
 *
 * @module
 */

import {
  createDataFrameBuffer,
  DATA_BATCH,
  decodeDownload,
  encodeEof,
  encodeFileInfo,
} from "../../protocol/messages/mod.ts";
import { SERVICES } from "../../protocol/services.ts";
import { FerryError } from "../../protocol/errors.ts";
import { UNKNOWN_SIZE } from "../../protocol/bytes.ts";
import { quoteName } from "../../common/names.ts";
import { createHasher } from "../../common/hash_file.ts";
import { requireRole } from "../access.ts";
import { type BackgroundWork, logOp, type Session } from "../session.ts";

/** DOWNLOAD (1,0): the transfer runs in the background. */
export function startDownload(session: Session, payload: Uint8Array): BackgroundWork {
  const req = decodeDownload(payload);
  requireRole(session, "read", "downloading");
  const algorithm = session.checksum;
  const range = req.length === undefined || req.length === UNKNOWN_SIZE ? null : req.length;
  return {
    id: req.id,
    async run(signal) {
      const started = performance.now();
      const file = await session.ctx.storage.openRead(req.path, req.offset, signal);
      let sent = 0;
      try {
        let remaining = file.size - req.offset;
        if (range !== null) {
          if (range > remaining) {
            throw new FerryError(
              "BAD_ARGUMENT",
              `bytes ${req.offset}..${req.offset + range} are past the end of ${
                quoteName(req.path)
              } (${file.size} bytes)`,
            );
          }
          remaining = range;
        }
        await session.writer.send(
          encodeFileInfo({ id: req.id, size: file.size, mtime: file.mtime }),
        );
        const hasher = createHasher(algorithm);
        // One reused frame buffer: each read lands in place in its data region, and the
        // headers are laid out around it. No second buffer per download, one read per write.
        // Sized to the file: a small file costs a small buffer.
        const frames = createDataFrameBuffer(
          SERVICES.DOWNLOAD_DATA,
          Math.max(1, Math.min(DATA_BATCH, remaining)),
        );
        while (remaining > 0) {
          signal.throwIfAborted();
          const region = frames.region(remaining);
          const n = await file.read(region);
          if (n === 0) {
            throw new FerryError("INTERNAL", `${quoteName(req.path)} shrank while being sent`);
          }
          hasher.update(region.subarray(0, n));
          remaining -= n;
          sent += n;
          // The buffer is reused: send resolves only after the bytes were written.
          await session.writer.send(frames.frame(req.id, n));
        }
        await session.writer.send(encodeEof({ id: req.id, size: sent, digest: hasher.digest() }));
      } finally {
        file.close();
      }
      logOp(session, {
        op: "get",
        path: req.path,
        offset: req.offset || undefined,
        length: range ?? undefined,
        bytes: sent,
        ms: Math.round(performance.now() - started),
        result: "ok",
      });
    },
  };
}
