/**
 * What committing one small upload costs the server, step by step: the server handles an
 * upload's EOF inside its connection's read loop (server/connection.ts awaits each frame's
 * handler), so on one connection these steps run one file after another, however many uploads
 * the client pipelines.
 *
 * ```sh
 * deno run -A bench/experiments/small_files.ts [--files 1000] [--kib 4] [--dir /tmp] [--parallel 16]
 * ```
 *
 * Each variant writes the same files into a fresh directory: sequentially (as one ferry
 * connection does today) and with `--parallel` commits in flight (what overlapping them would
 * give).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { createHash } from "node:crypto";

interface Steps {
  fsyncFile: boolean;
  fsyncDir: boolean;
}

async function commitOne(dir: string, name: string, data: Uint8Array, steps: Steps) {
  const tmp = `${dir}/.ferry-${name}.partial`;
  const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o644 });
  try {
    let o = 0;
    while (o < data.length) o += await file.write(data.subarray(o));
    createHash("sha256").update(data).digest();
    if (steps.fsyncFile) await file.sync();
  } finally {
    file.close();
  }
  await Deno.rename(tmp, `${dir}/${name}`);
  if (steps.fsyncDir) {
    using d = await Deno.open(dir, { read: true });
    await d.sync();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      files: { type: "string", default: "1000" },
      kib: { type: "string", default: "4" },
      dir: { type: "string", default: "/tmp" },
      parallel: { type: "string", default: "16" },
    },
  });
  const n = Number(values.files);
  const data = new Uint8Array(Number(values.kib) * 1024);
  crypto.getRandomValues(data);
  const parallel = Number(values.parallel);
  const variants: [string, Steps][] = [
    ["write + rename, no fsync", { fsyncFile: false, fsyncDir: false }],
    ["+ fsync of the file", { fsyncFile: true, fsyncDir: false }],
    ["+ fsync of the directory (= the server's commit today)", { fsyncFile: true, fsyncDir: true }],
  ];
  console.log(`| commit of ${n} × ${values.kib} KiB | one after another | ${parallel} at once |`);
  console.log("| --- | --- | --- |");
  for (const [name, steps] of variants) {
    const cells: string[] = [];
    for (const width of [1, parallel]) {
      const dir = await Deno.makeTempDir({ dir: values.dir, prefix: "ferry-small-" });
      await new Deno.Command("sync").output();
      const t = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: width }, async () => {
          while (next < n) {
            const i = next++;
            await commitOne(dir, `f${i}`, data, steps);
          }
        }),
      );
      const ms = performance.now() - t;
      cells.push(`${(n / (ms / 1000)).toFixed(0)} files/s (${(ms / n).toFixed(2)} ms each)`);
      await Deno.remove(dir, { recursive: true });
    }
    console.log(`| ${name} | ${cells.join(" | ")} |`);
  }
}

if (import.meta.main) await main();
