/**
 * UPLOAD (1,2), UPLOAD_DATA (1,3) and EOF (3,3): an upload is written to a temporary file in
 * the target's directory (hidden from listings), hashed while it streams, and only after the
 * EOF's size and SHA-256 match is it fsynced and renamed over the final name, and the directory
 * fsynced. A failed, cancelled or interrupted upload removes its temporary file, so the final
 * name always holds a complete version.
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import { decodeData, decodeEof, decodeUpload, encodeIdOnly } from "../../protocol/messages.ts";
import { SERVICES } from "../../protocol/services.ts";
import { UNKNOWN_SIZE } from "../../protocol/bytes.ts";
import { FerryError } from "../../protocol/errors.ts";
import { writeAll } from "../../protocol/writer.ts";
import { fsError, resolveParent, TEMP_PREFIX } from "../paths.ts";
import { asFerryError, assertNewRequest, logOp, sendError, type Session } from "../session.ts";
import { requireRole } from "./access.ts";

/** File bytes gathered before one write to disk. */
const WRITE_BUFFER = 1024 * 1024;
/** Rejected upload ids remembered per connection so their data frames are dropped silently. */
const MAX_DISCARDING = 1024;

interface UploadState {
  readonly id: number;
  readonly path: string;
  readonly tmp: string;
  readonly final: string;
  readonly dir: string;
  readonly file: Deno.FsFile;
  readonly hash: Hash;
  readonly expected: number;
  readonly mtime: number | null;
  readonly buffer: Uint8Array;
  readonly started: number;
  fill: number;
  received: number;
  closed: boolean;
}

const uploadsBySession = new WeakMap<Session, Map<number, UploadState>>();

function uploadsOf(session: Session): Map<number, UploadState> {
  let uploads = uploadsBySession.get(session);
  if (uploads === undefined) {
    uploads = new Map();
    uploadsBySession.set(session, uploads);
  }
  return uploads;
}

function randomSuffix(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(12)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

/** Closes and removes the temporary file; safe to call twice. */
async function discard(state: UploadState): Promise<void> {
  if (!state.closed) {
    state.closed = true;
    try {
      state.file.close();
    } catch {
      // already closed
    }
  }
  await Deno.remove(state.tmp).catch(() => {});
}

function forget(session: Session, state: UploadState): void {
  uploadsOf(session).delete(state.id);
  session.tasks.delete(state.id);
}

/** Fails an upload: removes its temp file, drops its later frames, answers ERROR. */
async function fail(session: Session, state: UploadState, err: unknown, eofSeen: boolean) {
  forget(session, state);
  await discard(state);
  if (!eofSeen) markDiscarding(session, state.id);
  const e = asFerryError(err);
  logOp(session, { op: "put", path: state.path, bytes: state.received, result: e.code });
  await sendError(session, state.id, e);
}

function markDiscarding(session: Session, id: number): void {
  if (session.discarding.size >= MAX_DISCARDING) {
    const oldest = session.discarding.values().next().value;
    if (oldest !== undefined) session.discarding.delete(oldest);
  }
  session.discarding.add(id);
}

async function flush(state: UploadState): Promise<void> {
  if (state.fill === 0) return;
  const data = state.buffer.subarray(0, state.fill);
  state.hash.update(data);
  await writeAll(state.file, data);
  state.fill = 0;
}

/** UPLOAD (1,2) handler: validates the request and opens the temporary file. */
export async function handleUpload(session: Session, payload: Uint8Array): Promise<void> {
  const req = decodeUpload(payload);
  try {
    requireRole(session, "write", "uploading");
    assertNewRequest(session, req.id);
    const limit = session.ctx.limits.maxUploadBytes;
    if (req.size !== UNKNOWN_SIZE && req.size > limit) {
      throw new FerryError(
        "TOO_LARGE",
        `upload of ${req.size} bytes exceeds the limit of ${limit}`,
      );
    }
    const { dir, absolute } = await resolveParent(session.ctx.root, req.path, "create");
    try {
      const existing = await Deno.lstat(absolute);
      if (existing.isDirectory) {
        throw new FerryError("IS_A_DIRECTORY", `${JSON.stringify(req.path)} is a directory`);
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw fsError(err, req.path);
    }
    const tmp = `${dir}/${TEMP_PREFIX}${randomSuffix()}.part`;
    let file: Deno.FsFile;
    try {
      file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o644 });
    } catch (err) {
      throw fsError(err, req.path);
    }
    const state: UploadState = {
      id: req.id,
      path: req.path,
      tmp,
      final: absolute,
      dir,
      file,
      hash: createHash("sha256"),
      expected: req.size,
      mtime: req.mtime,
      buffer: new Uint8Array(WRITE_BUFFER),
      started: performance.now(),
      fill: 0,
      received: 0,
      closed: false,
    };
    uploadsOf(session).set(req.id, state);
    session.tasks.set(req.id, {
      op: "put",
      abort: new AbortController(),
      cleanup: () => discard(state),
    });
  } catch (err) {
    // Rejected before any data: answer now and drop the data frames already on their way.
    if (!(err instanceof FerryError && err.code === "DUPLICATE_REQUEST")) {
      markDiscarding(session, req.id);
    }
    throw err;
  }
}

