/**
 * Rules for names that both ends share: which names are portable (safe to create on every
 * operating system ferry runs on, Windows included), and how a name is shown in a message or a
 * terminal so that it can neither forge a line nor hide what it is.
 *
 * The server refuses to create an unportable name ({@linkcode portabilityProblem} is the
 * "create" rule of `server/storage/paths.ts`); the client refuses to write one that a server
 * listed. Every client path quoted in a server message goes through {@linkcode quoteName}.
 *
 * @module
 */

/** Longest part of a name, in code points, that {@linkcode quoteName} shows before cutting it. */
export const MAX_QUOTED_CHARS = 200;

/**
 * Returns `name` as a JSON string literal that is safe to print: `JSON.stringify` escapes
 * quotes, backslashes, C0 controls and lone surrogates; this also escapes DEL, C1 controls (a
 * raw U+009B is a terminal CSI), U+2028/U+2029 (line breaks to some readers), bidirectional
 * overrides and other invisible format characters. Names longer than `maxChars` code points
 * (default {@linkcode MAX_QUOTED_CHARS}) are cut and end in `…`; the result is valid JSON
 * either way. Server log lines quote every client-supplied string with it.
 *
 * @example Usage
 * ```ts
 * import { quoteName } from "./names.ts";
 * quoteName("a\x1b[31m"); // => "\"a\\u001b[31m\""
 * quoteName("abcdef", 3); // => "\"abc…\""
 * ```
 */
export function quoteName(name: string, maxChars: number = MAX_QUOTED_CHARS): string {
  return JSON.stringify(cutCodePoints(name, maxChars)).replace(UNSAFE_TO_PRINT, escapeChars);
}

/** `s` cut after `max` code points, with `…` added when something was cut. */
function cutCodePoints(s: string, max: number): string {
  if (s.length <= max) return s; // never more code points than UTF-16 units
  let i = 0;
  for (let n = 0; n < max && i < s.length; n++) i += (s.codePointAt(i) ?? 0) > 0xffff ? 2 : 1;
  return i < s.length ? s.slice(0, i) + "…" : s;
}

/** DEL, C1 controls, and format characters (bidi overrides, zero-width, BOM...). */
const UNSAFE_TO_PRINT = /[\u007f-\u009f\p{Cf}\u2028\u2029]/gu;

function escapeChars(ch: string): string {
  return Array.from(ch, (c) => {
    const cp = c.codePointAt(0) ?? 0;
    return cp > 0xffff
      ? unicodeEscape(c.charCodeAt(0)) + unicodeEscape(c.charCodeAt(1))
      : unicodeEscape(cp);
  }).join("");
}

function unicodeEscape(unit: number): string {
  return "\\u" + unit.toString(16).padStart(4, "0");
}

/**
 * True when `s` has a C0 control (including NUL), DEL or a C1 control.
 *
 * @example Usage
 * ```ts
 * import { hasControlChar } from "./names.ts";
 * hasControlChar("a\nb"); // => true
 * hasControlChar("café"); // => false
 * ```
 */
export function hasControlChar(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const unit = s.charCodeAt(i);
    if (unit < 0x20 || (unit >= 0x7f && unit <= 0x9f)) return true;
  }
  return false;
}

/**
 * Length of `s` in UTF-8 bytes (a lone surrogate counts as the 3 bytes of U+FFFD).
 *
 * @example Usage
 * ```ts
 * import { utf8Length } from "./names.ts";
 * utf8Length("é😀"); // => 6
 * ```
 */
export function utf8Length(s: string): number {
  let bytes = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return bytes;
}

/** Device names Windows reserves in every directory, matched after the extension is dropped. */
const WINDOWS_DEVICE = /^(?:CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³]|CONIN\$|CONOUT\$)$/i;

