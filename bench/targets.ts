/**
 * The targets of issue 12, judged against a run's results.
 *
 * @module
 */

import { maxOf, medianOf, ratio } from "./report.ts";
import type { Results, Tool } from "./results.ts";

/** One target and its verdict. */
export interface Target {
  /** What is measured. */
  what: string;
  /** The goal, as shown. */
  goal: string;
  /** The measured value, or null when it was not measured. */
  measured: number | null;
  /** The measured value, as shown. */
  shown: string;
  /** Whether the goal is met; null when not measured. */
  met: boolean | null;
  /** How far from the goal, when missed. */
  gap?: string;
  /** Why it was not measured. */
  why?: string;
}

const times = (v: number) => `${v.toFixed(2)}×`;
const mib = (v: number) => `${v.toFixed(0)} MiB`;

/** A target that `measured` must reach (`≥ goal`) or stay under (`< goal`). */
function judge(
  what: string,
  kind: "≥" | "≤" | "<" | ">",
  goal: number,
  measured: number | null,
  show: (v: number) => string,
  why?: string,
): Target {
  const goalShown = `${kind} ${show(goal)}`;
  if (measured === null) {
    return { what, goal: goalShown, measured, shown: "not measured", met: null, why };
  }
  const met = kind === "≥"
    ? measured >= goal
    : kind === ">"
    ? measured > goal
    : kind === "≤"
    ? measured <= goal
    : measured < goal;
  let gap: string | undefined;
  if (!met) {
    gap = kind === "≥" || kind === ">"
      ? `${((1 - measured / goal) * 100).toFixed(0)}% short (needs ${
        (goal / measured).toFixed(2)
      }×)`
      : `${show(measured - goal)} over`;
  }
  return { what, goal: goalShown, measured, shown: show(measured), met, gap };
}

/** The issue-12 targets, in the order of the issue. */
export function evaluateTargets(results: Results): Target[] {
  const out: Target[] = [];
  const versus = (id: string, tool: Tool, goal: number, label = tool as string) => {
    const c = results.byId(id);
    if (c === undefined) return;
    const why = c.skipped ?? c.errors.ferry ?? c.errors[tool];
    out.push(judge(`${c.title}: ferry/${label}`, "≥", goal, ratio(results, c, tool), times, why));
  };
  for (const id of ["big-get", "big-put"]) {
    versus(id, "scp", 1.2);
    versus(id, "sftp", 1.5);
    versus(id, "ceiling", 0.9, "ceiling (Deno TLS)");
  }
  for (const id of ["big-get", "big-put"]) {
    const c = results.byId(id);
    if (c === undefined) continue;
    const sums = c.cpu.ferry?.map((x) => x.client + x.server);
    out.push(
      judge(
        `${c.title}: ferry CPU per GiB, sender + receiver`,
        "≤",
        2.0,
        medianOf(sums),
        (v) => `${v.toFixed(2)} s`,
      ),
    );
  }
  for (const id of ["many-put-r", "many-get-r"]) {
    versus(id, "sftp", 3, "sftp -b");
    versus(id, "scp", 2, "scp -r");
  }
  const ls = results.byId("ls");
  if (ls !== undefined) {
    versus("ls", "sftp", 1.5, "sftp -b ls (as speed)");
    out.push(
      judge(`${ls.title}: server peak RSS`, "<", 100, maxOf(ls.figures.serverPeakRssMiB), mib),
    );
    out.push(
      judge(`${ls.title}: client peak RSS`, "<", 100, maxOf(ls.figures.clientPeakRssMiB), mib),
    );
  }
  const cl = results.byId("clients");
  if (cl !== undefined) {
    out.push(
      judge(
        `${cl.title}: server CPU`,
        ">",
        1,
        medianOf(cl.figures.serverCpuCores),
        (v) => `${v.toFixed(2)} cores`,
      ),
    );
    const agg = medianOf(cl.samples.ferry);
    const single = medianOf(cl.figures.singleStreamMBps);
    out.push(
      judge(
        `${cl.title}: aggregate / single stream`,
        "≥",
        1.5,
        agg !== null && single !== null ? agg / single : null,
        times,
      ),
    );
  }
  for (const id of ["big-get-relay", "big-put-relay"]) {
    versus(id, "scp", 6);
    versus(id, "sftp", 6);
  }
  // Where scp and sftp put fewer files through the relay, the row with those files.
  const relayFiles = results.byId("many-put-r-relay-few")
    ? "many-put-r-relay-few"
    : "many-put-r-relay";
  versus(relayFiles, "scp", 50, "scp -r");
  versus(relayFiles, "sftp", 50, "sftp -b");
  if (cl !== undefined) {
    out.push(
      judge(`${cl.title}: server peak RSS`, "<", 150, maxOf(cl.figures.serverPeakRssMiB), mib),
    );
  }
  return out;
}
