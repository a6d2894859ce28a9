/**
 * The data root's quota: bytes used by its files (measured once at start-up by the storage,
 * then kept up to date by uploads and deletes) plus bytes reserved by uploads in flight. An
 * upload that would pass the quota is refused with `NO_SPACE`, up front when its size is
 * declared, as it streams otherwise.
 *
 * The quota is one small object on the server's context, so that it could later be backed by
 * a coordinator shared between processes without its users changing.
 *
 * @module
 */

import { FerryError } from "../protocol/errors.ts";

/** Usage of the data root against its limit. */
export interface Quota {
  /** Most bytes allowed; 0 means unlimited. */
  readonly limit: number;
  /** Bytes of the files in the root. */
  readonly used: number;
  /** Bytes promised to uploads in flight. */
  readonly reserved: number;
  /**
   * Reserves `bytes` for an upload that may replace `replacing` bytes.
   *
   * @throws {FerryError} `NO_SPACE` when the quota would be passed.
   */
  reserve(bytes: number, replacing?: number): void;
  /** Gives a reservation back. */
  release(bytes: number): void;
  /**
   * Checks that an upload of undeclared size, now at `received` bytes and replacing
   * `replacing`, still fits beside everything else.
   *
   * @throws {FerryError} `NO_SPACE` when it does not.
   */
  assertRoom(received: number, replacing: number): void;
  /** Counts a committed file of `bytes` that replaced one of `replaced` bytes. */
  stored(bytes: number, replaced: number): void;
  /** Counts `bytes` freed by a delete. */
  freed(bytes: number): void;
}

/**
 * A quota of `limit` bytes (0: none) for a root whose files now take `used` bytes.
 *
 * @example Usage
 * ```ts
 * import { createQuota } from "./quota.ts";
 * const quota = createQuota(1000, 600);
 * quota.reserve(300);
 * quota.reserved; // => 300
 * ```
 */
export function createQuota(limit: number, used: number): Quota {
  let usedBytes = used;
  let reservedBytes = 0;
  return {
    limit,
    get used() {
      return usedBytes;
    },
    get reserved() {
      return reservedBytes;
    },
    reserve(bytes, replacing = 0) {
      if (limit === 0) return;
      if (usedBytes + reservedBytes + bytes - replacing > limit) {
        throw new FerryError(
          "NO_SPACE",
          `the server's quota of ${limit} bytes would be exceeded (${usedBytes} used, ${reservedBytes} reserved)`,
        );
      }
      reservedBytes += bytes;
    },
    release(bytes) {
      reservedBytes = Math.max(0, reservedBytes - bytes);
    },
    assertRoom(received, replacing) {
      if (limit > 0 && usedBytes + reservedBytes + received - replacing > limit) {
        throw new FerryError("NO_SPACE", `the server's quota of ${limit} bytes is full`);
      }
    },
    stored(bytes, replaced) {
      usedBytes += bytes - replaced;
    },
    freed(bytes) {
      usedBytes = Math.max(0, usedBytes - bytes);
    },
  };
}
