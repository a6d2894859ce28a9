/**
 * Values checked before they are sent, so they are refused with a clear error instead of being
 * changed on the way: remote paths (normalised to Unicode NFC once, here; a lone surrogate,
 * which UTF-8 cannot carry, is refused rather than turned into U+FFFD) and modification times
 * (the protocol carries milliseconds from 1970 up to the largest time a `Date` holds).
 *
 * @module
 */

import { FerryError } from "../protocol/errors.ts";

/** The latest time a `Date` can hold, in ms since 1970 (year 275760). */
export const MAX_MTIME = 8_640_000_000_000_000;

/**
 * A remote path as it is sent: in Unicode NFC (the server refuses other forms, and macOS gives
 * names in NFD).
 *
 * @throws {FerryError} `BAD_NAME` when it holds a lone surrogate.
 */
export function wirePath(path: string): string {
  if (!path.isWellFormed()) {
    throw new FerryError(
      "BAD_NAME",
      `${
        JSON.stringify(path)
      } holds a lone surrogate, which is not Unicode text and cannot be sent`,
    );
  }
  return path.normalize("NFC");
}

/**
 * Checks a modification time to send or to set: whole milliseconds from 1970 up to
 * {@linkcode MAX_MTIME}. `what` names the file in the error.
 *
 * @throws {FerryError} `BAD_ARGUMENT` when it is outside that range (or not a number).
 */
export function checkMtime(mtime: number, what: string): number {
  if (Number.isInteger(mtime) && mtime >= 0 && mtime <= MAX_MTIME) return mtime;
  const shown = Number.isFinite(mtime) && Math.abs(mtime) <= MAX_MTIME
    ? new Date(mtime).toISOString()
    : String(mtime);
  throw new FerryError(
    "BAD_ARGUMENT",
    `the modification time of ${what} (${shown}) cannot be kept: ferry carries times from 1970 ` +
      `to the year 275760; copy it without -p`,
  );
}
