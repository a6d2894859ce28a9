/**
 * Maps a client-supplied remote path onto the server's data root. This is the security
 * boundary for every file operation of the local storage (`server/storage/local.ts`, the only
 * caller; other storages keep its lexical rules): a path is first validated lexically by
 * {@linkcode parsePath} (no file-system access), then located with
 * {@linkcode resolveExisting} (symlinks followed, result must stay inside the root) or
 * {@linkcode resolveParent} (for operations on the final name itself, which is not followed).
 *
 * Rules, all enforced by {@linkcode parsePath}:
 * - Paths are relative to the root and `/`-separated. `.` (or `./`) is the root itself.
 *   Empty and `.` components are dropped, so `a//b`, `a/./b` and `a/b/` all mean `a/b`.
 * - A leading `/` (absolute path) and any `..` component are refused with `OUTSIDE_ROOT`:
 *   ferry never re-roots or normalises them away, not even `x/..`.
 * - Backslashes, colons (drive letters, NTFS streams), control characters (C0, DEL, C1),
 *   lone surrogates and text that is not in Unicode NFC are refused with `BAD_NAME`.
 * - Components starting with {@linkcode TEMP_PREFIX} belong to the server and are refused.
 * - Percent-encodings and other escapes are literal characters; nothing is ever decoded.
 * - For names to be created, names that Windows cannot hold are refused as well; see
 *   {@linkcode parsePath}.
 *
 * @module
 */

import { join, sep } from "node:path";
import { FerryError } from "../../protocol/errors.ts";
import { hasControlChar, portabilityProblem, quoteName, utf8Length } from "../../common/names.ts";
import { fsError } from "./fs_errors.ts";
import { ESCAPED_NAME_HINT } from "./listed_names.ts";

/** Prefix of the server's temporary files; names with it are refused from clients and hidden from listings. */
export const TEMP_PREFIX = ".ferry-";

/** Longest path component, in UTF-8 bytes (the common `NAME_MAX`). */
export const MAX_COMPONENT_BYTES = 255;

/** Longest whole path, in UTF-8 bytes: `PATH_MAX` (4,096) less the NUL the kernel needs after it. */
export const MAX_PATH_BYTES = 4095;

/** Most components a path may have. */
export const MAX_DEPTH = 256;

/**
 * Why a path is parsed: `"read"` for operations on existing names (list, download, delete);
 * `"create"` for names that may be created (upload, mkdir, rename target), which must also be
 * portable to Windows.
 */
export type PathPurpose = "read" | "create";

/** An existing path, located by {@linkcode resolveExisting}. */
export interface ResolvedPath {
  /** Real absolute path on the server (symlinks resolved); inside the root. */
  absolute: string;
  /** The client's path as components, as returned by {@linkcode parsePath}; `[]` for the root. */
  components: string[];
}

/** The parent directory and final name of a path, located by {@linkcode resolveParent}. */
export interface ResolvedName {
  /** Real absolute path of the parent directory (symlinks resolved); inside the root. */
  dir: string;
  /** The final component, as the client sent it; never followed if it is a symlink. */
  name: string;
  /** `dir` joined with `name`: the path to operate on. */
  absolute: string;
}

/**
 * Returns true when `name` is in the server's temporary namespace: it starts with
 * {@linkcode TEMP_PREFIX}, compared ASCII-case-insensitively so that case-insensitive file
 * systems cannot alias a temporary file either.
 *
 * @example Usage
 * ```ts
 * import { isTempName } from "./paths.ts";
 * isTempName(".ferry-1a2b.part"); // => true
 * isTempName("ferry.txt"); // => false
 * ```
 */
export function isTempName(name: string): boolean {
  return name.slice(0, TEMP_PREFIX.length).toLowerCase() === TEMP_PREFIX;
}

