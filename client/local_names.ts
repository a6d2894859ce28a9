/**
 * Checks on names that come from a server before they become local paths, so a hostile server
 * can never make the client write outside its target directory.
 *
 * @module
 */

import { basename } from "node:path";
import { FerryError } from "../protocol/errors.ts";

/** The local name for a remote path: its last component, refused if it could escape. */
export function safeLocalName(remote: string): string {
  const name = basename(remote.replaceAll("\\", "/"));
  try {
    return safeEntryName(name);
  } catch {
    throw new FerryError("BAD_NAME", `${JSON.stringify(remote)} has no usable file name`);
  }
}

const WINDOWS_RESERVED = /^(?:CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³])(?:\..*)?$/i;

/**
 * Checks that a name a server listed is one plain path component that is safe to create
 * locally: not empty, `.` or `..`, and free of `/`, `\`, `:` and control characters (and, on
 * Windows, of `<>"|?*`, reserved device names and a trailing dot or space). A hostile server
 * can thus never make a recursive download write outside its target directory.
 *
 * @returns The name itself.
 * @throws {FerryError} `BAD_NAME`.
 */
export function safeEntryName(name: string): string {
  const bad = name === "" || name === "." || name === ".." ||
    // deno-lint-ignore no-control-regex
    /[\x00-\x1f\x7f-\x9f\\/:]/.test(name) ||
    (Deno.build.os === "windows" &&
      (/[<>"|?*]/.test(name) || /[. ]$/.test(name) || WINDOWS_RESERVED.test(name)));
  if (bad) {
    throw new FerryError("BAD_NAME", `the server sent an unsafe name ${JSON.stringify(name)}`);
  }
  return name;
}
