/**
 * The dispatch table: one handler per service a client may send.
 *
 * @module
 */

import type { ServiceName } from "../../protocol/services.ts";
import type { Session } from "../session.ts";
import { handleAuth, handleHello } from "./session.ts";
import { handleList } from "./list.ts";
import { handleDelete } from "./delete.ts";
import { handleDownload } from "./download.ts";
import {
  handleEof,
  handleUpload,
  handleUploadData,
  handleUploadResume,
  handleUploadStatus,
} from "./upload.ts";
import { handleHash, handleStat } from "./stat.ts";
import { handleMkdir } from "./mkdir.ts";
import { handleRename } from "./rename.ts";
import { handleCancel, handleCloseServer } from "./control.ts";

/** Handles one frame's payload for a session. */
export type Handler = (session: Session, payload: Uint8Array) => Promise<void>;

/** Handlers for the services a client may send; others are answered UNSUPPORTED. */
export const HANDLERS: Partial<Record<ServiceName, Handler>> = {
  HELLO: handleHello,
  AUTH: handleAuth,
  LIST: handleList,
  DELETE: handleDelete,
  DOWNLOAD: handleDownload,
  UPLOAD: handleUpload,
  UPLOAD_DATA: handleUploadData,
  EOF: handleEof,
  CANCEL: handleCancel,
  CLOSE_SERVER: handleCloseServer,
  STAT: handleStat,
  HASH: handleHash,
  MKDIR: handleMkdir,
  RENAME: handleRename,
  UPLOAD_STATUS: handleUploadStatus,
  UPLOAD_RESUME: handleUploadResume,
};

/** Services that work before authentication. */
export const BEFORE_AUTH: ReadonlySet<ServiceName> = new Set(["HELLO", "AUTH"]);