/**
 * Lexically validates a client path and returns its components (`[]` means the root itself).
 * It never touches the file system.
 *
 * Refusals (each a {@linkcode FerryError}):
 * - `""` → `BAD_NAME`. `.` and `./` mean the root (`[]`); `a//b`, `a/./b` and `a/b/` mean `a/b`.
 * - any `..` component → `OUTSIDE_ROOT` (even `x/..`: refused rather than normalised).
 * - a leading `/` (`/etc`, `//etc`, `/./etc`) → `OUTSIDE_ROOT`.
 * - a backslash or a `:` anywhere (`a\b`, `C:x`, `c:/x`, `f::$DATA`) → `BAD_NAME`.
 * - NUL and other C0 controls, DEL, C1 controls, lone surrogates → `BAD_NAME`.
 * - text not in Unicode NFC (so NFC/NFD look-alike twins cannot coexist) → `BAD_NAME`.
 * - a component over {@linkcode MAX_COMPONENT_BYTES} or a path over
 *   {@linkcode MAX_PATH_BYTES} UTF-8 bytes → `NAME_TOO_LONG`; over {@linkcode MAX_DEPTH}
 *   components → `BAD_NAME`.
 * - a component starting with {@linkcode TEMP_PREFIX} → `BAD_NAME`.
 * - with purpose `"create"`, every component must also be portable, else `BAD_NAME`: no Windows
 *   device name (`CON`, `PRN`, `AUX`, `NUL`, `COM0`-`COM9`, `LPT0`-`LPT9`, with `¹²³` too,
 *   `CONIN$`, `CONOUT$`; case-insensitive, also with an extension or trailing spaces, as in
 *   `nul.txt` or `COM1 `), no trailing `.` or space, none of `< > " | ? *`, no invisible
 *   (default-ignorable) characters such as zero-width or bidi controls outside a standard
 *   emoji sequence (`👨‍👩‍👧` and `❤️` are fine), and no name whose NFKC compatibility form is
 *   refused (`ＣＯＮ`, `．．`, `a／b`, `．ferry-x`). The rule is `portabilityProblem` of
 *   `common/names.ts`, which the client shares.
 *
 * Percent-encodings are literal names: `%2e%2e%2f` is one component, never decoded.
 *
 * @example Usage
 * ```ts
 * import { parsePath } from "./paths.ts";
 * parsePath("docs//report.pdf", "read"); // => ["docs", "report.pdf"]
 * parsePath(".", "read"); // => []
 * ```
 *
 * @throws {FerryError} `BAD_NAME`, `OUTSIDE_ROOT` or `NAME_TOO_LONG`, as above.
 */
export function parsePath(raw: string, purpose: PathPurpose): string[] {
  checkWholePath(raw);
  if (raw.startsWith("/")) {
    throw outsideRoot(raw, "absolute paths are refused; paths are relative to the data root");
  }
  const components = raw.split("/").filter((c) => c !== "" && c !== ".");
  if (components.includes("..")) {
    throw outsideRoot(raw, `".." is refused`);
  }
  if (components.length > MAX_DEPTH) {
    throw badName(raw, `has ${components.length} components; the limit is ${MAX_DEPTH}`);
  }
  for (const component of components) {
    checkComponent(raw, component, purpose);
  }
  return components;
}

/**
 * Locates an existing path: parses `raw` for reading, then walks it from `root` one component
 * at a time with `Deno.lstat`. A symlink met on the way is resolved with `Deno.realPath` and
 * its target must be `root` or below it, so a path never passes outside the root, not even to
 * come back in (`ROOT/out -> ..` makes `out/ROOT/x` fail too), and a missing file behind a
 * symlink that points out is not told apart from an existing one.
 *
 * `root` must be an absolute path that is already real (the result of `Deno.realPath`);
 * otherwise every symlink is refused with `OUTSIDE_ROOT` (fail closed).
 *
 * @example Usage
 * ```ts ignore
 * import { resolveExisting } from "./paths.ts";
 * const root = await Deno.realPath("./data");
 * const { absolute } = await resolveExisting(root, "docs/report.pdf");
 * ```
 *
 * @throws {FerryError} what {@linkcode parsePath} throws; `NOT_FOUND` when the path does not
 * exist (or resolves into the temporary namespace); `OUTSIDE_ROOT` when a symlink leads out
 * of the root or loops; `NOT_A_DIRECTORY` when a middle component is not a directory.
 */
export async function resolveExisting(root: string, raw: string): Promise<ResolvedPath> {
  const components = parsePath(raw, "read");
  const absolute = await walkInside(root, components);
  return { absolute, components };
}

/**
 * Locates the parent directory of `raw` for operations on the final name itself (upload
 * target, delete, mkdir, rename): the parent must exist, be a directory, and be reached
 * without leaving `root` (walked as in {@linkcode resolveExisting}). The final component is
 * not followed, so deleting a symlink removes the link and uploading onto one replaces the
 * link (by rename) without touching its target.
 *
 * `root` must be an absolute, already real path, as for {@linkcode resolveExisting}.
 *
 * @example Usage
 * ```ts ignore
 * import { resolveParent } from "./paths.ts";
 * const root = await Deno.realPath("./data");
 * const { dir, name } = await resolveParent(root, "docs/new.txt", "create");
 * ```
 *
 * @throws {FerryError} what {@linkcode parsePath} throws; `BAD_NAME` when `raw` names the root
 * itself; `NOT_FOUND` when the parent is missing; `NOT_A_DIRECTORY` when it is not a
 * directory; `OUTSIDE_ROOT` when it leads out of the root or through a symlink loop. Messages
 * name the parent (`"docs"`), not the whole path.
 */
