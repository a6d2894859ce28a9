/**
 * UPLOAD (1,2), UPLOAD_DATA (1,3), EOF (3,3), UPLOAD_STATUS (1,5) and UPLOAD_RESUME (1,7).
 *
 * An upload is written to a temporary file in the target's directory (hidden from listings),
 * hashed while it streams, and only after the EOF's size and SHA-256 match is it fsynced and
 * renamed over the final name, and the directory fsynced; until then the previous version is
 * untouched. A failed or cancelled upload removes its temporary file.
 *
 * An upload of known size is *resumable*: its temporary file has a name derived from the user,
 * target, size and modification time (`.ferry-<key>.partial`). If the connection drops, or the
 * server is killed, that file stays; UPLOAD_STATUS reports its length and SHA-256, and
 * UPLOAD_RESUME continues it after re-hashing the kept prefix. Stale partials are removed by
 * the server's cleanup after a time (see `server/cleanup.ts`).
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import {
  decodeData,
  decodeEof,
  decodeUpload,
  decodeUploadResume,
  decodeUploadStatus,
  encodeDigest,
  encodeIdOnly,
  type Eof,
  type Upload,
} from "../../protocol/messages.ts";
import { SERVICES } from "../../protocol/services.ts";
import { UNKNOWN_SIZE } from "../../protocol/bytes.ts";
import { FerryError } from "../../protocol/errors.ts";
import { writeAll } from "../../protocol/writer.ts";
import { fsError, resolveParent, TEMP_PREFIX } from "../paths.ts";
import { asFerryError, assertNewRequest, logOp, sendError, type Session } from "../session.ts";
import { requireRole } from "./access.ts";
import { hashPrefix } from "./stat.ts";
import { release, reserve } from "../quota.ts";

/** File bytes gathered before one write to disk. */
const WRITE_BUFFER = 1024 * 1024;
/** Rejected upload ids remembered per connection so their data frames are dropped silently. */
const MAX_DISCARDING = 1024;
/** Suffix of a resumable upload's temporary file. */
export const PARTIAL_SUFFIX = ".partial";
/** Suffix of a non-resumable upload's temporary file (size unknown, or its partial is busy). */
export const PART_SUFFIX = ".part";

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
  /** The buffer being filled. */
  buffer: Uint8Array;
  /** The other buffer, whose bytes may still be being written (allocated when first needed). */
  spare: Uint8Array | null;
  /** The write to disk under way, if any: disk writes overlap with receiving. */
  writing: Promise<void>;
  readonly started: number;
  /** True when `tmp` is kept for resuming if the connection drops. */
  readonly resumable: boolean;
  /** Bytes reserved in the quota for this upload (its declared size). */
  readonly reserved: number;
  /** Size of the file this upload replaces, when it started (0 for a new file). */
  readonly replacing: number;
  fill: number;
  received: number;
  closed: boolean;
  /** True once the quota reservation was given back. */
  released: boolean;
}

const uploadsBySession = new WeakMap<Session, Map<number, UploadState>>();
/**
 * Temporary files being written right now in this process: a resumable partial is never opened
 * twice, and the cleanup never removes one of these.
 */
export const activeTemps: Set<string> = new Set<string>();

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
  ).join("");
}

/** The resumable temporary file of an upload of `size` bytes to `dir/name` by `user`. */
export function partialPath(
  user: string,
  dir: string,
  name: string,
  size: number,
  mtime: number | null,
): string {
  const key = createHash("sha256").update(`${user}\0${dir}\0${name}\0${size}\0${mtime ?? ""}`)
    .digest("hex").slice(0, 32);
  return `${dir}/${TEMP_PREFIX}${key}${PARTIAL_SUFFIX}`;
}

/** Closes the temporary file and removes it; safe to call twice. */
async function discard(state: UploadState): Promise<void> {
  await state.writing.catch(() => {});
  closeFile(state);
  activeTemps.delete(state.tmp);
  await Deno.remove(state.tmp).catch(() => {});
}

function closeFile(state: UploadState): void {
  if (state.closed) return;
  state.closed = true;
  try {
    state.file.close();
  } catch {
    // already closed
  }
}

