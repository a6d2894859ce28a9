/**
 * Control frames (PROTOCOL.md §4, §4.6): ERROR (3,0), and the frames whose payload is only a
 * request id: OK (3,1), CANCEL (3,2) and CLOSE_SERVER (2,3).
 *
 * @module
 */

import { type Service, SERVICES } from "../services.ts";
import {
  cursor,
  putBlob,
  putU16,
  putU32,
  readString,
  readU16,
  readU32,
  utf8Bytes,
} from "../bytes.ts";
import { ERROR_CODES, type ErrorCode, errorCodeName } from "../errors.ts";
import { frameWith } from "./common.ts";

/** ERROR (3,0): a failed operation, or with id 0 a connection-level error. */
export interface ErrorMessage {
  /** Request id, or 0 when the error concerns the connection. */
  id: number;
  /** Stable error code. */
  code: ErrorCode;
  /** Human-readable detail. */
  message: string;
}

/** Most UTF-8 bytes of an ERROR message; a longer one is cut (see {@linkcode encodeError}). */
export const MAX_MESSAGE_BYTES = 1024;

/** `…` (U+2026) in UTF-8: what a cut message ends with. */
const ELLIPSIS = new Uint8Array([0xe2, 0x80, 0xa6]);

/**
 * A message as UTF-8 of at most {@linkcode MAX_MESSAGE_BYTES} bytes: as is when it fits,
 * otherwise its longest prefix of whole code points of at most `MAX_MESSAGE_BYTES − 3` bytes
 * followed by `…` (3 bytes). The cut is made on the UTF-8 bytes, so any implementation can
 * make the same one (a lone surrogate in `message` is encoded as U+FFFD first).
 */
export function errorMessageBytes(message: string): Uint8Array {
  const bytes = utf8Bytes(message);
  if (bytes.length <= MAX_MESSAGE_BYTES) return bytes;
  let cut = MAX_MESSAGE_BYTES - ELLIPSIS.length;
  while (cut > 0 && (bytes[cut] & 0xc0) === 0x80) cut--; // back to a code point's first byte
  const out = new Uint8Array(cut + ELLIPSIS.length);
  out.set(bytes.subarray(0, cut));
  out.set(ELLIPSIS, cut);
  return out;
}

/**
 * Encodes an ERROR frame. A message over {@linkcode MAX_MESSAGE_BYTES} UTF-8 bytes is cut on a
 * code point boundary and ends in `…` (see {@linkcode errorMessageBytes}).
 */
export function encodeError(m: ErrorMessage): Uint8Array {
  const message = errorMessageBytes(m.message);
  return frameWith(SERVICES.ERROR, 4 + 2 + 2 + message.length, (b) => {
    putU32(b, m.id);
    putU16(b, ERROR_CODES[m.code]);
    putBlob(b, message);
  });
}

/** Decodes an ERROR payload; an unknown code number reads as `INTERNAL`. */
export function decodeError(payload: Uint8Array): ErrorMessage {
  const c = cursor(payload);
  return {
    id: readU32(c, "id"),
    code: errorCodeName(readU16(c, "code")),
    message: readString(c, "message"),
  };
}

/** A frame whose payload is only a request id: OK (3,1), CANCEL (3,2), CLOSE_SERVER (2,3). */
export function encodeIdOnly(service: Service, id: number): Uint8Array {
  return frameWith(service, 4, (b) => putU32(b, id));
}

/** Decodes a payload that carries only a request id. */
export function decodeIdOnly(payload: Uint8Array): number {
  return readU32(cursor(payload), "id");
}
