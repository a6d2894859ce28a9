/**
 * The two programs as deno.json's tasks run them: their scripts, exactly the permission flags of
 * the `serve` and `client` tasks, and a child environment without FERRY_* variables.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

/** The repository root, with a trailing slash. */
export const REPO: string = fileURLToPath(new URL("../..", import.meta.url));
/** The server's entry point, relative to the repository. */
export const SERVER_SCRIPT = "server/main.ts";
/** The client CLI's entry point, relative to the repository. */
export const CLIENT_SCRIPT = "cli/main.ts";
/** The server's entry point. */
export const SERVER = `${REPO}${SERVER_SCRIPT}`;
/** The client CLI's entry point. */
export const CLIENT = `${REPO}${CLIENT_SCRIPT}`;

/** The `--allow-*`/`--deny-*` (and `--v8-flags`) flags of a deno.json task that runs `script`. */
export function taskFlags(taskName: string, script: string): string[] {
  const config = JSON.parse(Deno.readTextFileSync(`${REPO}deno.json`));
  const task: string = config.tasks[taskName];
  assert.equal(typeof task, "string", `deno.json has no task ${taskName}`);
  const words = task.trim().split(/\s+/);
  assert.deepEqual(words.slice(0, 2), ["deno", "run"], `task ${taskName} is not "deno run …"`);
  const at = words.indexOf(script);
  assert.ok(at > 1, `task ${taskName} does not run ${script}`);
  const flags = words.slice(2, at);
  for (const f of flags) {
    assert.match(f, /^--((allow|deny)-[a-z]+|v8-flags)(=.*)?$/, `unexpected flag ${f}`);
  }
  return flags;
}

/** The flags of `deno task serve`. */
export const SERVER_FLAGS: string[] = taskFlags("serve", SERVER_SCRIPT);
/** The flags of `deno task client`. */
export const CLIENT_FLAGS: string[] = taskFlags("client", CLIENT_SCRIPT);

/** This process's environment without any FERRY_* variable, plus `extra`. */
export function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(Deno.env.toObject())) if (!k.startsWith("FERRY_")) env[k] = v;
  return { ...env, NO_COLOR: "1", ...extra };
}

/** Options of {@linkcode denoRun}. */
export interface DenoRunOptions {
  /** The working directory. */
  cwd: string;
  /** Variables added to {@linkcode childEnv}. */
  env?: Record<string, string>;
  /** Standard input (default: none). */
  stdin?: "piped" | "null";
}

/**
 * `deno run FLAGS SCRIPT ...args` in `cwd`, with a clean environment ({@linkcode childEnv}) and
 * piped output: how the tests start either program.
 */
export function denoRun(
  script: string,
  flags: string[],
  args: string[],
  options: DenoRunOptions,
): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, script, ...args],
    cwd: options.cwd,
    clearEnv: true,
    env: childEnv(options.env),
    stdin: options.stdin ?? "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** Collects a stream's text in the background. */
export function collect(
  stream: ReadableStream<Uint8Array>,
): { text(): string; done: Promise<void> } {
  let text = "";
  const decoder = new TextDecoder();
  const done = (async () => {
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
    text += decoder.decode();
  })();
  return { text: () => text, done };
}
