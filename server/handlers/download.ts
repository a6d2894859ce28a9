/**
 * DOWNLOAD (1,0): streams a file as FILE_INFO, DOWNLOAD_DATA frames and an EOF carrying the
 * SHA-256 of the bytes sent. Reads and writes are batched ({@linkcode CHUNK} bytes, several
 * frames per write) and one buffer is reused, so memory does not grow with the file.
 *
 * @module
 */

import { createHash } from "node:crypto";
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
import { fsError, resolveExisting } from "../paths.ts";
import { logOp, type Session } from "../session.ts";
import { requireRole } from "./access.ts";

/** Data frames sent per write. */
const FRAMES_PER_WRITE = 4;

/** File bytes read and sent per write: four full data frames. */
export const CHUNK = FRAMES_PER_WRITE * DATA_CHUNK;

/** Reads until `buf` is full or the file ends; returns the count. */
export async function readFull(file: Deno.FsFile, buf: Uint8Array): Promise<number> {
  let filled = 0;
  while (filled < buf.length) {
    const n = await file.read(buf.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return filled;
}

/**
 * Opens a regular file for reading, refusing anything else before opening it (opening a FIFO
 * blocks forever) and checking that what was opened is what was checked.
 */
export async function openRegularFile(
  absolute: string,
  clientPath: string,
): Promise<{ file: Deno.FsFile; info: Deno.FileInfo }> {
  const checked = await statRegularFile(absolute, clientPath);
  let file: Deno.FsFile;
  try {
    file = await Deno.open(absolute, { read: true });
  } catch (err) {
    throw fsError(err, clientPath);
  }
  try {
    const info = await file.stat();
    if (info.dev !== checked.dev || info.ino !== checked.ino) {
      throw new FerryError("NOT_FOUND", `${JSON.stringify(clientPath)} changed while being opened`);
    }
    return { file, info };
  } catch (err) {
    file.close();
    throw err;
  }
}

/** Stats `absolute` and throws unless it is a regular file. */
async function statRegularFile(absolute: string, clientPath: string): Promise<Deno.FileInfo> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(absolute);
  } catch (err) {
    throw fsError(err, clientPath);
  }
  if (info.isDirectory) {
    throw new FerryError("IS_A_DIRECTORY", `${JSON.stringify(clientPath)} is a directory`);
  }
  if (!info.isFile) {
    throw new FerryError("BAD_ARGUMENT", `${JSON.stringify(clientPath)} is not a regular file`);
  }
  return info;
}

/** DOWNLOAD (1,0) handler. */
export function handleDownload(session: Session, payload: Uint8Array): Promise<void> {
  const req = decodeDownload(payload);
  requireRole(session, "read", "downloading");
  session.run(req.id, "get", async (signal) => {
    const started = performance.now();
    const { absolute } = await resolveExisting(session.ctx.root, req.path);
    const { file, info } = await openRegularFile(absolute, req.path);
    let sent = 0;
    try {
      if (req.offset > info.size) {
        throw new FerryError(
          "BAD_ARGUMENT",
          `offset ${req.offset} is past the end of ${
            JSON.stringify(req.path)
          } (${info.size} bytes)`,
        );
      }
      if (req.offset > 0) await file.seek(req.offset, Deno.SeekMode.Start);
      await session.writer.send(
        encodeFileInfo({ id: req.id, size: info.size, mtime: info.mtime?.getTime() ?? null }),
      );
      const hash = createHash("sha256");
      // One read per write fills the frames of one reused buffer: the file data lands after the
      // first frame's header and is then moved apart, in place, to make room for the others'.
      // No second buffer per download, and no more reads than writes.
      const out = new Uint8Array(FRAMES_PER_WRITE * DATA_FRAME_SIZE);
      const start = HEADER_SIZE + ID_SIZE;
      let remaining = info.size - req.offset;
      while (remaining > 0) {
        signal.throwIfAborted();
        const n = await readFull(file, out.subarray(start, start + Math.min(CHUNK, remaining)));
        if (n === 0) {
          throw new FerryError("INTERNAL", `${JSON.stringify(req.path)} shrank while being sent`);
        }
        hash.update(out.subarray(start, start + n));
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
          out.subarray(0, (frames - 1) * DATA_FRAME_SIZE + start + (n - (frames - 1) * DATA_CHUNK)),
        );
      }
      await session.writer.send(
        encodeEof({ id: req.id, size: sent, sha256: new Uint8Array(hash.digest()) }),
      );
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
  });
  return Promise.resolve();
}
