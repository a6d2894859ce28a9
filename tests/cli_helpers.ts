/**
 * Helpers for tests that run the two command-line programs as real subprocesses, with exactly
 * the permission flags of the `serve` and `client` tasks in deno.json.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { startServer, type TestServer, TOKENS } from "./helpers.ts";

export const REPO = fileURLToPath(new URL("..", import.meta.url));
export const SERVER_SCRIPT = "server/main.ts";
export const CLIENT_SCRIPT = "cli/main.ts";
export const SERVER = `${REPO}${SERVER_SCRIPT}`;
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

export const SERVER_FLAGS = taskFlags("serve", SERVER_SCRIPT);
export const CLIENT_FLAGS = taskFlags("client", CLIENT_SCRIPT);

/** This process's environment without any FERRY_* variable, plus `extra`. */
export function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(Deno.env.toObject())) if (!k.startsWith("FERRY_")) env[k] = v;
  return { ...env, NO_COLOR: "1", ...extra };
}

/** A port nothing listens on right now. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

export async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
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

/** Resolves `promise`, or rejects after `ms` (the timer is always cleared). */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A server subprocess. */
export interface ServerProcess {
  child: Deno.ChildProcess;
  port: number;
  stderr(): string;
  /** Resolves with its status once it exited and its output was read. */
  exited: Promise<Deno.CommandStatus>;
  /** Sends SIGKILL when still running; waits for the exit. Safe to call more than once. */
  stop(): Promise<void>;
}

/**
 * Starts `server/main.ts --host 127.0.0.1 --port P` in `cwd` and waits until it listens; `port`
 * restarts a server on the port an earlier one had (default: a free one).
 */
export async function spawnServer(
  cwd: string,
  extra: string[] = [],
  port: number = freePort(),
): Promise<ServerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...SERVER_FLAGS, SERVER, "--host", "127.0.0.1", "--port", String(port), ...extra],
    cwd,
    clearEnv: true,
    env: childEnv(),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = collect(child.stdout);
  const err = collect(child.stderr);
  let running = true;
  const exited = (async () => {
    const status = await child.status;
    running = false;
    await Promise.all([out.done, err.done]);
    return status;
  })();
  const proc: ServerProcess = {
    child,
    port,
    stderr: err.text,
    exited,
    async stop() {
      if (running) {
        try {
          child.kill("SIGKILL");
        } catch {
          // exited meanwhile
        }
      }
      await exited;
    },
  };
  const deadline = Date.now() + 30_000;
  while (!/listening on 127\.0\.0\.1:\d+/.test(err.text())) {
    if (!running || Date.now() > deadline) {
      await proc.stop();
      throw new Error(`the server did not start listening; stderr:\n${err.text()}`);
    }
    await sleep(20);
  }
  return proc;
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** Standard output as bytes (for binary data). */
  stdoutBytes?: Uint8Array;
}

/** Runs the client CLI in `cwd` to completion (killed after 30 s). */
export async function ferry(
  cwd: string,
  args: string[],
  env: Record<string, string> = {},
  options: { stdin?: string | Uint8Array; timeoutMs?: number } = {},
): Promise<Run> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...CLIENT_FLAGS, CLIENT, ...args],
    cwd,
    clearEnv: true,
    env: childEnv(env),
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
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
    const decoder = new TextDecoder();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
      stdoutBytes: out.stdout,
    };
  } finally {
    clearTimeout(timer);
  }
}

/** A client CLI running in the background, to be interrupted. */
export interface FerryProcess {
  child: Deno.ChildProcess;
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
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...CLIENT_FLAGS, CLIENT, ...args],
    cwd,
    clearEnv: true,
    env: childEnv(env),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const out = collect(child.stdout);
  const err = collect(child.stderr);
  const done = (async () => {
    const status = await child.status;
    clearTimeout(timer);
    await Promise.all([out.done, err.done]);
    return { code: status.code, stdout: out.text(), stderr: err.text() };
  })();
  return { child, done };
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
    const decoder = new TextDecoder();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

export function describe(run: Run): string {
  return `exit ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`;
}

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

export async function mode(path: string): Promise<number> {
  return (await Deno.stat(path)).mode! & 0o777;
}

/** A temp directory removed (with everything in it) when disposed. */
export async function tempDir(prefix: string): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** Options of {@linkcode relay}. */
export interface RelayOptions {
  /** Server-to-client bytes per second (default: unlimited). */
  bytesPerSecond?: number;
  /** Cut the first connection after this many server-to-client bytes. */
  cutDownAfter?: number;
  /** Cut the first connection after this many client-to-server bytes. */
  cutUpAfter?: number;
  /** How many connections (the first ones) are cut (default 1). */
  cutConnections?: number;
}

/**
 * A TCP relay on 127.0.0.1 to `targetPort` that can throttle the server's bytes and cut the
 * first connection part-way (to interrupt a transfer). Counts the connections it relayed.
 */
