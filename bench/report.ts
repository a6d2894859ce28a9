/**
 * The report of a run: statistics over the samples, the markdown tables, the JSON file in
 * `bench/results/`, and the update of BENCHMARKS.md.
 *
 * @module
 */

import type { Machine } from "./harness/machine.ts";
import { REPO } from "./harness/process.ts";
import type { Case, Results, Tool, Unit } from "./results.ts";
import { TOOLS } from "./results.ts";
import type { Target } from "./targets.ts";

/** Samples with their summary. */
export interface Series {
  /** The samples, in the order taken. */
  samples: number[];
  /** Smallest sample. */
  min: number;
  /** Median sample. */
  median: number;
  /** Largest sample. */
  max: number;
}

/** Summarises samples (at least one). */
export function series(samples: number[]): Series {
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { samples, min: s[0], median, max: s[s.length - 1] };
}

/** The median of `samples`, or null when there are none. */
export function medianOf(samples: number[] | undefined): number | null {
  return samples === undefined || samples.length === 0 ? null : series(samples).median;
}

/** The largest of `samples`, or null when there are none. */
export function maxOf(samples: number[] | undefined): number | null {
  return samples === undefined || samples.length === 0 ? null : Math.max(...samples);
}

/**
 * ferry's median over `tool`'s, as a speed ratio (times are inverted). A case that is a variant
 * of another (`compareWith`) is compared with that one's `tool`.
 */
export function ratio(results: Results, c: Case, tool: Tool): number | null {
  const base = c.compareWith === undefined ? c : results.byId(c.compareWith);
  const f = medianOf(c.samples.ferry);
  const o = medianOf(base?.samples[tool]);
  if (f === null || o === null || f === 0 || o === 0) return null;
  return c.unit === "s" ? o / f : f / o;
}