/** The connection ended mid-upload: keep what arrived when resumable, else remove it. */
async function interrupted(state: UploadState): Promise<void> {
  if (!state.resumable) return discard(state);
  try {
    await settle(state);
  } catch {
    // what is on disk is what the next UPLOAD_STATUS reports
  }
  closeFile(state);
  activeTemps.delete(state.tmp);
}

function forget(session: Session, state: UploadState): void {
  uploadsOf(session).delete(state.id);
  session.tasks.delete(state.id);
  if (!state.released) {
    state.released = true;
    release(session.ctx.quota, state.reserved);
  }
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

/** Hashes the filled buffer and starts writing it, switching to the other buffer. */
async function flush(state: UploadState): Promise<void> {
  if (state.fill === 0) return;
  const data = state.buffer.subarray(0, state.fill);
  state.hash.update(data);
  await state.writing; // the other buffer's write must end before that buffer is reused
  state.writing = writeAll(state.file, data);
  state.writing.catch(() => {}); // surfaces at the next flush or settle
  const next = state.spare ?? new Uint8Array(state.buffer.length);
  state.spare = state.buffer;
  state.buffer = next;
  state.fill = 0;
}

/** Writes everything received and waits until it is written. */
async function settle(state: UploadState): Promise<void> {
  await flush(state);
  await state.writing;
}

/** Checks the role, the size limit and the target; returns where the file goes. */
async function prepareTarget(
  session: Session,
  req: Upload,
): Promise<{ dir: string; name: string; absolute: string; user: string; replacing: number }> {
  requireRole(session, "write", "uploading");
  const limit = session.ctx.limits.maxUploadBytes;
  if (req.size !== UNKNOWN_SIZE && req.size > limit) {
    throw new FerryError("TOO_LARGE", `upload of ${req.size} bytes exceeds the limit of ${limit}`);
  }
  const target = await resolveParent(session.ctx.root, req.path, "create");
  let replacing = 0;
  try {
    const existing = await Deno.lstat(target.absolute);
    if (existing.isDirectory) {
      throw new FerryError("IS_A_DIRECTORY", `${JSON.stringify(req.path)} is a directory`);
    }
    if (existing.isFile) replacing = existing.size;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw fsError(err, req.path);
  }
  return { ...target, user: session.account?.user ?? "", replacing };
}

/**
 * Creates `path` exclusively (O_CREAT|O_EXCL never follows a symlink). A leftover regular file
 * of that name (a stale partial) is replaced; anything else there is refused.
 */
async function createExclusive(path: string, clientPath: string): Promise<Deno.FsFile> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      return await Deno.open(path, { write: true, createNew: true, mode: 0o644 });
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists) || attempt > 0) {
        throw fsError(err, clientPath);
      }
      const info = await Deno.lstat(path);
      if (!info.isFile) throw new FerryError("INTERNAL", "a temporary file name is taken");
      await Deno.remove(path);
    }
  }
  throw new FerryError("INTERNAL", "could not create a temporary file");
}

/** Registers a running upload so its data, EOF, CANCEL and the connection's end find it. */
function register(session: Session, state: UploadState): void {
  reserve(session.ctx.quota, state.reserved, state.replacing);
  uploadsOf(session).set(state.id, state);
  activeTemps.add(state.tmp);
  session.tasks.set(state.id, {
    op: "put",
    abort: new AbortController(),
    cleanup: () => interrupted(state),
  });
}

function newState(
  req: Upload,
  target: { dir: string; absolute: string; replacing: number },
  tmp: string,
  file: Deno.FsFile,
  resumable: boolean,
  hash: Hash,
  received: number,
): UploadState {
  return {
    id: req.id,
    path: req.path,
    tmp,
    final: target.absolute,
    dir: target.dir,
    file,
    hash,
    expected: req.size,
    mtime: req.mtime,
    // Sized to the upload when it is small: 1,000 pipelined 4 KiB uploads must not zero 1 GiB.
    spare: null,
    writing: Promise.resolve(),
    buffer: new Uint8Array(
      req.size === UNKNOWN_SIZE
        ? WRITE_BUFFER
        : Math.max(1, Math.min(WRITE_BUFFER, req.size - received)),
    ),
    started: performance.now(),
    resumable,
    reserved: req.size === UNKNOWN_SIZE ? 0 : req.size,
    replacing: target.replacing,
    fill: 0,
    received,
    closed: false,
    released: false,
  };
}

