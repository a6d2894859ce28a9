// SHIM (issue 9): re-exports for call sites not yet moved; removed at integration.
/**
 * Moved to `messages/mod.ts`. The two old data-frame builders below are kept only until their
 * call sites use `createDataFrameBuffer` (`messages/transfer.ts`).
 *
 * @module
 */

export * from "./messages/mod.ts";

import { encodeHeader, HEADER_SIZE } from "./frame.ts";
import { PROTOCOL_VERSION, type Service } from "./services.ts";
import { ID_SIZE } from "./messages/common.ts";
import { DATA_CHUNK, dataFramesSize } from "./messages/transfer.ts";

// SHIM (issue 9): re-exports for call sites not yet moved; removed at integration.
/**
 * Old builder: writes the header and request id of one data frame at `offset` in `target`.
 * Use `createDataFrameBuffer` instead.
 */
export function putDataFrameHeader(
  service: Service,
  id: number,
  length: number,
  target: Uint8Array,
  offset: number,
): void {
  if (!Number.isInteger(id) || id < 0 || id > 0xffff_ffff) {
    throw new RangeError(`request id ${id} does not fit 32 bits`);
  }
  if (length > DATA_CHUNK) throw new RangeError(`${length} bytes exceed a data frame`);
  encodeHeader({ ...service, version: PROTOCOL_VERSION, length: ID_SIZE + length }, target, offset);
  new DataView(target.buffer, target.byteOffset).setUint32(offset + HEADER_SIZE, id, false);
}

// SHIM (issue 9): re-exports for call sites not yet moved; removed at integration.
/**
 * Old builder: encodes `data` as data frames into `target` (or a new array). Use
 * `createDataFrameBuffer` instead.
 */
export function encodeDataFrames(
  service: Service,
  id: number,
  data: Uint8Array,
  target?: Uint8Array,
): Uint8Array {
  const size = dataFramesSize(data.length);
  const out = target ?? new Uint8Array(size);
  if (out.length < size) throw new RangeError(`target of ${out.length} bytes, need ${size}`);
  let src = 0;
  let dst = 0;
  do {
    const n = Math.min(DATA_CHUNK, data.length - src);
    putDataFrameHeader(service, id, n, out, dst);
    out.set(data.subarray(src, src + n), dst + HEADER_SIZE + ID_SIZE);
    src += n;
    dst += HEADER_SIZE + ID_SIZE + n;
  } while (src < data.length);
  return out.subarray(0, size);
}
