/**
 * Builds the standalone executables `dist/ferry-server` and `dist/ferry` with `deno compile`,
 * with the permissions each needs baked in.
 *
 * ```sh
 * deno task compile                                   # this machine's platform
 * deno task compile x86_64-pc-windows-msvc ...        # other targets: dist/<target>/...
 * ```
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

/** The executables and the permissions baked into each. */
export const BINARIES = [
  {
    name: "ferry-server",
    entry: "server/main.ts",
    // The data root and certs directory are chosen at run time, so reads and writes cannot be
    // narrowed to fixed paths here; the network and environment are.
    permissions: [
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env=FERRY_TOKEN,FERRY_ROOT,FERRY_CERTS",
    ],
  },
  {
    name: "ferry",
    entry: "client/main.ts",
    permissions: ["--allow-net", "--allow-read", "--allow-write", "--allow-env=FERRY_TOKEN"],
  },
] as const;

/** Compiles every binary for `target` (or the host when undefined) into `outDir`. */
export async function compile(outDir: string, target?: string): Promise<string[]> {
  const outputs: string[] = [];
  for (const bin of BINARIES) {
    const dir = target ? `${outDir}/${target}` : outDir;
    const output = `${dir}/${bin.name}`;
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
  const targets = Deno.args.length > 0 ? Deno.args : [undefined];
  for (const target of targets) {
    for (const output of await compile("dist", target)) console.log(`built ${output}`);
  }
}
