/**
 * Structured log lines, one per event, in one of two formats:
 * - `text`: `2026-11-25T10:00:00.000Z conn=3 op=get path="a b" bytes=12 result=ok`;
 * - `json`: `{"time":"2026-11-25T10:00:00.000Z","conn":3,"op":"get","path":"a b",...}`.
 *
 * Every string value is cut to {@linkcode MAX_LOG_VALUE_CHARS} code points and, unless it is
 * short and plain (letters, digits, `_ . : / @ + -`), written as a JSON string literal with
 * every character that could forge a line or hide text escaped (C0 and C1 controls, DEL,
 * U+2028/U+2029, bidirectional overrides, lone surrogates; see `quoteName` in
 * `common/names.ts`). So no client-chosen string (a path, a HELLO agent) can forge a line,
 * reorder what a terminal shows, or make one line long.
 *
 * @module
 */

import { quoteName } from "../common/names.ts";

/** Fields of one log line; `undefined` fields are left out. */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

/** Receives log lines. */
export type Logger = (fields: LogFields) => void;

/** How log lines are written: `key=value` text, or one JSON object per line. */
export type LogFormat = "text" | "json";

/** The log formats, for flag checking. */
export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

/** Longest string value written, in code points; longer ones are cut and end in `…`. */
export const MAX_LOG_VALUE_CHARS = 256;

const PLAIN = /^[\w.:\/@+-]*$/;

/** A string value as written in a text line: bare when short and plain, else quoted. */
function textValue(value: string): string {
  return value.length <= MAX_LOG_VALUE_CHARS && PLAIN.test(value)
    ? value
    : quoteName(value, MAX_LOG_VALUE_CHARS);
}

/** A value as a JSON literal (strings escaped and cut as in text lines). */
function jsonValue(value: string | number | boolean | null): string {
  if (typeof value === "string") return quoteName(value, MAX_LOG_VALUE_CHARS);
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "null";
  return String(value);
}

/**
 * Formats fields as one line (no newline), with the current time first: `text` (default)
 * prefixes the time, `json` puts it in a `time` field.
 */
export function formatLogLine(
  fields: LogFields,
  now: Date = new Date(),
  format: LogFormat = "text",
): string {
  if (format === "json") {
    const parts = [`"time":"${now.toISOString()}"`];
    for (const [key, value] of Object.entries(fields)) {
      if (value === undefined || key === "time") continue;
      parts.push(`${quoteName(key, MAX_LOG_VALUE_CHARS)}:${jsonValue(value)}`);
    }
    return `{${parts.join(",")}}`;
  }
  const parts = [now.toISOString()];
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    parts.push(`${key}=${typeof value === "string" ? textValue(value) : String(value)}`);
  }
  return parts.join(" ");
}

/** A logger that writes each line to standard error, in `format` (default `text`). */
export function stderrLogger(format: LogFormat = "text"): Logger {
  const encoder = new TextEncoder();
  return (fields) => {
    try {
      Deno.stderr.writeSync(encoder.encode(formatLogLine(fields, new Date(), format) + "\n"));
    } catch {
      // A closed or full stderr must never take the server down.
    }
  };
}
