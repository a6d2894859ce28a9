// SHIM (issue 9): re-exports for call sites not yet moved; removed at integration.
/**
 * Moved to `frame_writer.ts`.
 *
 * @module
 */
export * from "./frame_writer.ts";
