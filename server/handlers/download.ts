/**
 * DOWNLOAD (1,0): streams a file as FILE_INFO, DOWNLOAD_DATA frames and an EOF carrying the
 * SHA-256 of the bytes sent. Reads and writes are batched ({@linkcode FRAMES_PER_WRITE} full
 * frames per write) and one buffer is reused, so memory does not grow with the file.
 *
 * @module
 */

import {
  DATA_CHUNK,
  DATA_FRAME_SIZE,
  decodeDownload,
  encodeEof,
  encodeFileInfo,
  ID_SIZE,
  putDataFrameHeader,
} from "../../protocol/messages.ts";
import { SERVICES } from "../../protocol/services.ts";
import { HEADER_SIZE } from "../../protocol/header.ts";
import { FerryError } from "../../protocol/errors.ts";
import { quoteName } from "../../common/names.ts";
import { createHasher } from "../../common/hash_file.ts";
import { requireRole } from "../access.ts";
import { type BackgroundWork, logOp, type Session } from "../session.ts";

/** Data frames sent per write. */
export const FRAMES_PER_WRITE = 4;

/** File bytes read and sent per write: four full data frames. */
const CHUNK = FRAMES_PER_WRITE * DATA_CHUNK;

/** DOWNLOAD (1,0): the transfer runs in the background. */
export function startDownload(session: Session, payload: Uint8Array): BackgroundWork {
  const req = decodeDownload(payload);
  requireRole(session, "read", "downloading");
  return {
    id: req.id,
    async run(signal) {
      const started = performance.now();
      const file = await session.ctx.storage.openRead(req.path, req.offset, signal);
      let sent = 0;
      try {
        await session.writer.send(
          encodeFileInfo({ id: req.id, size: file.size, mtime: file.mtime }),
        );
        const hasher = createHasher("sha256");
        // One read per write fills the frames of one reused buffer: the file data lands after
        // the first frame's header and is then moved apart, in place, to make room for the
        // others'. No second buffer per download, and no more reads than writes.
        const out = new Uint8Array(FRAMES_PER_WRITE * DATA_FRAME_SIZE);
        const start = HEADER_SIZE + ID_SIZE;
        let remaining = file.size - req.offset;
        while (remaining > 0) {
          signal.throwIfAborted();
          const n = await file.read(out.subarray(start, start + Math.min(CHUNK, remaining)));
          if (n === 0) {
            throw new FerryError("INTERNAL", `${quoteName(req.path)} shrank while being sent`);
          }
          hasher.update(out.subarray(start, start + n));
          const frames = Math.ceil(n / DATA_CHUNK);
          for (let k = frames - 1; k >= 0; k--) {
            const length = Math.min(DATA_CHUNK, n - k * DATA_CHUNK);
            const from = start + k * DATA_CHUNK;
            out.copyWithin(k * DATA_FRAME_SIZE + start, from, from + length);
            putDataFrameHeader(SERVICES.DOWNLOAD_DATA, req.id, length, out, k * DATA_FRAME_SIZE);
          }
          remaining -= n;
          sent += n;
          // `out` is reused: send resolves only after the bytes were written.
          await session.writer.send(
            out.subarray(
              0,
              (frames - 1) * DATA_FRAME_SIZE + start + (n - (frames - 1) * DATA_CHUNK),
            ),
          );
        }
        await session.writer.send(encodeEof({ id: req.id, size: sent, sha256: hasher.digest() }));
      } finally {
        file.close();
      }
      logOp(session, {
        op: "get",
        path: req.path,
        offset: req.offset || undefined,
        bytes: sent,
        ms: Math.round(performance.now() - started),
        result: "ok",
      });
    },
  };
}
