/**
 * Payload layouts of every service: pure encode/decode functions over bytes. Each `encode*`
 * returns a whole frame (header included); each `decode*` takes a frame's payload.
 *
 * Every payload starts with a 32-bit request id chosen by the client; all frames of one
 * operation carry the same id, so several operations can be in flight on one connection.
 *
 * The modules follow the service families of PROTOCOL.md §4: `session.ts`, `files.ts`,
 * `transfer.ts` (with the one data-frame builder) and `control.ts`; `common.ts` holds what they
 * share.
 *
 * @module
 */

export {
  CHECKSUM_NUMBERS,
  type ChecksumAlgorithm,
  checksumNumbered,
  decodeDigest,
  type Digest,
  DIGEST_SIZES,
  encodeDigest,
  type Entry,
  type EntryKind,
  entrySize,
  ID_SIZE,
  peekRequestId,
  type Role,
  SHA256_SIZE,
} from "./common.ts";
export * from "./session.ts";
export * from "./files.ts";
export * from "./transfer.ts";
export * from "./control.ts";
