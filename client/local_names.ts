/**
 * Checks on names that come from a server before they become local paths, so a hostile server
 * can never make the client write outside its target directory.
 *
 * @module
 */

import { basename } from "node:path";
import { FerryError } from "../protocol/errors.ts";
import { hasControlChar, portabilityProblem } from "../common/names.ts";

/** The local name for a remote path: its last component, refused if it could escape. */
export function safeLocalName(remote: string): string {
  const name = basename(remote.replaceAll("\\", "/"));
  try {
    return safeEntryName(name);
  } catch {
    throw new FerryError("BAD_NAME", `${JSON.stringify(remote)} has no usable file name`);
  }
}

/**
 * Checks that a name a server listed is one plain path component that is safe to create
 * locally: not empty, `.` or `..`, and free of `/`, `\`, `:` and control characters (and, on
 * Windows, without the server's portability problems: `<>"|?*`, reserved device names such as
 * `CON` or `CONIN$`, a trailing dot or space; see `common/names.ts`). A hostile server can thus
 * never make a recursive download write outside its target directory.
 *
 * @returns The name itself.
 * @throws {FerryError} `BAD_NAME`.
 */
export function safeEntryName(name: string): string {
  const bad = name === "" || name === "." || name === ".." || /[\\/:]/.test(name) ||
    hasControlChar(name) ||
    (Deno.build.os === "windows" && portabilityProblem(name) !== undefined);
  if (bad) {
    throw new FerryError("BAD_NAME", `the server sent an unsafe name ${JSON.stringify(name)}`);
  }
  return name;
}