/** A value with as many digits as it deserves. */
export function fmt(v: number, unit: Unit): string {
  if (unit === "s") return v < 10 ? v.toFixed(2) : v.toFixed(1);
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/** "median (min–max)", or the one value. */
function spread(samples: number[], show: (v: number) => string): string {
  const x = series(samples);
  return samples.length === 1
    ? show(x.median)
    : `${show(x.median)} (${show(x.min)}–${show(x.max)})`;
}

function cell(c: Case, tool: Tool): string {
  if (c.errors[tool] !== undefined) return "failed";
  const s = c.samples[tool];
  return s === undefined || s.length === 0 ? "—" : spread(s, (v) => fmt(v, c.unit));
}

/** Tools with a value or an error in some case: the table's columns. */
function columns(results: Results): Tool[] {
  return TOOLS.filter((t) =>
    t === "ferry" ||
    results.cases.some((c) => (c.samples[t]?.length ?? 0) > 0 || c.errors[t] !== undefined)
  );
}

function notesOf(c: Case): string {
  const notes = c.skipped === undefined ? [...c.notes] : [`skipped: ${c.skipped}`, ...c.notes];
  for (const [tool, e] of Object.entries(c.errors)) {
    notes.push(`${tool} failed: ${e.slice(0, 160)}`);
  }
  return notes.join("; ");
}

/** The table of results: one row per case. */
export function resultsTable(results: Results): string {
  const tools = columns(results);
  const versus = tools.filter((t) => t !== "ferry" && t !== "ceiling+fsync");
  const lines = [
    `| case | unit | ${tools.join(" | ")} | ${
      versus.map((t) => `ferry/${t}`).join(" | ")
    } | notes |`,
    `|${" --- |".repeat(3 + tools.length + versus.length)}`,
  ];
  for (const c of results.cases) {
    const ratios = versus.map((t) => {
      const r = ratio(results, c, t);
      return r === null ? "—" : `${r.toFixed(2)}×`;
    });
    lines.push(
      `| ${c.title} | ${c.unit} | ${tools.map((t) => cell(c, t)).join(" | ")} | ${
        ratios.join(" | ")
      } | ${notesOf(c)} |`,
    );
  }
  return lines.join("\n");
}

/** CPU-seconds per GiB moved by side, for every case that measured them. */
export function cpuTable(results: Results): string {
  const lines = [
    "| case | tool | client CPU-s/GiB | server CPU-s/GiB | client + server | wall s/GiB |",
    "| --- | --- | --- | --- | --- | --- |",
  ];
  const show = (v: number) => v.toFixed(2);
  for (const c of results.cases) {
    for (const tool of TOOLS) {
      const cpu = c.cpu[tool];
      if (cpu === undefined || cpu.length === 0) continue;
      const wall = (c.samples[tool] ?? []).map((mbs) => 1024 ** 3 / 1e6 / mbs);
      lines.push(
        `| ${c.title} | ${tool} | ${spread(cpu.map((x) => x.client), show)} | ${
          spread(cpu.map((x) => x.server), show)
        } | ${spread(cpu.map((x) => x.client + x.server), show)} | ${
          wall.length > 0 ? spread(wall, show) : "—"
        } |`,
      );
    }
  }
  return lines.length > 2 ? lines.join("\n") : "";
}

/** The targets with their verdicts. */
export function targetsTable(targets: Target[]): string {
  const lines = ["| target | goal | measured | met |", "| --- | --- | --- | --- |"];
  for (const t of targets) {
    const met = t.met === null
      ? `— (${t.why ?? "not measured"})`
      : t.met
      ? "yes"
      : `**no**: ${t.gap}`;
    lines.push(`| ${t.what} | ${t.goal} | ${t.shown} | ${met} |`);
  }
  return lines.join("\n");
}

/** All three tables, as they go into BENCHMARKS.md. */
export function markdown(results: Results, targets: Target[]): string {
  const cpu = cpuTable(results);
  return [
    resultsTable(results),
    ...(cpu === "" ? [] : [
      "CPU-seconds (user + system) per GiB moved, by side: client = the process a user runs, with " +
      "its children (scp's and sftp's ssh); server = the serving process, with the children it " +
      "forked for the transfer (sshd's session processes):",
      cpu,
    ]),
    targetsTable(targets),
  ].join("\n\n");
}

/** The machine line above the tables. */
export function machineLine(m: Machine, seconds: number): string {
  const load = (l: number[]) => l[0]?.toFixed(2) ?? "?";
  return `machine: ${m.cores} × ${m.cpu}, ${m.memoryGiB} GiB, Linux ${m.kernel}, Deno ${m.deno}` +
    `${m.openssh ? `, ${m.openssh}` : ""}${m.openssl ? `, ${m.openssl}` : ""}; ` +
    `the run took ${seconds.toFixed(0)} s; load average ${load(m.loadavg.start)} at the start, ` +
    `${load(m.loadavg.end)} at the end`;
}

/** Writes the run's JSON to `bench/results/<start time>.json`; its path. */
export async function writeResults(startedAt: Date, result: unknown): Promise<string> {
  await Deno.mkdir(`${REPO}/bench/results`, { recursive: true });
  const stamp = startedAt.toISOString().replace(/[:.]/g, "-");
  const path = `${REPO}/bench/results/${stamp}.json`;
  await Deno.writeTextFile(path, JSON.stringify(result, null, 2) + "\n");
  return path;
}

const BEGIN = "<!-- bench:begin -->";
const END = "<!-- bench:end -->";

/**
 * Replaces the text between the bench markers of BENCHMARKS.md with the machine line and the
 * tables, and makes `bench/results/.gitignore` keep the results file it quotes (and no other).
 */
export async function updateDoc(header: string, tables: string, path: string): Promise<void> {
  const doc = `${REPO}/BENCHMARKS.md`;
  const text = await Deno.readTextFile(doc).catch(() => "");
  const i = text.indexOf(BEGIN);
  const j = text.indexOf(END);
  if (i < 0 || j < i) {
    console.error(`BENCHMARKS.md has no ${BEGIN} … ${END} section; not updated`);
    return;
  }
  const rel = path.slice(REPO.length + 1);
  const body = `${BEGIN}\n\n${header} (\`${rel}\`)\n\n${tables}\n\n${END}`;
  await Deno.writeTextFile(doc, text.slice(0, i) + body + text.slice(j + END.length));
  const ignore = `${REPO}/bench/results/.gitignore`;
  const rules = (await Deno.readTextFile(ignore).catch(() => "*.json\n")).split("\n");
  const previous = rules.find((l) => l.startsWith("!"))?.slice(1);
  const name = rel.slice(rel.lastIndexOf("/") + 1);
  const kept = [...rules.filter((l) => !l.startsWith("!") && l !== ""), `!${name}`];
  await Deno.writeTextFile(ignore, kept.join("\n") + "\n");
  console.error(`BENCHMARKS.md updated; bench/results/.gitignore now keeps ${name}`);
  if (previous !== undefined && previous !== name) {
    console.error(`the run it quoted before: git rm bench/results/${previous}`);
  }
}
