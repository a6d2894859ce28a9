/**
 * A whole frame (header and payload) and its encoding.
 *
 * @module
 */

import { encodeHeader, HEADER_SIZE, MAX_PAYLOAD } from "./header.ts";

/** A decoded frame: the service it belongs to, its version, and its payload bytes. */
export interface Frame {
  /** Service_Type. */
  type: number;
  /** Service_Num. */
  num: number;
  /** Version of the payload layout. */
  version: number;
  /** The Data_Len payload bytes. */
  payload: Uint8Array;
}

/**
 * Encodes a frame into a new array of `8 + payload.length` bytes.
 *
 * @throws {RangeError} when the payload is longer than {@linkcode MAX_PAYLOAD}.
 */
export function encodeFrame(frame: Frame): Uint8Array {
  if (frame.payload.length > MAX_PAYLOAD) {
    throw new RangeError(`frame payload of ${frame.payload.length} bytes exceeds ${MAX_PAYLOAD}`);
  }
  const out = new Uint8Array(HEADER_SIZE + frame.payload.length);
  encodeHeader({ ...frame, length: frame.payload.length }, out, 0);
  out.set(frame.payload, HEADER_SIZE);
  return out;
}