/** Runs `open` for a request whose data frames may already be on their way. */
async function opening(session: Session, id: number, open: () => Promise<void>): Promise<void> {
  try {
    assertNewRequest(session, id);
    await open();
  } catch (err) {
    // A second upload under the id of a running one makes their data frames indistinguishable:
    // the running one is failed too, and everything with this id is dropped until its EOF.
    const running = uploadsOf(session).get(id);
    if (err instanceof FerryError && err.code === "DUPLICATE_REQUEST" && running !== undefined) {
      await fail(session, running, err, false);
    }
    // Rejected before any data: answer now and drop the data frames already on their way.
    markDiscarding(session, id);
    throw err;
  }
}

/** UPLOAD (1,2) handler: validates the request and opens the temporary file. */
export function handleUpload(session: Session, payload: Uint8Array): Promise<void> {
  const req = decodeUpload(payload);
  return opening(session, req.id, async () => {
    const target = await prepareTarget(session, req);
    let tmp = req.size === UNKNOWN_SIZE
      ? null
      : partialPath(target.user, target.dir, target.name, req.size, req.mtime);
    if (tmp !== null && activeTemps.has(tmp)) tmp = null; // the same upload runs elsewhere
    const resumable = tmp !== null;
    tmp ??= `${target.dir}/${TEMP_PREFIX}${randomSuffix()}${PART_SUFFIX}`;
    const file = await createExclusive(tmp, req.path);
    register(session, newState(req, target, tmp, file, resumable, createHash("sha256"), 0));
  });
}

/** UPLOAD_STATUS (1,5) handler: how much of an interrupted upload is kept, and its SHA-256. */
export function handleUploadStatus(session: Session, payload: Uint8Array): Promise<void> {
  const req = decodeUploadStatus(payload);
  requireRole(session, "write", "uploading");
  session.run(req.id, "put-status", async (signal) => {
    const target = await prepareTarget(session, req);
    const tmp = partialPath(target.user, target.dir, target.name, req.size, req.mtime);
    let digest: { length: number; sha256: Uint8Array } = {
      length: 0,
      sha256: new Uint8Array(createHash("sha256").digest()),
    };
    const info = activeTemps.has(tmp) ? null : await Deno.lstat(tmp).catch(() => null);
    if (info?.isFile) {
      const file = await Deno.open(tmp, { read: true });
      try {
        digest = await hashPrefix(file, UNKNOWN_SIZE, signal);
      } finally {
        file.close();
      }
    }
    logOp(session, { op: "put-status", path: req.path, bytes: digest.length, result: "ok" });
    await session.writer.send(encodeDigest(SERVICES.UPLOAD_PARTIAL, { id: req.id, ...digest }));
  });
  return Promise.resolve();
}

