/**
 * UPLOAD (1,2), UPLOAD_DATA (1,3), EOF (3,3), UPLOAD_STATUS (1,5) and UPLOAD_RESUME (1,7): the
 * protocol of an upload around the storage's staged upload (`StagedUpload`), which holds the
 * bytes until the EOF's size and SHA-256 match and then puts them in place atomically.
 *
 * An upload opens inline, so that it is registered before its data frames are read; each data
 * frame is checked against the declared size, the size limit and (for an undeclared size) the
 * quota, then written; the EOF hands the commit to the background, so the commits of pipelined
 * uploads overlap instead of queueing behind one another's fsyncs. An upload refused before
 * its data has its data frames dropped silently until its EOF. An upload of known size is
 * resumable: UPLOAD_STATUS tells what the server kept of it, UPLOAD_RESUME continues it.
 *
 * @module
 */

import {
  decodeData,
  decodeEof,
  decodeUpload,
  decodeUploadResume,
  decodeUploadStatus,
  encodeDigest,
  encodeIdOnly,
  type Eof,
  peekRequestId,
  type Upload,
} from "../../protocol/messages/mod.ts";
import { SERVICES } from "../../protocol/services.ts";
import { UNKNOWN_SIZE } from "../../protocol/bytes.ts";
import { FerryError } from "../../protocol/errors.ts";
import type { HashAlgorithm, StagedUpload } from "../storage/storage.ts";
import type { UploadState } from "../uploads.ts";
import { requireRole } from "../access.ts";
import { asFerryError, type BackgroundWork, logOp, type Session } from "../session.ts";

/** The services that open an upload, whose data frames and EOF follow without waiting. */
const OPENING: ReadonlySet<string> = new Set(["UPLOAD", "UPLOAD_RESUME"]);

/**
 * Called for every frame before any other check (version, service, login): drops, silently,
 * the data frames and EOF of an upload that was refused, whatever the refusal was; an EOF ends
 * the dropping. Returns true when the frame was dropped.
 */
export function dropRefusedUploadFrame(
  session: Session,
  name: string | undefined,
  payload: Uint8Array,
): boolean {
  if (name !== "UPLOAD_DATA" && name !== "EOF") return false;
  const id = peekRequestId(payload);
  if (id === undefined || !session.uploads.dropping(id)) return false;
  if (name === "EOF") session.uploads.endRejected(id);
  return true;
}

/**
 * Called when a frame was refused with an ERROR: when it opened an upload (UPLOAD,
 * UPLOAD_RESUME) and carries an id, the data frames already on their way are dropped silently
 * until its EOF, whatever the refusal (a bad path or field, a short payload, a Version the
 * server does not speak, no login yet, the quota...). An upload still receiving data under
 * that id (the refused frame reused its id) fails with `DUPLICATE_REQUEST`: from now on their
 * frames could not be told apart.
 */
export async function refusedUploadOpening(
  session: Session,
  name: string | undefined,
  payload: Uint8Array,
): Promise<void> {
  const id = peekRequestId(payload);
  if (name === undefined || !OPENING.has(name) || id === undefined) return;
  const running = session.uploads.get(id);
  if (running !== undefined) {
    await session.uploads.fail(
      running,
      new FerryError("DUPLICATE_REQUEST", `request id ${id} is already in flight`),
      false,
    );
  }
  session.uploads.reject(id);
}

/**
 * Called when a data frame or EOF (whose payload has an `id`) was refused with `err` (a Version the server does not speak,
 * a payload it cannot decode): when its id is an upload receiving data, that upload fails with
 * `err`, as one ERROR with its id (§4): its temporary is removed and, unless the refused frame
 * was its EOF, its later data frames are dropped until its EOF. Returns true when it did so
 * (the ERROR is sent), false when the frame belongs to no upload receiving data.
 */
export async function failUploadOfFrame(
  session: Session,
  name: string | undefined,
  id: number | undefined,
  err: FerryError,
): Promise<boolean> {
  if ((name !== "UPLOAD_DATA" && name !== "EOF") || id === undefined) return false;
  const state = session.uploads.get(id);
  if (state === undefined) return false;
  await session.uploads.fail(state, err, name === "EOF");
  return true;
}

/** Checks the role and the size limit for an upload; returns the uploading user. */
function checkUpload(session: Session, req: Upload): string {
  requireRole(session, "write", "uploading");
  const limit = session.ctx.limits.maxUploadBytes;
  if (req.size !== UNKNOWN_SIZE && req.size > limit) {
    throw new FerryError("TOO_LARGE", `upload of ${req.size} bytes exceeds the limit of ${limit}`);
  }
  return session.account?.user ?? "";
}

/**
 * Opens an upload whose data frames may already be on their way: `stage` makes its staged
 * upload, which is then registered (and its size reserved in the quota).
 */
