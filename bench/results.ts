/**
 * What a run measured: one {@linkcode Case} per row of the table, filled by the cases in
 * `cases/` and read by `report.ts` and `targets.ts`.
 *
 * @module
 */

/** The tools compared, in column order ("s3": the S3 API used directly). */
export const TOOLS = ["ferry", "scp", "sftp", "ceiling", "ceiling+fsync", "s3"] as const;

/** One compared tool. */
export type Tool = typeof TOOLS[number];

/** Unit of a case's values: rates (higher is better) or seconds (lower is better). */
export type Unit = "MB/s" | "files/s" | "s";

/** CPU seconds (user + system) per GiB moved, by side. */
export interface CpuPerGiB {
  /** The client side: the process a user runs, with its children (scp's ssh). */
  client: number;
  /** The server side: the serving process, with the children it forked (sshd's sessions). */
  server: number;
}

/** One row of the table. */
export interface Case {
  /** Stable id, used by targets and ratios. */
  id: string;
  /** The row's title. */
  title: string;
  /** Unit of the samples. */
  unit: Unit;
  /** The samples of each tool, one per repetition. */
  samples: Partial<Record<Tool, number[]>>;
  /** CPU per GiB of each tool's samples (large transfers only), one per repetition. */
  cpu: Partial<Record<Tool, CpuPerGiB[]>>;
  /** The first error of a tool, after which it is not run again in this case. */
  errors: Partial<Record<Tool, string>>;
  /** Other measured quantities by name, one value per repetition (e.g. `serverPeakRssMiB`). */
  figures: Record<string, number[]>;
  /** Notes shown in the table. */
  notes: string[];
  /** Why the case did not run, when it did not. */
  skipped?: string;
  /** The case whose scp/sftp/ceiling samples this one's ratios use (a variant of it). */
  compareWith?: string;
}

/** Every case of a run, in order, and what was skipped. */
export interface Results {
  /** The cases, in table order. */
  readonly cases: Case[];
  /** Parts of the run that were skipped, with the reason. */
  readonly skipped: string[];
  /** Adds a case. */
  add(id: string, title: string, unit: Unit): Case;
  /** The case with this id. */
  byId(id: string): Case | undefined;
}

/** An empty record of a run. */
export function createResults(): Results {
  const cases: Case[] = [];
  return {
    cases,
    skipped: [],
    add(id, title, unit) {
      if (cases.some((c) => c.id === id)) throw new Error(`case ${id} added twice`);
      const c: Case = { id, title, unit, samples: {}, cpu: {}, errors: {}, figures: {}, notes: [] };
      cases.push(c);
      return c;
    },
    byId(id) {
      return cases.find((c) => c.id === id);
    },
  };
}

/** Adds one value to a named figure of a case. */
export function addFigure(c: Case, name: string, value: number): void {
  (c.figures[name] ??= []).push(value);
}
