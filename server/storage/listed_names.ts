/**
 * How a listing names entries that a ferry path cannot name (PROTOCOL.md §7, "Names in
 * listings"). A name on the wire is UTF-8, but a file name on disk is any bytes but `/` and
 * NUL. Rather than hide such an entry, a listing shows it escaped, losslessly and
 * unambiguously:
 *
 * - a byte that is not part of valid UTF-8 is written `\xNN` (two lowercase hex digits);
 * - a backslash is written `\\` (in every listed name, valid or not);
 * - nothing else is escaped.
 *
 * So a listed name contains a backslash exactly when it was escaped, and unescaping it gives
 * back the bytes on disk. No client path may contain a backslash (`BAD_NAME`), so an escaped
 * name can never be taken for, or collide with, a name a client can use; asking for it fails
 * with a `BAD_NAME` that says why ({@linkcode ESCAPED_NAME_HINT}).
 *
 * The portable storage cannot read the bytes of such names (Deno decodes them lossily, as
 * U+FFFD); it writes each undecodable sequence `\x??`, which no unescaping can undo.
 *
 * @module
 */

/** Why a path with a backslash is refused when it looks like a listed escaped name. */
export const ESCAPED_NAME_HINT =
  "a listing shows names that are not valid UTF-8 on the server with \\xNN escapes (and a " +
  "backslash as \\\\); such names cannot be used over ferry: rename them on the server";

/** True when byte `b` is a UTF-8 continuation byte within `lo..hi` (default `0x80..0xbf`). */
function cont(b: number | undefined, lo = 0x80, hi = 0xbf): boolean {
  return b !== undefined && b >= lo && b <= hi;
}

/** Length of the valid UTF-8 sequence at `i`, or 0 when the byte there starts none. */
function sequenceLength(bytes: Uint8Array, i: number): number {
  const b = bytes[i];
  if (b < 0x80) return 1;
  if (b >= 0xc2 && b <= 0xdf) return cont(bytes[i + 1]) ? 2 : 0;
  if (b >= 0xe0 && b <= 0xef) {
    const [lo, hi] = b === 0xe0 ? [0xa0, 0xbf] : b === 0xed ? [0x80, 0x9f] : [0x80, 0xbf];
    return cont(bytes[i + 1], lo, hi) && cont(bytes[i + 2]) ? 3 : 0;
  }
  if (b >= 0xf0 && b <= 0xf4) {
    const [lo, hi] = b === 0xf0 ? [0x90, 0xbf] : b === 0xf4 ? [0x80, 0x8f] : [0x80, 0xbf];
    return cont(bytes[i + 1], lo, hi) && cont(bytes[i + 2]) && cont(bytes[i + 3]) ? 4 : 0;
  }
  return 0;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The listed form of a name given as bytes: valid UTF-8 sequences as text, every other byte
 * as `\xNN`, every backslash as `\\`.
 *
 * @example Usage
 * ```ts
 * import { escapeNameBytes } from "./listed_names.ts";
 * escapeNameBytes(new Uint8Array([0x61, 0xff, 0x5c, 0x62])); // => "a\\xff\\\\b"
 * ```
 */
export function escapeNameBytes(bytes: Uint8Array): string {
  let out = "";
  let run = 0; // start of the current run of valid bytes
  let i = 0;
  const flush = (end: number) => {
    if (end > run) out += utf8.decode(bytes.subarray(run, end)).replaceAll("\\", "\\\\");
  };
  while (i < bytes.length) {
    const n = sequenceLength(bytes, i);
    if (n > 0) {
      i += n;
      continue;
    }
    flush(i);
    out += `\\x${bytes[i].toString(16).padStart(2, "0")}`;
    i++;
    run = i;
  }
  flush(i);
  return out;
}

/**
 * The listed form of a name that is valid UTF-8: itself, with every backslash doubled.
 *
 * @example Usage
 * ```ts
 * import { listedName } from "./listed_names.ts";
 * listedName("plain.txt"); // => "plain.txt"
 * listedName("a\\b"); // => "a\\\\b"
 * ```
 */
export function listedName(name: string): string {
  return name.includes("\\") ? name.replaceAll("\\", "\\\\") : name;
}

/**
 * The listed form of a name the portable storage read lossily (`Deno.readDir` turns each
 * undecodable sequence into U+FFFD): each U+FFFD written `\x??`, backslashes doubled. Used
 * only for names that could not be found again under their decoded form.
 */
export function lossyListedName(name: string): string {
  return listedName(name).replaceAll("\ufffd", "\\x??");
}

/**
 * The bytes a listed name stands for, or `undefined` when it is not a valid listed form
 * (a lone backslash, `\x` without two hex digits, or the portable storage's `\x??`).
 *
 * @example Usage
 * ```ts
 * import { unescapeListedName } from "./listed_names.ts";
 * unescapeListedName("a\\xff"); // => Uint8Array [0x61, 0xff]
 * ```
 */
export function unescapeListedName(listed: string): Uint8Array | undefined {
  const parts: number[] = [];
  const encoder = new TextEncoder();
  for (let i = 0; i < listed.length; i++) {
    const c = listed[i];
    if (c !== "\\") {
      const cp = listed.codePointAt(i) ?? 0;
      const ch = String.fromCodePoint(cp);
      parts.push(...encoder.encode(ch));
      i += ch.length - 1;
      continue;
    }
    const next = listed[i + 1];
    if (next === "\\") {
      parts.push(0x5c);
      i++;
    } else if (next === "x" && /^[0-9a-f]{2}$/.test(listed.slice(i + 2, i + 4))) {
      parts.push(parseInt(listed.slice(i + 2, i + 4), 16));
      i += 3;
    } else {
      return undefined;
    }
  }
  return new Uint8Array(parts);
}
