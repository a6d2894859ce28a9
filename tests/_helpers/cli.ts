/**
 * Running the client CLI as a real subprocess, with exactly the permission flags of the `client`
 * task in deno.json, piped, in the background or in a pseudo-terminal, against an in-process
 * server, and asserting on how it ended.
 *
 * @module
 */

import assert from "node:assert/strict";
import { startServer, type TestServer, TOKENS } from "./server.ts";
import { childEnv, CLIENT, CLIENT_FLAGS, collect, denoRun } from "./tasks.ts";

/** How a CLI run ended. */
export interface Run {
  /** Its exit status. */
  code: number;
  /** Everything it printed on standard output. */
  stdout: string;
  /** Everything it printed on standard error. */
  stderr: string;
  /** Standard output as bytes (for binary data; set by {@linkcode ferry}). */
  stdoutBytes?: Uint8Array;
}

/** Runs the client CLI in `cwd` to completion (killed after 30 s); `stdin` is text or bytes. */
export async function ferry(
  cwd: string,
  args: string[],
  env: Record<string, string> = {},
  options: { stdin?: string | Uint8Array; timeoutMs?: number } = {},
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
      const bytes = typeof options.stdin === "string"
        ? new TextEncoder().encode(options.stdin)
        : options.stdin;
      await writer.write(bytes).catch(() => {});
      await writer.close().catch(() => {});
    }
    const out = await child.output();
    return { ...runOf(out), stdoutBytes: out.stdout };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs `cmd ARGS` in `cwd` with the test environment (`childEnv(env)`), no standard input, and
 * its output collected; it is killed after `timeoutMs` (default 30 s).
 */
export async function runCommand(
  cmd: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<Run> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: options.cwd,
    clearEnv: true,
    env: childEnv(options.env),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30_000);
  try {
    return runOf(await child.output());
  } finally {
    clearTimeout(timer);
  }
}

/** A finished process's status and decoded output. */
function runOf(out: Deno.CommandOutput): Run {
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** A client CLI running in the background, to be interrupted. */
export interface FerryProcess {
  /** The process. */
  child: Deno.ChildProcess;
  /** Everything it printed on standard error so far. */
  stderr(): string;
  /** Resolves with the run once it exited and its output was read. */
  done: Promise<Run>;
}

/** Starts the client CLI in `cwd` without waiting for it (killed after `timeoutMs`). */
export function startFerry(
  cwd: string,
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 60_000,
): FerryProcess {
  const child = denoRun(CLIENT, CLIENT_FLAGS, args, { cwd, env }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const out = collect(child.stdout);
  const err = collect(child.stderr);
  const done = (async () => {
    const status = await child.status;
    clearTimeout(timer);
    await Promise.all([out.done, err.done]);
    return { code: status.code, stdout: out.text(), stderr: err.text() };
  })();
  return { child, stderr: err.text, done };
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

/** An in-process server and a client working directory holding its CA, from {@linkcode cliServer}. */
export interface CliServer extends AsyncDisposable {
  /** The server. */
  ts: TestServer;
  /** The client's working directory (its CA is `ca.pem` there, its config `config/`). */
  cwd: string;
  /** The connection flags (`--host`, `--port`, `--ca`, `--token` admin), to `port` if given. */
  args(port?: number): string[];
  /** Runs the CLI in `cwd` with the connection flags and then `args`. */
  run(
    args: string[],
    options?: { stdin?: string | Uint8Array; env?: Record<string, string> },
  ): Promise<Run>;
}

/**
 * Starts an in-process server and a client working directory holding its CA; disposing of it
 * shuts the server down and removes the directory.
 */
export async function cliServer(): Promise<CliServer> {
  const ts = await startServer();
  const cwd = await Deno.makeTempDir({ prefix: "ferry-cli-client-" });
  await Deno.writeTextFile(`${cwd}/ca.pem`, ts.ca);
  const args = (port = ts.port) => [
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "--ca",
    `${cwd}/ca.pem`,
    "--token",
    TOKENS.admin,
  ];
  return {
    ts,
    cwd,
    args,
    run: (a, o = {}) =>
      ferry(cwd, [...args(), ...a], { FERRY_CONFIG_DIR: `${cwd}/config`, ...o.env }, {
        stdin: o.stdin,
      }),
    async [Symbol.asyncDispose]() {
      await ts.close();
      await Deno.remove(cwd, { recursive: true });
    },
  };
}
