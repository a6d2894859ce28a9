// SHIM (issue 9): re-exports for call sites not yet moved; removed at integration.
/**
 * The frame header now lives in `frame.ts`.
 *
 * @module
 */
export { decodeHeader, encodeHeader, type FrameHeader, HEADER_SIZE, MAX_PAYLOAD } from "./frame.ts";