/** Looks up the upload a data or EOF frame belongs to; `undefined` means drop it silently. */
function uploadFor(session: Session, id: number): UploadState | undefined {
  const state = uploadsOf(session).get(id);
  if (state !== undefined) return state;
  if (session.discarding.has(id)) return undefined;
  if (session.account === null) throw new FerryError("UNAUTHENTICATED", "authenticate first");
  throw new FerryError("UNKNOWN_REQUEST", `no upload ${id} is in flight`);
}

/** UPLOAD_DATA (1,3) handler: appends to the temporary file. */
export async function handleUploadData(session: Session, payload: Uint8Array): Promise<void> {
  const { id, data } = decodeData(payload);
  const state = uploadFor(session, id);
  if (state === undefined) return;
  try {
    if (session.tasks.get(id)?.abort.signal.aborted) {
      throw new FerryError("CANCELLED", "upload cancelled by the client");
    }
    state.received += data.length;
    const limit = state.expected === UNKNOWN_SIZE
      ? session.ctx.limits.maxUploadBytes
      : state.expected;
    if (state.received > limit) {
      throw new FerryError(
        "TOO_LARGE",
        `received ${state.received} bytes, more than the ${
          state.expected === UNKNOWN_SIZE ? "limit" : "declared size"
        } of ${limit}`,
      );
    }
    let offset = 0;
    while (offset < data.length) {
      const n = Math.min(data.length - offset, state.buffer.length - state.fill);
      state.buffer.set(data.subarray(offset, offset + n), state.fill);
      state.fill += n;
      offset += n;
      if (state.fill === state.buffer.length) await flush(state);
    }
  } catch (err) {
    await fail(session, state, err instanceof FerryError ? err : fsError(err, state.path), false);
  }
}

/** EOF (3,3) handler: verifies size and SHA-256, then commits the file atomically. */
export async function handleEof(session: Session, payload: Uint8Array): Promise<void> {
  const eof = decodeEof(payload);
  const state = uploadFor(session, eof.id);
  if (state === undefined) {
    session.discarding.delete(eof.id);
    return;
  }
  try {
    if (state.expected !== UNKNOWN_SIZE && state.received !== state.expected) {
      throw new FerryError(
        "BAD_ARGUMENT",
        `upload declared ${state.expected} bytes but ${state.received} arrived`,
      );
    }
    if (eof.size !== state.received) {
      throw new FerryError(
        "CHECKSUM_MISMATCH",
        `EOF says ${eof.size} bytes, ${state.received} arrived`,
      );
    }
    await flush(state);
    const digest = new Uint8Array(state.hash.digest());
    if (!digest.every((b, i) => b === eof.sha256[i])) {
      throw new FerryError(
        "CHECKSUM_MISMATCH",
        `SHA-256 of the received bytes does not match the client's; the upload was discarded`,
      );
    }
    if (state.mtime !== null) await state.file.utime(new Date(), new Date(state.mtime));
    await state.file.sync();
    state.file.close();
    state.closed = true;
    await Deno.rename(state.tmp, state.final);
    await syncDirectory(state.dir);
  } catch (err) {
    await fail(session, state, err instanceof FerryError ? err : fsError(err, state.path), true);
    return;
  }
  forget(session, state);
  logOp(session, {
    op: "put",
    path: state.path,
    bytes: state.received,
    ms: Math.round(performance.now() - state.started),
    result: "ok",
  });
  await session.writer.send(encodeIdOnly(SERVICES.OK, eof.id));
}

/** Makes a rename durable by fsyncing its directory (a no-op where directories can't be opened). */
async function syncDirectory(dir: string): Promise<void> {
  if (Deno.build.os === "windows") return;
  const handle = await Deno.open(dir, { read: true });
  try {
    await handle.sync();
  } finally {
    handle.close();
  }
}

/** CANCEL of an upload: removes its temporary file and answers CANCELLED. */
export async function cancelUpload(session: Session, id: number): Promise<boolean> {
  const state = uploadsOf(session).get(id);
  if (state === undefined) return false;
  await fail(session, state, new FerryError("CANCELLED", "upload cancelled by the client"), false);
  return true;
}