export async function resolveParent(
  root: string,
  raw: string,
  purpose: PathPurpose,
): Promise<ResolvedName> {
  const components = parsePath(raw, purpose);
  const name = components.at(-1);
  if (name === undefined) {
    throw badName(raw, "names the root itself");
  }
  const parent = components.slice(0, -1);
  const parentRaw = parent.length === 0 ? "." : parent.join("/");
  const dir = await walkInside(root, parent);
  await assertDirectory(dir, parentRaw);
  return { dir, name, absolute: join(dir, name) };
}

// --- lexical checks ---------------------------------------------------------------------

/** Checks that apply to the path as a whole, before it is split. */
function checkWholePath(raw: string): void {
  if (raw === "") throw badName(raw, "empty path");
  const bytes = utf8Length(raw);
  if (bytes > MAX_PATH_BYTES) {
    throw new FerryError(
      "NAME_TOO_LONG",
      `${quoteName(raw)}: path is ${bytes} bytes; the limit is ${MAX_PATH_BYTES}`,
    );
  }
  if (!raw.isWellFormed()) throw badName(raw, "is not valid Unicode (lone surrogate)");
  if (hasControlChar(raw)) throw badName(raw, "contains a control character");
  if (raw.includes("\\")) {
    throw badName(
      raw,
      /\\(x[0-9a-f?]{2}|\\)/.test(raw)
        ? `contains a backslash: ${ESCAPED_NAME_HINT}`
        : `contains a backslash; use "/" between names`,
    );
  }
  if (raw.includes(":")) throw badName(raw, `contains ":" (drive letter or stream name)`);
  if (raw !== raw.normalize("NFC")) throw badName(raw, "is not in Unicode normal form C (NFC)");
}

/** Checks that apply to one component (never `""`, `.` or `..`). */
function checkComponent(raw: string, component: string, purpose: PathPurpose): void {
  const bytes = utf8Length(component);
  if (bytes > MAX_COMPONENT_BYTES) {
    throw new FerryError(
      "NAME_TOO_LONG",
      `${quoteName(raw)}: a name is ${bytes} bytes; the limit is ${MAX_COMPONENT_BYTES}`,
    );
  }
  if (isTempName(component)) {
    throw badName(raw, `names starting with "${TEMP_PREFIX}" are reserved for the server`);
  }
  if (purpose === "create") {
    const problem = portabilityProblem(component, { reserved: isTempName });
    if (problem !== undefined) throw badName(raw, `${quoteName(component)} ${problem}`);
  }
}

function badName(raw: string, reason: string): FerryError {
  return new FerryError("BAD_NAME", `${quoteName(raw)}: ${reason}`);
}

function outsideRoot(raw: string, reason: string): FerryError {
  return new FerryError("OUTSIDE_ROOT", `${quoteName(raw)}: ${reason}`);
}

// --- file-system checks -------------------------------------------------------------------

/**
 * Real path of `root` joined with `components`, walked one component at a time so that no
 * prefix is ever outside `root`. Error messages name the client's prefix that failed.
 */
async function walkInside(root: string, components: readonly string[]): Promise<string> {
  let current = root;
  for (let i = 0; i < components.length; i++) {
    const shown = components.slice(0, i + 1).join("/");
    current = await stepInside(root, join(current, components[i]), shown);
  }
  return current;
}

/**
 * Real path of `next`, whose parent is already real and inside `root`: `next` itself unless
 * it is a symlink, whose real target must be inside `root` and outside the temp namespace.
 */
async function stepInside(root: string, next: string, shown: string): Promise<string> {
  let real: string;
  try {
    const info = await Deno.lstat(next);
    if (!info.isSymlink) return next;
    real = await Deno.realPath(next);
  } catch (err) {
    throw fsError(err, shown);
  }
  const below = componentsBelow(root, real);
  if (below === undefined) {
    throw outsideRoot(shown, "is a symbolic link that leads outside the data root");
  }
  if (below.some(isTempName)) {
    throw new FerryError("NOT_FOUND", `${quoteName(shown)}: no such file or directory`);
  }
  return real;
}

/** Components of `real` below `root`, `[]` for the root itself, or undefined when outside. */
function componentsBelow(root: string, real: string): string[] | undefined {
  if (real === root) return [];
  const prefix = root.endsWith(sep) ? root : root + sep;
  if (!real.startsWith(prefix)) return undefined;
  return real.slice(prefix.length).split(sep);
}

async function assertDirectory(dir: string, clientPath: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (err) {
    throw fsError(err, clientPath);
  }
  if (!info.isDirectory) {
    throw new FerryError("NOT_A_DIRECTORY", `${quoteName(clientPath)}: not a directory`);
  }
}