export function relay(
  targetPort: number,
  options: RelayOptions = {},
): { port: number; connections(): number } & AsyncDisposable {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const pumps: Promise<void>[] = [];
  let count = 0;

  function closeAll(...cs: Deno.Conn[]) {
    for (const c of cs) {
      try {
        c.close();
      } catch {
        // already closed
      }
    }
  }

  async function pump(
    from: Deno.Conn,
    to: Deno.Conn,
    cutAfter: number,
    rate: number | undefined,
  ): Promise<void> {
    const buf = new Uint8Array(16 * 1024);
    let sent = 0;
    const started = performance.now();
    try {
      while (true) {
        const n = await from.read(buf.subarray(0, Math.min(buf.length, cutAfter - sent)));
        if (n === null) break;
        for (let o = 0; o < n;) o += await to.write(buf.subarray(o, n));
        sent += n;
        if (sent >= cutAfter) {
          closeAll(from, to);
          return;
        }
        if (rate !== undefined) {
          const due = started + (sent / rate) * 1000;
          const wait = due - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
      }
      await to.closeWrite();
    } catch {
      closeAll(from, to);
    }
  }

  const accepting = (async () => {
    try {
      for await (const client of listener) {
        conns.add(client);
        const first = count++ < (options.cutConnections ?? 1);
        try {
          const upstream = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
          conns.add(upstream);
          pumps.push(
            pump(
              client,
              upstream,
              first ? options.cutUpAfter ?? Infinity : Infinity,
              undefined,
            ),
            pump(
              upstream,
              client,
              first ? options.cutDownAfter ?? Infinity : Infinity,
              options.bytesPerSecond,
            ),
          );
        } catch {
          client.close();
        }
      }
    } catch {
      // listener closed
    }
  })();

  return {
    port: (listener.addr as Deno.NetAddr).port,
    connections: () => count,
    async [Symbol.asyncDispose]() {
      listener.close();
      await accepting;
      closeAll(...conns);
      await Promise.allSettled(pumps);
    },
  };
}

/** Writes `text` to a new file in `dir` and returns its path. */
export async function writeTemp(dir: string, name: string, text: string): Promise<string> {
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(path, text);
  return path;
}

/** An in-process server and a client working directory holding its CA. */
export async function cliServer(): Promise<
  {
    ts: TestServer;
    cwd: string;
    args: (port?: number) => string[];
    run(
      args: string[],
      options?: { stdin?: string | Uint8Array; env?: Record<string, string> },
    ): Promise<Run>;
  } & AsyncDisposable
> {
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

/** Every path below `dir` (relative, `/`-separated, directories with a trailing `/`), sorted. */
export async function tree(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(`${dir}/${prefix}`)) {
    const rel = `${prefix}${e.name}`;
    if (e.isDirectory) out.push(`${rel}/`, ...(await tree(dir, `${rel}/`)));
    else out.push(rel);
  }
  return out.sort();
}

/** Asserts that two directory trees hold the same paths and file contents. */
export async function assertSameTree(a: string, b: string): Promise<void> {
  const ta = await tree(a);
  assert.deepEqual(await tree(b), ta);
  for (const p of ta.filter((p) => !p.endsWith("/"))) {
    assert.deepEqual(await Deno.readFile(`${b}/${p}`), await Deno.readFile(`${a}/${p}`), p);
  }
}

/**
 * A TCP relay on 127.0.0.1 to `targetPort` that forwards the client's bytes freely but only the
 * first `limit` bytes of the server's, then stops reading from the server until disposed (with
 * `direction` "up": the other way round, the client's bytes are held).
 */
export function stallingRelay(
  targetPort: number,
  limit: number,
  direction: "down" | "up" = "down",
): { port: number } & AsyncDisposable {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const pumps: Promise<void>[] = [];
  let release!: () => void;
  const released = new Promise<void>((r) => release = r);

  async function pump(from: Deno.Conn, to: Deno.Conn, max: number): Promise<void> {
    const buf = new Uint8Array(64 * 1024);
    let sent = 0;
    try {
      while (true) {
        if (sent >= max) {
          await released;
          return;
        }
        const n = await from.read(buf.subarray(0, Math.min(buf.length, max - sent)));
        if (n === null) break;
        for (let o = 0; o < n;) o += await to.write(buf.subarray(o, n));
        sent += n;
      }
      await to.closeWrite();
    } catch {
      // one side went away; disposal closes the rest
    }
  }

  const accepting = (async () => {
    try {
      for await (const client of listener) {
        conns.add(client);
        try {
          const upstream = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
          conns.add(upstream);
          pumps.push(
            pump(client, upstream, direction === "up" ? limit : Infinity),
            pump(upstream, client, direction === "down" ? limit : Infinity),
          );
        } catch {
          client.close();
        }
      }
    } catch {
      // listener closed
    }
  })();

  return {
    port: (listener.addr as Deno.NetAddr).port,
    async [Symbol.asyncDispose]() {
      listener.close();
      await accepting;
      release();
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // already closed
        }
      }
      await Promise.allSettled(pumps);
    },
  };
}