/** Characters Windows refuses in file names (beyond `\`, `/`, `:` and controls). */
const WINDOWS_INVALID = /[<>"|?*]/;

/** Invisible characters: zero-width, bidi controls, BOM, soft hyphen, variation selectors... */
const INVISIBLE = /\p{Default_Ignorable_Code_Point}/u;

/**
 * Standard emoji sequences, whose joiners and variation selectors are legitimate. Built only
 * for a name that holds an invisible character: compiling it costs every process that loads
 * this module (a CLI command) several milliseconds.
 */
function emojiPattern(): RegExp {
  return new RegExp("\\p{RGI_Emoji}", "gv");
}

/** Characters that separate paths somewhere (`/`, `\`, `:`), checked after NFKC folding. */
const SEPARATOR_LIKE = /[/\\:]/;

/**
 * Returns true when `name` is a Windows device name, even with an extension or trailing
 * spaces (`nul.txt`, `COM1 `, `lpt¹.log`, `CONIN$`).
 *
 * @example Usage
 * ```ts
 * import { isWindowsDeviceName } from "./names.ts";
 * isWindowsDeviceName("nul.txt"); // => true
 * isWindowsDeviceName("CONOUT$"); // => true
 * isWindowsDeviceName("console"); // => false
 * ```
 */
export function isWindowsDeviceName(name: string): boolean {
  const base = name.split(".", 1)[0].replace(/ +$/, "");
  return WINDOWS_DEVICE.test(base);
}

/** Options for {@linkcode portabilityProblem}. */
export interface PortabilityOptions {
  /**
   * Names the caller reserves for itself (the server's temporary namespace), refused when a
   * name only folds into one of them: `．ferry-x` reads as `.ferry-x`.
   */
  reserved?: (name: string) => boolean;
}

/**
 * Why the path component `name` cannot be created portably, or `undefined` when it can. It
 * checks, in this order: a trailing `.` or space; one of `< > " | ? *`; a Windows device name
 * (`CON`, `PRN`, `AUX`, `NUL`, `COM0`-`COM9`, `LPT0`-`LPT9`, with `¹²³` too, `CONIN$`, `CONOUT$`;
 * case-insensitive, also with an extension or trailing spaces); an invisible
 * (default-ignorable) character outside a standard emoji sequence (`👨‍👩‍👧` and `❤️` are
 * fine); and a name whose NFKC compatibility form is refused (`ＣＯＮ`, `．．`, `a／b`).
 *
 * Separators, controls, `.`/`..` and the empty name are the caller's first checks; this adds
 * only what makes a valid name unportable. The reason reads after the quoted name, as in
 * `"CON" is a reserved device name on Windows`.
 *
 * @example Usage
 * ```ts
 * import { portabilityProblem } from "./names.ts";
 * portabilityProblem("CONIN$"); // => "is a reserved device name on Windows"
 * portabilityProblem("report.pdf"); // => undefined
 * ```
 */
export function portabilityProblem(
  name: string,
  options: PortabilityOptions = {},
): string | undefined {
  if (name.endsWith(".") || name.endsWith(" ")) return "ends in a dot or a space";
  if (WINDOWS_INVALID.test(name)) return `contains one of < > " | ? *`;
  if (isWindowsDeviceName(name)) return "is a reserved device name on Windows";
  if (INVISIBLE.test(name) && INVISIBLE.test(name.replace(emojiPattern(), ""))) {
    return "contains an invisible character";
  }
  const folded = name.normalize("NFKC");
  if (folded !== name && isRefusedWhenFolded(folded, options)) {
    return `reads as ${quoteName(folded)} once compatibility characters are folded (NFKC)`;
  }
  return undefined;
}

/**
 * True when `name` is one path component that every supported system can create: not empty,
 * `.` or `..`, free of `/`, `\`, `:` and control characters, and without a
 * {@linkcode portabilityProblem}.
 *
 * @example Usage
 * ```ts
 * import { isPortableName } from "./names.ts";
 * isPortableName("report.pdf"); // => true
 * isPortableName("aux.tar.gz"); // => false
 * isPortableName("../x"); // => false
 * ```
 */
export function isPortableName(name: string, options: PortabilityOptions = {}): boolean {
  return name !== "" && name !== "." && name !== ".." && !SEPARATOR_LIKE.test(name) &&
    !hasControlChar(name) && portabilityProblem(name, options) === undefined;
}

function isRefusedWhenFolded(folded: string, options: PortabilityOptions): boolean {
  return folded === "." || folded === ".." || SEPARATOR_LIKE.test(folded) ||
    hasControlChar(folded) || (options.reserved?.(folded) ?? false) ||
    portabilityProblem(folded, options) !== undefined;
}
