/**
 * Progress bars for transfers, drawn on a terminal's standard error: one line per file in
 * flight (name, percent, bar, bytes, speed, ETA), an overall line when many files move, redrawn
 * at most ten times a second and erased cleanly. Finished files of a many-file transfer leave a
 * line like scp's. When the display is disabled every call is a no-op, so callers need no
 * branches.
 *
 * @module
 */

import type { Progress } from "../client/types.ts";
import { formatDuration, formatRate, formatSize, printable } from "./format.ts";

/** Options for {@linkcode createProgressDisplay}. */
export interface ProgressDisplayOptions {
  /** Draw at all (default: standard output and standard error are both terminals). */
  enabled?: boolean;
  /** Leave a line for every finished file (default: once totals were set, many files). */
  keepFinished?: boolean;
  /** Writes text to the terminal (default: standard error). */
  write?: (text: string) => void;
  /** Terminal width in columns (default: `Deno.consoleSize()`, else 80). */
  columns?: () => number;
  /** Redraw interval in ms (default 100). */
  intervalMs?: number;
  /** Clock in ms (default `performance.now`). */
  now?: () => number;
}

/** The bar of one file. */
export interface FileProgress {
  /** Records progress (from the library's `onProgress`). */
  update(progress: Progress): void;
  /** The file finished. */
  done(): void;
  /** The file failed or was given up; its line disappears. */
  fail(): void;
  /** The file needed no transfer (`--update`, `--resume`); its line disappears. */
  skip(): void;
}

/** A set of bars on one terminal. */
export interface ProgressDisplay {
  /** Whether anything is drawn. */
  readonly enabled: boolean;
  /** Starts a bar for `label`, of `total` bytes when known. */
  start(label: string, total?: number | null): FileProgress;
  /** Announces the totals of a many-file transfer, which adds an overall line. */
  setTotals(files: number, bytes: number): void;
  /** Prints a line above the bars (a warning, a reconnect notice). */
  message(text: string): void;
  /** Erases the bars (finished lines stay) and stops drawing. */
  close(): void;
}

