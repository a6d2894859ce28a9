// SHIM (issue 9): re-exports for call sites not yet moved; removed at integration.
/**
 * Moved to `frame_reader.ts`.
 *
 * @module
 */
export * from "./frame_reader.ts";
