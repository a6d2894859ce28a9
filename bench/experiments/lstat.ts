/**
 * The cost of listing a large directory as server/handlers/list.ts does it (readDir, then an
 * async lstat per entry, 64 at a time) against synchronous lstat in slices.
 *
 * ```sh
 * deno run -A bench/experiments/lstat.ts DIR
 * ```
 *
 * @module
 */

import { timed } from "./common.ts";

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out;
}

async function measure(name: string, body: () => Promise<number>): Promise<void> {
  let n = 0;
  const s = await timed(async () => {
    n = await body();
  });
  console.log(
    `| ${name} | ${n} | ${s.wallMs.toFixed(0)} ms | ${(s.userMs + s.sysMs).toFixed(0)} ms |`,
  );
}

if (import.meta.main) {
  const dir = Deno.args[0];
  console.log("| variant | entries | wall | CPU |\n| --- | --- | --- | --- |");
  await measure("readDir only", async () => (await names(dir)).length);
  await measure("readDir + async lstat, 64 at once (list.ts today)", async () => {
    const all = await names(dir);
    let n = 0;
    for (let i = 0; i < all.length; i += 64) {
      const infos = await Promise.allSettled(
        all.slice(i, i + 64).map((x) => Deno.lstat(`${dir}/${x}`)),
      );
      n += infos.filter((r) => r.status === "fulfilled").length;
    }
    return n;
  });
  await measure("readDir + lstatSync, 1,000 per slice, yielding between slices", async () => {
    const all = await names(dir);
    let n = 0;
    for (let i = 0; i < all.length; i += 1000) {
      for (const x of all.slice(i, i + 1000)) {
        try {
          Deno.lstatSync(`${dir}/${x}`);
          n++;
        } catch {
          // removed meanwhile
        }
      }
      await new Promise((r) => setTimeout(r, 0));
    }
    return n;
  });
}
