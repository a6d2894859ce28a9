/**
 * Running the client CLI as a real subprocess, with exactly the permission flags of the `client`
 * task in deno.json, piped or in a pseudo-terminal, and asserting on how it ended.
 *
 * @module
 */

import assert from "node:assert/strict";
import { childEnv, CLIENT, CLIENT_FLAGS, denoRun } from "./tasks.ts";

/** How a CLI run ended. */
export interface Run {
  /** Its exit status. */
  code: number;
  /** Everything it printed on standard output. */
  stdout: string;
  /** Everything it printed on standard error. */
  stderr: string;
}

/** Runs the client CLI in `cwd` to completion (killed after 30 s). */
export async function ferry(
  cwd: string,
  args: string[],
  env: Record<string, string> = {},
  options: { stdin?: string; timeoutMs?: number } = {},
): Promise<Run> {
  const child = denoRun(CLIENT, CLIENT_FLAGS, args, {
    cwd,
    env,
    stdin: options.stdin === undefined ? "null" : "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30_000);
  try {
    if (options.stdin !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(options.stdin)).catch(() => {});
      await writer.close().catch(() => {});
    }
    const out = await child.output();
    return runOf(out);
  } finally {
    clearTimeout(timer);
  }
}

/** A finished process's status and decoded output. */
function runOf(out: Deno.CommandOutput): Run {
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** Quotes a word for `sh`. */
function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Whether `script` (util-linux) is there to give the client a pseudo-terminal. */
export function hasScript(): boolean {
  try {
    return new Deno.Command("script", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/**
 * Runs the client CLI in a pseudo-terminal (`script -qec CMD /dev/null`), so standard input,
 * output and error are all a terminal; `stdin` is typed into it. Returns everything the
 * terminal showed (stdout and stderr mixed) as `stdout`.
 */
export async function ferryTty(
  cwd: string,
  args: string[],
  env: Record<string, string> = {},
  stdin = "",
): Promise<Run> {
  const command = [Deno.execPath(), "run", ...CLIENT_FLAGS, CLIENT, ...args].map(shellQuote)
    .join(" ");
  const child = new Deno.Command("script", {
    args: ["-qec", command, "/dev/null"],
    cwd,
    clearEnv: true,
    env: childEnv({ TERM: "xterm", COLUMNS: "120", LINES: "40", ...env }),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  try {
    const writer = child.stdin.getWriter();
    if (stdin !== "") await writer.write(new TextEncoder().encode(stdin)).catch(() => {});
    const out = await child.output();
    await writer.close().catch(() => {});
    return runOf(out);
  } finally {
    clearTimeout(timer);
  }
}

/** A run's status and output, for assertion messages. */
export function describe(run: Run): string {
  return `exit ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`;
}

/** Asserts that a run exited 0. */
export function assertOk(run: Run, what: string): void {
  assert.equal(run.code, 0, `${what}: ${describe(run)}`);
}

/** Exit status `code`, and exactly one line `ferry: … [ERROR]` on standard error. */
export function assertFails(run: Run, code: number, error: string, what: string): void {
  assert.equal(run.code, code, `${what}: ${describe(run)}`);
  const lines = run.stderr.trimEnd().split("\n");
  assert.equal(
    lines.length,
    1,
    `${what}: expected one line on stderr, got ${JSON.stringify(run.stderr)}`,
  );
  assert.match(lines[0], new RegExp(`^ferry: .+ \\[(?:${error})\\]$`), what);
}
