/**
 * Text the CLI prints: sizes, times, rates, and names made safe for a terminal.
 *
 * @module
 */

import type { Entry } from "../protocol/messages/mod.ts";

/** `1536` → `1.5 KiB`; bytes below 1 KiB as `512 B`. */
export function formatSize(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** Bytes per second as `12.3 MiB/s`. */
export function formatRate(bytesPerSecond: number): string {
  return `${formatSize(Math.round(bytesPerSecond))}/s`;
}

/** Seconds as `0:07`, `12:30` or `1:02:03`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (x: number) => String(x).padStart(2, "0");
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

/** Local time as `2026-11-25 10:00` (`-` when unknown), or with seconds. */
export function formatTime(ms: number | null, seconds = false): string {
  if (ms === null) return "-".padEnd(seconds ? 19 : 16);
  const d = new Date(ms);
  const pad = (x: number) => String(x).padStart(2, "0");
  const day = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}${
    seconds ? `:${pad(d.getSeconds())}` : ""
  }`;
  return `${day} ${time}`;
}

/**
 * Characters that could drive a terminal or disguise a name: C0 and C1 controls, DEL, and the
 * Unicode bidirectional and zero-width formatting characters.
 */
// deno-lint-ignore no-control-regex
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/**
 * Escapes characters that could drive a terminal (`\x1b`, `\r`, C1, bidi overrides, …) as
 * `\xNN`/`\uNNNN`, so a hostile name or server message prints as inert text.
 */
export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/**
 * `JSON.stringify` that also escapes what JSON leaves raw but a terminal may act on (DEL, C1
 * controls, bidi overrides); the result is still plain JSON.
 */
export function toJson(value: unknown): string {
  return JSON.stringify(value).replace(
    UNSAFE,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** Names, one per line, directories with a trailing `/`. */
export function formatNames(entries: Entry[]): string {
  return [...nameLines(entries)].join("\n");
}

/** The lines of {@linkcode formatNames}, one at a time. */
export function* nameLines(entries: Iterable<Entry>): Generator<string> {
  for (const e of entries) yield e.kind === "dir" ? `${printable(e.name)}/` : printable(e.name);
}

/** The long listing: kind, size (as `1.5 KiB` when `human`), modification time, name. */
export function formatLong(entries: Entry[], human = false): string {
  const sizes = entries.map((e) =>
    e.kind === "file" ? (human ? formatSize(e.size) : String(e.size)) : "-"
  );
  const width = Math.max(1, ...sizes.map((s) => s.length));
  return entries.map((e, i) =>
    `${e.kind.padEnd(7)} ${sizes[i].padStart(width)}  ${formatTime(e.mtime)}  ${printable(e.name)}${
      e.kind === "dir" ? "/" : ""
    }`
  ).join("\n");
}
