/**
 * A frame: the fixed 8-byte header (four unsigned 16-bit fields in network byte order) and the
 * Data_Len payload bytes that follow it.
 *
 * ```
 * 0        2        4        6        8
 * +--------+--------+--------+--------+----------------------+
 * | type   | num    | version| length | payload (length B)   |
 * +--------+--------+--------+--------+----------------------+
 * ```
 *
 * Frames are read from a stream by `frame_reader.ts` and written by `frame_writer.ts`; payloads
 * are laid out by `messages/`.
 *
 * @module
 */

/** Size in bytes of a frame header. */
export const HEADER_SIZE = 8;

/** Largest payload a single frame can carry (Data_Len is an unsigned 16-bit field). */
export const MAX_PAYLOAD = 0xffff;

/** The four fields of a frame header. */
export interface FrameHeader {
  /** Service_Type: the family of the service (0 files, 1 transfer, 2 admin, 3 control, 4 session). */
  type: number;
  /** Service_Num: the service within its family. */
  num: number;
  /** Version: the protocol version the payload is laid out for. */
  version: number;
  /** Data_Len: the number of payload bytes that follow the header. */
  length: number;
}

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

function assertU16(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw new RangeError(`frame header field ${name} must be an integer in 0..65535, got ${value}`);
  }
}

/**
 * Writes a header into `target` at `offset` (default: a new 8-byte array) and returns `target`.
 *
 * @throws {RangeError} when a field is not an unsigned 16-bit integer.
 */
export function encodeHeader(
  header: FrameHeader,
  target: Uint8Array = new Uint8Array(HEADER_SIZE),
  offset = 0,
): Uint8Array {
  assertU16("type", header.type);
  assertU16("num", header.num);
  assertU16("version", header.version);
  assertU16("length", header.length);
  const view = new DataView(target.buffer, target.byteOffset + offset, HEADER_SIZE);
  view.setUint16(0, header.type, false);
  view.setUint16(2, header.num, false);
  view.setUint16(4, header.version, false);
  view.setUint16(6, header.length, false);
  return target;
}

/**
 * Reads the header that starts at `offset` in `bytes`.
 *
 * @throws {RangeError} when fewer than 8 bytes are available.
 */
export function decodeHeader(bytes: Uint8Array, offset = 0): FrameHeader {
  if (bytes.length - offset < HEADER_SIZE) {
    throw new RangeError(`a frame header needs ${HEADER_SIZE} bytes, got ${bytes.length - offset}`);
  }
  // Read byte by byte: this runs for every frame, and a DataView per frame is garbage.
  const b = bytes;
  const o = offset;
  return {
    type: (b[o] << 8) | b[o + 1],
    num: (b[o + 2] << 8) | b[o + 3],
    version: (b[o + 4] << 8) | b[o + 5],
    length: (b[o + 6] << 8) | b[o + 7],
  };
}