/** UPLOAD_RESUME (1,7) handler: re-hashes the kept prefix, then continues at `offset`. */
export function handleUploadResume(session: Session, payload: Uint8Array): Promise<void> {
  const req = decodeUploadResume(payload);
  return opening(session, req.id, async () => {
    const target = await prepareTarget(session, req);
    if (req.offset > req.size) {
      throw new FerryError("BAD_ARGUMENT", `offset ${req.offset} is past the size ${req.size}`);
    }
    const tmp = partialPath(target.user, target.dir, target.name, req.size, req.mtime);
    if (activeTemps.has(tmp)) {
      throw new FerryError("BUSY", `an upload of ${JSON.stringify(req.path)} is running`);
    }
    const info = await Deno.lstat(tmp).catch(() => null);
    if (!info?.isFile || info.size < req.offset) {
      throw new FerryError(
        "BAD_ARGUMENT",
        `the server holds ${info?.isFile ? info.size : 0} bytes of this upload, not ${req.offset}`,
      );
    }
    let file: Deno.FsFile;
    try {
      file = await Deno.open(tmp, { read: true, write: true });
    } catch (err) {
      throw fsError(err, req.path);
    }
    try {
      await file.truncate(req.offset);
      const hash = createHash("sha256");
      const buf = new Uint8Array(WRITE_BUFFER);
      let remaining = req.offset;
      while (remaining > 0) {
        const n = await file.read(buf.subarray(0, Math.min(buf.length, remaining)));
        if (n === null) throw new FerryError("INTERNAL", "the kept upload shrank while resuming");
        hash.update(buf.subarray(0, n));
        remaining -= n;
      }
      await file.seek(req.offset, Deno.SeekMode.Start);
      register(session, newState(req, target, tmp, file, true, hash, req.offset));
    } catch (err) {
      file.close();
      throw err;
    }
    logOp(session, { op: "put-resume", path: req.path, offset: req.offset, result: "ok" });
  });
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
    const quota = session.ctx.quota;
    if (
      state.expected === UNKNOWN_SIZE && quota.limit > 0 &&
      quota.used + quota.reserved + state.received - state.replacing > quota.limit
    ) {
      throw new FerryError("NO_SPACE", `the server's quota of ${quota.limit} bytes is full`);
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

/**
 * EOF (3,3) handler: the upload stops taking data, and its commit (verify size and SHA-256,
 * fsync, rename, fsync the directory) runs in the background, so the commits of pipelined
 * uploads overlap instead of queueing behind one another's fsyncs.
 */
export function handleEof(session: Session, payload: Uint8Array): Promise<void> {
  const eof = decodeEof(payload);
  const state = uploadFor(session, eof.id);
  if (state === undefined) {
    session.discarding.delete(eof.id);
    return Promise.resolve();
  }
  // Later data frames with this id are unknown; the id stays in flight until OK or ERROR.
  uploadsOf(session).delete(state.id);
  session.track(commit(session, state, eof));
  return Promise.resolve();
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
    if (eof.size !== state.received) {
      throw new FerryError(
        "CHECKSUM_MISMATCH",
        `EOF says ${eof.size} bytes, ${state.received} arrived`,
      );
    }
    await settle(state);
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
    const replaced = (await Deno.lstat(state.final).catch(() => null))?.size ?? 0;
    await Deno.rename(state.tmp, state.final);
    session.ctx.quota.used += state.received - replaced;
    activeTemps.delete(state.tmp);
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
  try {
    await session.writer.send(encodeIdOnly(SERVICES.OK, eof.id));
  } catch {
    // The connection is gone; the file is committed all the same.
  }
}

/** Directory fsyncs per directory: the one running, and the one queued behind it. */
const directorySyncs = new Map<string, { running: Promise<void>; next: Promise<void> | null }>();

async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await Deno.open(dir, { read: true });
  try {
    await handle.sync();
  } finally {
    handle.close();
  }
}

/**
 * Makes a rename durable by fsyncing its directory (a no-op where directories can't be opened).
 * Group commit: an fsync that starts after the rename covers it, so concurrent commits into one
 * directory share fsyncs — at most one runs and one waits per directory.
 */
function syncDirectory(dir: string): Promise<void> {
  if (Deno.build.os === "windows") return Promise.resolve();
  const current = directorySyncs.get(dir);
  if (current === undefined) {
    const running = fsyncDirectory(dir).finally(() => advance(dir));
    running.catch(() => {}); // the caller gets the error; the chain must not be unhandled
    directorySyncs.set(dir, { running, next: null });
    return running;
  }
  // The running fsync may have started before this rename: join the one queued after it.
  current.next ??= current.running.catch(() => {}).then(() => fsyncDirectory(dir));
  return current.next;
}

function advance(dir: string): void {
  const current = directorySyncs.get(dir);
  if (current === undefined) return;
  if (current.next === null) {
    directorySyncs.delete(dir);
    return;
  }
  const running = current.next.finally(() => advance(dir));
  running.catch(() => {}); // its waiters hold `next` and get the error
  directorySyncs.set(dir, { running, next: null });
}

/** CANCEL of an upload: removes its temporary file and answers CANCELLED. */
export async function cancelUpload(session: Session, id: number): Promise<boolean> {
  const state = uploadsOf(session).get(id);
  if (state === undefined) return false;
  await fail(session, state, new FerryError("CANCELLED", "upload cancelled by the client"), false);
  return true;
}
