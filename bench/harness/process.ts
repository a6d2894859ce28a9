/**
 * Child processes of the benchmark: one-shot commands ({@linkcode run}), long-running services
 * ({@linkcode createServices}), and stopping a child ({@linkcode stopChild}).
 *
 * Children get this process's environment without `FERRY_*` and `BENCH_*` variables, so a
 * developer's `FERRY_TOKEN` or `FERRY_MAX_CONNECTIONS` cannot change what is measured.
 *
 * @module
 */

import { basename } from "node:path";
import { exists } from "./files.ts";

/** The repository's root directory. */
export const REPO: string = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

/**
 * The `deno` that children run: the one on PATH, by name, as the bench task's `--allow-run=deno`
 * names it (`Deno.execPath()` is its resolved path, which that permission does not cover when
 * PATH holds a link to it).
 */
export const DENO = "deno";

const decoder = new TextDecoder();

/** The message of an error, or the thing thrown as a string. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The environment of every child: ours without FERRY_* and BENCH_*, plus `extra`. */
export function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(Deno.env.toObject())) {
    if (!k.startsWith("FERRY_") && !k.startsWith("BENCH_")) env[k] = v;
  }
  return { ...env, NO_COLOR: "1", ...extra };
}

/** The first `name` in the usual system directories or on PATH, or null. */
export async function which(name: string): Promise<string | null> {
  const path = (Deno.env.get("PATH") ?? "").split(":").filter((p) => p !== "");
  for (const dir of ["/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin", ...path]) {
    if (await exists(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  return null;
}

/**
 * Calls `cleanup` and exits (130) on SIGINT or SIGTERM, so that an interrupted run stops its
 * children; returns the function that removes the handlers.
 */
export function onInterrupt(cleanup: () => Promise<void>): () => void {
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  const handler = () => {
    console.error("interrupted: stopping the run's processes");
    cleanup().finally(() => Deno.exit(130));
  };
  for (const s of signals) Deno.addSignalListener(s, handler);
  return () => {
    for (const s of signals) Deno.removeSignalListener(s, handler);
  };
}

/** Closes a connection or listener, ignoring that it may be closed already. */
export function closeQuietly(resource: { close(): void }): void {
  try {
    resource.close();
  } catch {
    // already closed
  }
}

/** Sends SIGTERM, then SIGKILL after `graceMs`; resolves with the child's exit status. */
export async function stopChild(
  child: Deno.ChildProcess,
  graceMs = 5000,
): Promise<Deno.CommandStatus> {
  const signal = (sig: Deno.Signal) => {
    try {
      child.kill(sig);
    } catch {
      // already gone
    }
  };
  signal("SIGTERM");
  const timer = setTimeout(() => signal("SIGKILL"), graceMs);
  try {
    return await child.status;
  } finally {
    clearTimeout(timer);
  }
}

/** Starts `cmd` in `cwd` with {@linkcode childEnv}, no stdin, and its output piped. */
function spawn(
  cmd: string,
  args: string[],
  cwd: string,
  env?: Record<string, string>,
): Deno.ChildProcess {
  return new Deno.Command(cmd, {
    args,
    cwd,
    clearEnv: true,
    env: childEnv(env),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** What a finished command did. */
export interface RunResult {
  /** Wall time from spawn to exit. */
  ms: number;
  /** Its standard output. */
  stdout: string;
  /** Its standard error. */
  stderr: string;
  /** Its exit code. */
  code: number;
}

/** Options of {@linkcode run}. */
export interface RunOptions {
  /** Working directory (default: the repository). */
  cwd?: string;
  /** Variables added to {@linkcode childEnv}. */
  env?: Record<string, string>;
  /** Return a failed run instead of throwing. */
  allowFail?: boolean;
  /** Called once the child runs; what it returns is called (and awaited) once it has exited. */
  observe?: (pid: number) => () => void | Promise<void>;
}

/** Runs a command to completion; throws with the telling part of its output when it fails. */
export async function run(
  cmd: string,
  args: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const started = performance.now();
  const child = spawn(cmd, args, options.cwd ?? REPO, options.env);
  const observed = options.observe?.(child.pid);
  const out = await child.output();
  const ms = performance.now() - started;
  await observed?.();
  const stdout = decoder.decode(out.stdout);
  const stderr = decoder.decode(out.stderr);
  if (!out.success && !options.allowFail) {
    // Deno's uncaught errors start with "error:"; otherwise the last lines say most.
    const text = (stderr || stdout).trim();
    const line = /^error: .*$/m.exec(text)?.[0] ?? text.slice(-300);
    throw new Error(`${basename(cmd)} ${args[0] ?? ""} exited ${out.code}: ${line}`);
  }
  return { ms, stdout, stderr, code: out.code };
}

/** A long-running process. */
export interface Service {
  /** Name used in messages. */
  name: string;
  /** Its process id. */
  pid: number;
  /** Its last 40 lines of output, for error messages. */
  tail: string[];
  /** True once the process has ended. */
  readonly exited: boolean;
  /** Stops it (SIGTERM, then SIGKILL); once. */
  stop(): Promise<void>;
}

/** Options of {@linkcode Services.start}. */
export interface StartOptions {
  /** How long to wait for the ready line (default 60 s). */
  timeoutMs?: number;
  /** Variables added to {@linkcode childEnv}. */
  env?: Record<string, string>;
}

/** The services of one run, so that all of them are stopped at its end. */
export interface Services {
  /**
   * Starts `cmd` and waits until a line of its output matches `ready` (with `null`, only starts
   * it); its output is drained for as long as it runs.
   */
  start(
    name: string,
    cmd: string,
    args: string[],
    ready: RegExp | null,
    options?: StartOptions,
  ): Promise<{ service: Service; match: RegExpMatchArray | null }>;
  /** Stops every service still running, the last started first. */
  stopAll(): Promise<void>;
}

/** Creates the registry of a run's services. */
export function createServices(): Services {
  const started: Service[] = [];
  return {
    async start(name, cmd, args, ready, options = {}) {
      const timeoutMs = options.timeoutMs ?? 60_000;
      const child = spawn(cmd, args, REPO, options.env);
      const tail: string[] = [];
      let onMatch: (m: RegExpMatchArray) => void = () => {};
      const matched = new Promise<RegExpMatchArray>((resolve) => onMatch = resolve);
      let found = false;
      const drain = async (stream: ReadableStream<Uint8Array>) => {
        let rest = "";
        for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
          const lines = (rest + chunk).split("\n");
          rest = lines.pop() ?? "";
          for (const line of lines) {
            const m = found || ready === null ? null : line.match(ready);
            if (m !== null) {
              found = true;
              onMatch(m);
            }
            tail.push(line);
            if (tail.length > 40) tail.shift();
          }
        }
      };
      drain(child.stdout).catch(() => {});
      drain(child.stderr).catch(() => {});
      let exited = false;
      child.status.then(() => exited = true);
      let stopping: Promise<void> | null = null;
      const service: Service = {
        name,
        pid: child.pid,
        tail,
        get exited() {
          return exited;
        },
        stop() {
          stopping ??= stopChild(child).then(() => {});
          return stopping;
        },
      };
      started.push(service);
      if (ready === null) return { service, match: null };
      let timer: ReturnType<typeof setTimeout> | undefined;
      const match = await Promise.race([
        matched,
        child.status.then((s) => {
          if (found) return new Promise<never>(() => {});
          throw new Error(`${name} exited (${s.code}) before it was ready:\n${tail.join("\n")}`);
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`${name} not ready after ${timeoutMs} ms:\n${tail.join("\n")}`)),
            timeoutMs,
          );
        }),
      ]).finally(() => clearTimeout(timer));
      return { service, match };
    },
    async stopAll() {
      for (const s of started.reverse()) await s.stop().catch(() => {});
      started.length = 0;
    },
  };
}