/** Moving speed over the last few seconds. */
class Speed {
  #samples: [number, number][] = [];
  constructor(private readonly windowMs = 3000) {}
  add(t: number, bytes: number): void {
    this.#samples.push([t, bytes]);
    while (this.#samples.length > 2 && t - this.#samples[1][0] > this.windowMs) {
      this.#samples.shift();
    }
  }
  /** Bytes per second, or `null` before there is enough to tell. */
  rate(): number | null {
    if (this.#samples.length < 2) return null;
    const [t0, b0] = this.#samples[0];
    const [t1, b1] = this.#samples[this.#samples.length - 1];
    return t1 - t0 < 200 ? null : ((b1 - b0) * 1000) / (t1 - t0);
  }
}

interface Bar {
  label: string;
  bytes: number;
  total: number | null;
  /** A resume is checking the bytes already in place. */
  verifying: boolean;
  started: number;
  speed: Speed;
}

const NOOP_FILE: FileProgress = { update() {}, done() {}, fail() {}, skip() {} };

/** A display that draws nothing. */
export const NO_PROGRESS: ProgressDisplay = {
  enabled: false,
  start: () => NOOP_FILE,
  setTotals() {},
  message(text) {
    console.error(text);
  },
  close() {},
};

function defaultColumns(): number {
  try {
    return Deno.consoleSize().columns || 80;
  } catch {
    return 80;
  }
}

/** Cuts `text` to `width` columns, keeping its end (the file name) visible. */
function fit(text: string, width: number): string {
  if (width <= 0) return "";
  const chars = [...text];
  if (chars.length <= width) return text.padEnd(width);
  return width === 1 ? "…" : "…" + chars.slice(chars.length - width + 1).join("");
}

function bar(fraction: number, width: number): string {
  const full = Math.max(0, Math.min(width, Math.floor(fraction * width)));
  return "#".repeat(full) + "-".repeat(width - full);
}

/** The line of a file in flight, or finished (`final`); `verifying` while a resume checks. */
function renderLine(
  label: string,
  bytes: number,
  total: number | null,
  rate: number | null,
  elapsedMs: number,
  columns: number,
  final: boolean,
  verifying = false,
): string {
  const width = columns - 1; // never the last column: some terminals wrap there
  if (verifying && !final) {
    const tail = "  verifying the part already transferred…";
    const nameWidth = Math.max(8, width - tail.length);
    return (fit(printable(label), nameWidth) + tail).slice(0, Math.max(width, 0));
  }
  const pct = total !== null && total > 0
    ? Math.min(100, Math.floor((bytes / total) * 100))
    : total === 0 || final
    ? 100
    : null;
  const pctText = pct === null ? "   ?" : `${String(pct).padStart(3)}%`;
  const amount = total !== null ? `${formatSize(bytes)} / ${formatSize(total)}` : formatSize(bytes);
  const speed = rate === null ? "--- B/s" : formatRate(rate);
  let tail: string;
  if (final) {
    tail = `  ${pctText}  ${formatSize(bytes).padStart(10)}  ${speed.padStart(12)}  ${
      formatDuration(elapsedMs / 1000).padStart(5)
    }    `;
  } else {
    const eta = rate !== null && rate > 0 && total !== null
      ? `ETA ${formatDuration((total - bytes) / rate)}`
      : "ETA -:--";
    const barWidth = columns >= 100 ? 20 : columns >= 80 ? 12 : 0;
    tail = `  ${pctText}${barWidth > 0 ? ` [${bar((pct ?? 0) / 100, barWidth)}]` : ""}  ${
      amount.padStart(21)
    }  ${speed.padStart(12)}  ${eta.padStart(9)}`;
  }
  const nameWidth = Math.max(8, width - tail.length);
  return (fit(printable(label), nameWidth) + tail).slice(0, Math.max(width, 0));
}

const open = new Set<ProgressDisplay>();

/** Erases every display still drawing (before the program exits on a signal). */
export function closeAllDisplays(): void {
  for (const d of [...open]) d.close();
}

/** Creates a display; disabled unless standard output and standard error are terminals. */
export function createProgressDisplay(options: ProgressDisplayOptions = {}): ProgressDisplay {
  const enabled = options.enabled ?? (Deno.stdout.isTerminal() && Deno.stderr.isTerminal());
  if (!enabled) return NO_PROGRESS;
  const encoder = new TextEncoder();
  const write = options.write ?? ((text: string) => {
    try {
      Deno.stderr.writeSync(encoder.encode(text));
    } catch {
      // a closed terminal must not fail the transfer
    }
  });
  const columns = options.columns ?? defaultColumns;
  const interval = options.intervalMs ?? 100;
  const now = options.now ?? (() => performance.now());

  const active = new Set<Bar>();
  let pending: string[] = []; // lines to print above the bars at the next draw
  let drawn = 0; // lines of bars on screen now
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  let totals: { files: number; bytes: number } | null = null;
  let finishedFiles = 0;
  let finishedBytes = 0;
  const overallSpeed = new Speed();
  const started = now();

  function erase(): string {
    if (drawn === 0) return "";
    return `\r${drawn > 1 ? `\x1b[${drawn - 1}A` : ""}\x1b[J`;
  }

  function draw(): void {
    timer = undefined;
    const cols = columns();
    const t = now();
    let out = erase();
    for (const line of pending) out += `${line}\n`;
    pending = [];
    const lines: string[] = [];
    const maxBars = 8;
    let shown = 0;
    let inFlight = 0;
    for (const b of active) {
      inFlight += b.bytes;
      b.speed.add(t, b.bytes); // a stalled transfer's speed falls
      if (shown++ < maxBars) {
        lines.push(
          renderLine(
            b.label,
            b.bytes,
            b.total,
            b.speed.rate(),
            t - b.started,
            cols,
            false,
            b.verifying,
          ),
        );
      }
    }
    if (active.size > maxBars) lines.push(`  … and ${active.size - maxBars} more in flight`);
    if (totals !== null) {
      const bytes = finishedBytes + inFlight;
      overallSpeed.add(t, bytes);
      lines.push(
        renderLine(
          `${finishedFiles}/${totals.files} files`,
          bytes,
          totals.bytes,
          overallSpeed.rate(),
          t - started,
          cols,
          false,
        ),
      );
    }
    out += lines.join("\n");
    drawn = lines.length;
    write(out);
    if (active.size > 0) schedule(1000); // keeps speed and ETA current while data stalls
  }

  let drawAt = 0;
  /** Draws within `delay` ms (an earlier draw already planned stands). */
  function schedule(delay = interval): void {
    if (closed) return;
    const at = now() + delay;
    if (timer !== undefined) {
      if (drawAt <= at) return;
      clearTimeout(timer);
    }
    drawAt = at;
    timer = setTimeout(draw, delay);
    Deno.unrefTimer(timer);
  }

  const display: ProgressDisplay = {
    enabled: true,
    start(label, total = null) {
      const b: Bar = {
        label,
        bytes: 0,
        total,
        verifying: false,
        started: now(),
        speed: new Speed(),
      };
      b.speed.add(b.started, 0);
      active.add(b);
      schedule();
      return {
        update(p) {
          b.verifying = p.verifying ?? false;
          if (b.verifying) {
            schedule();
            return;
          }
          b.bytes = p.bytes;
          b.total = p.total;
          b.speed.add(now(), p.bytes);
          schedule();
        },
        done() {
          if (!active.delete(b)) return;
          finishedFiles++;
          finishedBytes += b.bytes;
          if (options.keepFinished ?? totals !== null) {
            const elapsed = now() - b.started;
            const rate = elapsed > 0 ? (b.bytes * 1000) / elapsed : null;
            pending.push(renderLine(b.label, b.bytes, b.total, rate, elapsed, columns(), true));
          }
          schedule();
        },
        fail() {
          if (active.delete(b)) schedule();
        },
        skip() {
          if (!active.delete(b)) return;
          // It counts as done, and its bytes leave the total still to move.
          finishedFiles++;
          if (totals !== null) totals.bytes -= b.total ?? 0;
          schedule();
        },
      };
    },
    setTotals(files, bytes) {
      totals = { files, bytes };
      schedule();
    },
    message(text) {
      pending.push(text);
      if (!closed) schedule();
      else write(`${text}\n`);
    },
    close() {
      if (closed) return;
      closed = true;
      open.delete(display);
      clearTimeout(timer);
      timer = undefined;
      let out = erase();
      for (const line of pending) out += `${line}\n`;
      pending = [];
      drawn = 0;
      if (out !== "") write(out);
    },
  };
  open.add(display);
  return display;
}
