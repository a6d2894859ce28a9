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
 * `denort` binary where that download is not possible.
 *
 * @module
 */

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
      "--v8-flags=--max-semi-space-size=2",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env=FERRY_*",
      // The socket reaper (server/socket_reaper.ts) calls shutdown(2) through libc.
      "--allow-ffi",
    ],
  },
  {
    name: "ferry",
    entry: "cli/main.ts",
    // The same as the `client` task in deno.json (tests/client_units_test.ts checks it).
    permissions: [
      "--allow-net",
      "--allow-env=FERRY_TOKEN,FERRY_CONFIG_DIR,XDG_CONFIG_HOME,HOME,USERPROFILE,APPDATA",
      "--allow-read",
      "--allow-write",
    ],
  },
] as const;

/** Compiles every binary for `target` (or the host when undefined) into `outDir`. */
export async function compile(outDir: string, target?: string): Promise<string[]> {
  const outputs: string[] = [];
  for (const bin of BINARIES) {
    const dir = target ? `${outDir}/${target}` : outDir;
    const output = `${dir}/${bin.name}${target?.includes("windows") ? ".exe" : ""}`;
    const args = [
      "compile",
      ...bin.permissions,
      "--no-check",
      ...(target ? ["--target", target] : []),
      "--output",
      output,
      bin.entry,
    ];
    const { code } = await new Deno.Command(Deno.execPath(), {
      args,
      stdout: "inherit",
      stderr: "inherit",
    })
      .output();
    if (code !== 0) {
      throw new Error(`deno compile of ${bin.entry}${target ? ` for ${target}` : ""} failed`);
    }
    outputs.push(output);
  }
  return outputs;
}

if (import.meta.main) {
  let targets: (string | undefined)[] = [undefined];
  try {
    if (Deno.args.length > 0) targets = resolveTargets(Deno.args);
  } catch (err) {
    console.error(`compile: ${(err as Error).message}`);
    Deno.exit(2);
  }
  for (const target of targets) {
    for (const output of await compile("dist", target)) console.log(`built ${output}`);
  }
}