async function open(
  session: Session,
  req: Upload,
  received: number,
  stage: (user: string, algorithm: HashAlgorithm) => Promise<StagedUpload>,
): Promise<void> {
  // Its id was checked by the dispatcher (assertNewRequest). What this throws is answered by
  // the dispatcher, which drops the data frames already on their way (refusedUploadOpening).
  const algorithm = session.checksum;
  const staged = await stage(checkUpload(session, req), algorithm);
  try {
    session.uploads.open({
      id: req.id,
      path: req.path,
      staged,
      algorithm,
      expected: req.size,
      reserved: req.size === UNKNOWN_SIZE ? 0 : req.size,
      started: performance.now(),
      received,
      released: false,
    });
  } catch (err) {
    // Refused (NO_SPACE): nothing was registered, so the temporary goes now. A resumed
    // upload keeps what it had kept.
    if (staged.resumable && received > 0) await staged.interrupted();
    else await staged.discard();
    throw err;
  }
}

/** UPLOAD (1,2) handler: validates the request and stages the upload. */
export async function handleUpload(session: Session, payload: Uint8Array): Promise<void> {
  const req = decodeUpload(payload);
  await open(
    session,
    req,
    0,
    (user, algorithm) => session.ctx.storage.stage({ ...req, user, algorithm }),
  );
}

/** UPLOAD_RESUME (1,7) handler: continues a kept upload at `offset` (its prefix re-hashed). */
export async function handleUploadResume(session: Session, payload: Uint8Array): Promise<void> {
  const req = decodeUploadResume(payload);
  await open(
    session,
    req,
    req.offset,
    (user, algorithm) => session.ctx.storage.resume({ ...req, user, algorithm }),
  );
  logOp(session, { op: "put-resume", path: req.path, offset: req.offset, result: "ok" });
}

/**
 * UPLOAD_STATUS (1,5): how much of an interrupted upload is kept, and its digest in the
 * connection's checksum algorithm.
 */
export function startUploadStatus(session: Session, payload: Uint8Array): BackgroundWork {
  const req = decodeUploadStatus(payload);
  requireRole(session, "write", "uploading");
  const algorithm = session.checksum;
  return {
    id: req.id,
    async run(signal) {
      const user = checkUpload(session, req);
      const kept = await session.ctx.storage.partialStatus({ ...req, user, algorithm }, signal);
      logOp(session, { op: "put-status", path: req.path, bytes: kept.length, result: "ok" });
      await session.writer.send(
        encodeDigest(SERVICES.UPLOAD_PARTIAL, {
          id: req.id,
          length: kept.length,
          digest: kept.digest,
        }),
      );
    },
  };
}

/** UPLOAD_DATA (1,3) handler: checks the data against the limits and writes it. */
export async function handleUploadData(session: Session, payload: Uint8Array): Promise<void> {
  const { id, data } = decodeData(payload);
  const state = session.uploads.forFrame(id);
  if (state === undefined) return;
  try {
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
    if (state.expected === UNKNOWN_SIZE) {
      session.ctx.quota.assertRoom(state.received, state.staged.replacing);
    }
    await state.staged.write(data);
  } catch (err) {
    await session.uploads.fail(state, asFerryError(err), false);
  }
}

/**
 * EOF (3,3) handler: the upload stops taking data, and its commit (verify size and SHA-256,
 * fsync, rename, fsync the directory) runs in the background.
 */
export function handleEof(session: Session, payload: Uint8Array): void {
  // A payload too short for the shortest digest is BAD_ARGUMENT, whatever its id.
  const { id } = decodeEof(payload, "xxh128");
  const state = session.uploads.forFrame(id);
  if (state === undefined) {
    session.uploads.endRejected(id);
    return;
  }
  // The digest's size is that of the upload's algorithm; a malformed EOF fails the upload.
  let eof: Eof;
  try {
    eof = decodeEof(payload, state.algorithm);
  } catch (err) {
    session.uploads.committing(state);
    session.track(session.uploads.fail(state, asFerryError(err), true));
    return;
  }
  // Later data frames with this id are unknown; the id stays in flight until OK or ERROR.
  session.uploads.committing(state);
  session.track(commit(session, state, eof));
}

/** Verifies and commits a complete upload, then answers OK or ERROR; never throws. */
async function commit(session: Session, state: UploadState, eof: Eof): Promise<void> {
  try {
    if (state.expected !== UNKNOWN_SIZE && state.received !== state.expected) {
      throw new FerryError(
        "BAD_ARGUMENT",
        `upload declared ${state.expected} bytes but ${state.received} arrived`,
      );
    }
    const { replacedBytes } = await state.staged.commit({ size: eof.size, digest: eof.digest });
    session.ctx.quota.stored(state.received, replacedBytes);
  } catch (err) {
    await session.uploads.fail(state, asFerryError(err), true);
    return;
  }
  session.uploads.finish(state);
  logOp(session, {
    op: "put",
    path: state.path,
    bytes: state.received,
    ms: Math.round(performance.now() - state.started),
    result: "ok",
  });
  try {
    await session.writer.send(encodeIdOnly(SERVICES.OK, eof.id));
  } catch {
    // The connection is gone; the file is committed all the same.
  }
}
