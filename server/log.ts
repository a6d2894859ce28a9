/**
 * One-line structured logs: `2026-11-25T10:00:00.000Z conn=3 op=get path="a b" bytes=12 result=ok`.
 * Values with spaces, quotes or control characters are JSON-quoted, so a client-chosen name
 * can never forge a log line.
 *
 * @module
 */

/** Fields of one log line; `undefined` fields are left out. */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

/** Receives log lines. */
export type Logger = (fields: LogFields) => void;

const PLAIN = /^[\w.:\/@+-]*$/;

/** Formats fields as one line, prefixed with the current time. */
export function formatLogLine(fields: LogFields, now: Date = new Date()): string {
  const parts = [now.toISOString()];
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const text = String(value);
    parts.push(
      `${key}=${typeof value === "string" && !PLAIN.test(text) ? JSON.stringify(text) : text}`,
    );
  }
  return parts.join(" ");
}

/** A logger that writes each line to standard error. */
export function stderrLogger(): Logger {
  const encoder = new TextEncoder();
  return (fields) => {
    try {
      Deno.stderr.writeSync(encoder.encode(formatLogLine(fields) + "\n"));
    } catch {
      // A closed or full stderr must never take the server down.
    }
  };
}
