/**
 * The dispatch table: one handler per service a client may send, and how the connection's
 * read loop runs it. There are three ways:
 * - **inline**: the read loop waits for the handler before it reads the next frame. Short
 *   work whose answer must come in order (logins, deletes, renames), and the opening of an
 *   upload, which must be registered before its data frames are read.
 * - **background**: the handler decodes and checks the request at once, then its work runs as
 *   a cancellable task while the loop goes on reading (listings, downloads, hashes). The loop
 *   pauses while `maxInflightPerConnection` operations run.
 * - **stream**: the data frames and EOF of an upload opened before. They are handled in order
 *   as they arrive, so writing to disk overlaps with receiving; the commit an EOF starts runs
 *   in the background, counted like a task.
 *
 * Only HELLO and AUTH (marked `login`, inline) are served before authentication.
 *
 * @module
 */

import type { ServiceName } from "../../protocol/services.ts";
import type { BackgroundWork, Session } from "../session.ts";
import { handleAuth, handleHello } from "./login.ts";
import { startList } from "./list.ts";
import { handleDelete } from "./delete.ts";
import { startDownload } from "./download.ts";
import {
  handleEof,
  handleUpload,
  handleUploadData,
  handleUploadResume,
  startUploadStatus,
} from "./upload.ts";
import { handleStat } from "./stat.ts";
import { startHash } from "./hash.ts";
import { handleMkdir } from "./mkdir.ts";
import { handleRename } from "./rename.ts";
import { handleCancel } from "./cancel.ts";
import { handleCloseServer } from "./admin.ts";

/**
 * Handles one frame's payload for a session; what it throws is answered with an ERROR. The
 * payload is valid only until the handler's promise settles (the read loop reuses its buffers):
 * decode or copy what must outlive it.
 */
export type Handler = (session: Session, payload: Uint8Array) => Promise<void> | void;

/**
 * Decodes and checks a request (throwing to refuse it), and returns its work, which must not
 * read the payload (it runs after the read loop has moved on).
 */
export type BackgroundHandler = (session: Session, payload: Uint8Array) => BackgroundWork;

/** How the read loop runs one service. */
export interface Service {
  /** `inline`, `background` or `stream`, as the module documentation describes. */
  readonly mode: "inline" | "background" | "stream";
  /** True for the services that work before authentication (HELLO, AUTH). */
  readonly beforeAuth: boolean;
  /** Runs the handler for one frame; the read loop awaits this. */
  readonly handle: Handler;
}

/** A service whose handler the read loop waits for. */
export function inline(handle: Handler): Service {
  return { mode: "inline", beforeAuth: false, handle };
}

/** An inline service that works before authentication. */
export function login(handle: Handler): Service {
  return { mode: "inline", beforeAuth: true, handle };
}

/** A service whose work runs as background task `op` (the name its logs use). */
export function background(op: string, start: BackgroundHandler): Service {
  return {
    mode: "background",
    beforeAuth: false,
    handle(session, payload) {
      const { id, run } = start(session, payload);
      session.run(id, op, run);
    },
  };
}

/** A service carrying the data of an upload in flight. */
export function stream(handle: Handler): Service {
  return { mode: "stream", beforeAuth: false, handle };
}

/** Handlers for the services a client may send; others are answered UNSUPPORTED. */
export const HANDLERS: Partial<Record<ServiceName, Service>> = {
  HELLO: login(handleHello),
  AUTH: login(handleAuth),
  LIST: background("ls", startList),
  STAT: inline(handleStat),
  HASH: background("hash", startHash),
  DELETE: inline(handleDelete),
  MKDIR: inline(handleMkdir),
  RENAME: inline(handleRename),
  DOWNLOAD: background("get", startDownload),
  UPLOAD: inline(handleUpload),
  UPLOAD_RESUME: inline(handleUploadResume),
  UPLOAD_STATUS: background("put-status", startUploadStatus),
  UPLOAD_DATA: stream(handleUploadData),
  EOF: stream(handleEof),
  CANCEL: inline(handleCancel),
  CLOSE_SERVER: inline(handleCloseServer),
};
