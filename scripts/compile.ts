/**
 * Builds the standalone executables `dist/ferry-server` and `dist/ferry` with `deno compile`,
 * with the permissions each needs baked in.
 *
 * ```sh
 * deno task compile                         # this machine: dist/ferry-server, dist/ferry
 * deno task compile linux-arm64 windows-x64 # other targets: dist/<target triple>/...
 * deno task compile all                     # every target of the release
 * ```
 *
 * Targets are Rust triples (`x86_64-unknown-linux-gnu`, …) or the short names `linux-x64`,
 * `linux-arm64`, `macos-x64`, `macos-arm64` and `windows-x64`. Windows binaries get `.exe`.
 *
 * `deno compile` downloads its runtime (`denort`) for each target; set `DENORT_BIN` to a local
 * `denort` binary where that download is not possible. A failure prints one line
 * (`compile: …`) and exits 1; an unknown target exits 2.
 *
 * @module
 */

import { LIBC_CANDIDATES } from "../server/storage/beneath/support.ts";

/** Targets `deno compile` supports, for the release workflow. */
export const ALL_TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
] as const;

/** Short names for {@linkcode ALL_TARGETS}. */
export const TARGET_ALIASES: Readonly<Record<string, (typeof ALL_TARGETS)[number]>> = {
  "linux-x64": "x86_64-unknown-linux-gnu",
  "linux-arm64": "aarch64-unknown-linux-gnu",
  "macos-x64": "x86_64-apple-darwin",
  "macos-arm64": "aarch64-apple-darwin",
  "windows-x64": "x86_64-pc-windows-msvc",
};

/** Resolves target arguments (triples, short names or `all`) to triples. */
export function resolveTargets(args: readonly string[]): string[] {
  const out: string[] = [];
  for (const arg of args) {
    if (arg === "all") out.push(...ALL_TARGETS);
    else if (Object.hasOwn(TARGET_ALIASES, arg)) out.push(TARGET_ALIASES[arg]);
    else if ((ALL_TARGETS as readonly string[]).includes(arg)) out.push(arg);
    else {
      throw new Error(
        `unknown target ${JSON.stringify(arg)}; use all, ${
          Object.keys(TARGET_ALIASES).join(", ")
        } or ${ALL_TARGETS.join(", ")}`,
      );
    }
  }
  return [...new Set(out)];
}

/** The executables and the permissions baked into each. */
export const BINARIES = [
  {
    name: "ferry-server",
    entry: "server/main.ts",
    // The data root and certs directory are chosen at run time, so reads and writes cannot be
    // narrowed to fixed paths here; the network and environment are.
    permissions: [
      // A small young generation: many connections' short-lived garbage stays small (the
      // server's peak RSS with 50 downloads or a 100,000-entry listing), at no cost in speed.
      // The same flag is in the `serve` task.
      "--v8-flags=--max-semi-space-size=2,--optimize-for-size",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env=FERRY_*",
      // The race-free storage (openat2...) and the socket reaper (server/socket_reaper.ts,
      // shutdown(2)) call the C library; FFI only for its usual paths. The same list is in the
      // `serve` task (LIBC_CANDIDATES of server/storage/beneath/).
      `--allow-ffi=${LIBC_CANDIDATES.join(",")}`,
      // The generated certificate covers this machine's host name and addresses.
      "--allow-sys=hostname,networkInterfaces",
    ],
    // Modules the server imports at run time, which deno compile cannot see by itself: the S3
    // storage (only when `--storage s3` is chosen) and the module each worker isolate runs
    // (`--workers N`, server/workers/coordinator.ts).
    include: ["server/storage/s3/settings.ts", "server/workers/worker_main.ts"],
  },
  {
    name: "ferry",
    entry: "cli/main.ts",
    // The same as the `client` task in deno.json (tests/cli/client_units_test.ts checks it).
    permissions: [
      "--allow-net",
      "--allow-env=FERRY_TOKEN,FERRY_CONFIG_DIR,XDG_CONFIG_HOME,HOME,USERPROFILE,APPDATA",
      "--allow-read",
      "--allow-write",
    ],
    // Workers are not followed by `deno compile`: `get --streams` starts this one.
    include: ["client/stream_worker.ts"],
  },
] as const;

/** A failed `deno compile`, said in one line. */
export class CompileError extends Error {
  /** Creates the error; `message` is the one line to print. */
  constructor(message: string) {
    super(message);
    this.name = "CompileError";
  }
}

/** The host `deno compile` fetches its runtime from. */
const RUNTIME_HOST = "dl.deno.land";

/**
 * The one line a failed `deno compile` of `entry` amounts to, from what it printed: a runtime
 * that could not be downloaded says so and names `DENORT_BIN`; anything else gives deno's own
 * first error line.
 */
export function compileFailure(entry: string, target: string | undefined, output: string): string {
  // deno colours its output; the message is read without the escapes.
  // deno-lint-ignore no-control-regex
  const text = output.replace(/\x1b\[[0-9;]*m/g, "").split(/^Stack backtrace:/m)[0];
  const what = `deno compile of ${entry}${target ? ` for ${target}` : ""}`;
  const runtimeUrl = text.match(/https:\/\/dl\.deno\.land\/\S*denort\S*?\.zip/)?.[0];
  if (runtimeUrl !== undefined || /Setting up base binary/.test(text)) {
    // The innermost cause is the last of deno's numbered "Caused by" lines.
    const causes = [...text.matchAll(/^\s*\d+: (.+)$/gm)].map((m) => m[1].trim());
    const cause = causes.at(-1) ?? "no answer";
    return `${what} failed: it could not download its runtime (denort) from ${RUNTIME_HOST} ` +
      `(${cause}); set DENORT_BIN to a local denort binary of this Deno version`;
  }
  const first = text.split("\n").map((l) => l.trim()).find((l) => /^error\b/i.test(l));
  return `${what} failed: ${first?.replace(/^error:\s*/i, "") ?? "see deno compile's output"}`;
}

/** Compiles every binary for `target` (or the host when undefined) into `outDir`. */
export async function compile(outDir: string, target?: string): Promise<string[]> {
  const outputs: string[] = [];
  for (const bin of BINARIES) {
    const dir = target ? `${outDir}/${target}` : outDir;
    const output = `${dir}/${bin.name}${target?.includes("windows") ? ".exe" : ""}`;
    const args = [
      "compile",
      ...bin.permissions,
      // Modules loaded at run time, and Deno's unstable APIs deno.json enables (`reusePort` of
      // the worker isolates' listeners).
      ...bin.include.flatMap((file) => ["--include", file]),
      "--unstable-net",
      "--no-check",
      ...(target ? ["--target", target] : []),
      "--output",
      output,
      bin.entry,
    ];
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    if (code !== 0) {
      throw new CompileError(compileFailure(bin.entry, target, new TextDecoder().decode(stderr)));
    }
    outputs.push(output);
  }
  return outputs;
}

if (import.meta.main) {
  try {
    const targets: (string | undefined)[] = Deno.args.length > 0
      ? resolveTargets(Deno.args)
      : [undefined];
    for (const target of targets) {
      for (const output of await compile("dist", target)) console.log(`built ${output}`);
    }
  } catch (err) {
    // One line, never a stack trace: an unknown target is a usage error (2), the rest 1.
    console.error(`compile: ${err instanceof Error ? err.message : String(err)}`);
    Deno.exit(err instanceof CompileError ? 1 : 2);
  }
}
