/**
 * The cost of the race-free storage primitives (server/storage/beneath/) against Deno's own
 * path-based calls: per-call latency of open and stat, 1 GiB read and write throughput in the
 * chunk sizes the server uses, 1,000 × 4 KiB uploads (temp file, write, rename), and how long
 * removing a 1 GiB file holds the event loop.
 *
 * ```sh
 * deno run --allow-ffi --allow-read --allow-write bench/experiments/beneath.ts [DIR]
 * ```
 *
 * DIR (default: a new temporary directory) must have room for 2 GiB. Prints Markdown tables.
 *
 * @module
 */

import process from "node:process";
import { BeneathRoot, checkSupport } from "../../server/storage/beneath/mod.ts";

const MiB = 1024 * 1024;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Microseconds per call of `body` over `n` calls: wall clock and CPU (user + system). */
async function perCall(n: number, body: () => unknown): Promise<{ wall: number; cpu: number }> {
  const cpu = process.cpuUsage();
  const t = performance.now();
  for (let i = 0; i < n; i++) await body();
  const used = process.cpuUsage(cpu);
  return { wall: ((performance.now() - t) * 1000) / n, cpu: (used.user + used.system) / n };
}

async function latency(root: BeneathRoot, dir: string): Promise<void> {
  const n = 2000;
  const rounds = 9;
  const rows: [string, () => unknown, () => unknown][] = [
    ["open + close a 4 KiB file (d/e/f)", async () => {
      await root.openFile(["d", "e", "f"]).close();
    }, async () => {
      (await Deno.open(`${dir}/d/e/f`, { read: true })).close();
    }],
    ["stat d/e/f", () => root.stat(["d", "e", "f"]), () => Deno.stat(`${dir}/d/e/f`)],
    ["lstat d/e/f", () => root.lstat(["d", "e", "f"]), () => Deno.lstat(`${dir}/d/e/f`)],
    [
      "stat through a link (l/e/f, l -> d)",
      () => root.stat(["l", "e", "f"]),
      () => Deno.stat(`${dir}/l/e/f`),
    ],
    ["stat a missing name", () => {
      try {
        root.stat(["d", "e", "missing"]);
      } catch { /* NOT_FOUND */ }
    }, async () => {
      try {
        await Deno.stat(`${dir}/d/e/missing`);
      } catch { /* NotFound */ }
    }],
  ];
  console.log(
    `\n| per call, CPU (wall), median of ${rounds} × ${n} | beneath (sync FFI) | Deno async | ` +
      "Deno sync |",
  );
  console.log("| --- | --- | --- | --- |");
  const syncTwin: Record<string, () => unknown> = {
    "open + close a 4 KiB file (d/e/f)": () => Deno.openSync(`${dir}/d/e/f`).close(),
    "stat d/e/f": () => Deno.statSync(`${dir}/d/e/f`),
    "lstat d/e/f": () => Deno.lstatSync(`${dir}/d/e/f`),
    "stat through a link (l/e/f, l -> d)": () => Deno.statSync(`${dir}/l/e/f`),
    "stat a missing name": () => {
      try {
        Deno.statSync(`${dir}/d/e/missing`);
      } catch { /* NotFound */ }
    },
  };
  for (const [name, mine, theirs] of rows) {
    // Interleaved rounds, so that a burst of load on this shared machine hits all three.
    const wall: number[][] = [[], [], []];
    const cpu: number[][] = [[], [], []];
    for (let round = 0; round < rounds; round++) {
      const variants = [mine, theirs, syncTwin[name]];
      for (let v = 0; v < variants.length; v++) {
        const m = await perCall(n, variants[v]);
        wall[v].push(m.wall);
        cpu[v].push(m.cpu);
      }
    }
    const cell = (v: number) =>
      `${median(cpu[v]).toFixed(1)} µs (${median(wall[v]).toFixed(1)} µs)`;
    console.log(`| ${name} | ${cell(0)} | ${cell(1)} | ${cell(2)} |`);
  }
}

async function throughput(root: BeneathRoot, dir: string): Promise<void> {
  const size = 1024 * MiB;
  const rounds = 5;
  const readChunk = 256 * 1024;
  const writeChunk = MiB;
  const data = new Uint8Array(writeChunk).map((_, i) => i & 255);
  const buf = new Uint8Array(readChunk);
  const rate = (ms: number) => `${(size / MiB / (ms / 1000)).toFixed(0)} MiB/s`;
  const variants: Record<string, () => Promise<void>> = {
    "write beneath": async () => {
      const { dir: d, name } = root.openParent(["big-beneath"]);
      try {
        const f = d.createFile(name);
        for (let done = 0; done < size; done += writeChunk) await f.write(data);
        await f.close();
      } finally {
        d.close();
      }
    },
    "write deno": async () => {
      const f = await Deno.open(`${dir}/big-deno`, { write: true, createNew: true });
      for (let done = 0; done < size; done += writeChunk) {
        let off = 0;
        while (off < data.length) off += await f.write(data.subarray(off));
      }
      f.close();
    },
    "read beneath": async () => {
      const f = root.openFile(["big-beneath"]);
      while ((await f.read(buf)) !== null) { /* next */ }
      await f.close();
    },
    "read deno": async () => {
      const f = await Deno.open(`${dir}/big-deno`, { read: true });
      while ((await f.read(buf)) !== null) { /* next */ }
      f.close();
    },
  };
  const times: Record<string, number[]> = {};
  const cpus: Record<string, number[]> = {};
  for (let r = 0; r < rounds; r++) {
    // Alternate which goes first, so neither always meets the other's dirty pages.
    const order = r % 2 === 0 ? ["beneath", "deno"] : ["deno", "beneath"];
    for (const op of ["write", "read"]) {
      for (const who of order) {
        const name = `${op} ${who}`;
        if (op === "write") {
          // Untimed: both start from no file, with the old one's blocks already freed.
          try {
            await Deno.remove(`${dir}/big-${who}`);
          } catch { /* first round */ }
          await new Promise((r) => setTimeout(r, 200));
        }
        const c = process.cpuUsage();
        const t = performance.now();
        await variants[name]();
        (times[name] ??= []).push(performance.now() - t);
        const used = process.cpuUsage(c);
        (cpus[name] ??= []).push((used.user + used.system) / 1000);
      }
    }
  }
  const m = (name: string) =>
    `${rate(median(times[name]))} (CPU ${median(cpus[name]).toFixed(0)} ms)`;
  console.log(
    `\n| 1 GiB, page cache warm, median of ${rounds} | beneath (nonblocking FFI) | Deno.FsFile |`,
  );
  console.log("| --- | --- | --- |");
  console.log(`| write in 1 MiB calls | ${m("write beneath")} | ${m("write deno")} |`);
  console.log(
    `| read in 256 KiB calls into one reused buffer | ${m("read beneath")} | ${m("read deno")} |`,
  );
}

async function smallUploads(root: BeneathRoot, dir: string, sync: boolean): Promise<void> {
  const count = 1000;
  const rounds = 3;
  const body = new Uint8Array(4096).fill(7);
  const beneath = async () => {
    root.mkdir(["up-beneath"]);
    for (let i = 0; i < count; i++) {
      // Per upload, as the server would: resolve the parent, create, write, rename, close.
      const { dir: parent, name } = root.openParent(["up-beneath", `f${i}`]);
      try {
        const f = parent.createFile(`.ferry-${i}.part`);
        await f.write(body);
        if (sync) await f.sync();
        await f.close();
        await parent.rename(`.ferry-${i}.part`, name, { replace: true });
        if (sync) await parent.sync();
      } finally {
        parent.close();
      }
    }
  };
  const deno = async () => {
    await Deno.mkdir(`${dir}/up-deno`);
    for (let i = 0; i < count; i++) {
      const tmp = `${dir}/up-deno/.ferry-${i}.part`;
      const f = await Deno.open(tmp, { write: true, createNew: true });
      let off = 0;
      while (off < body.length) off += await f.write(body.subarray(off));
      if (sync) await f.sync();
      f.close();
      await Deno.rename(tmp, `${dir}/up-deno/f${i}`);
      if (sync) {
        const h = await Deno.open(`${dir}/up-deno`, { read: true });
        await h.sync();
        h.close();
      }
    }
  };
  const times: [number[], number[]] = [[], []];
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? [0, 1] : [1, 0];
    for (const v of order) {
      const t = performance.now();
      await (v === 0 ? beneath() : deno());
      times[v].push(performance.now() - t);
    }
    await Deno.remove(`${dir}/up-deno`, { recursive: true });
    await Deno.remove(`${dir}/up-beneath`, { recursive: true });
  }
  console.log(
    `| 1,000 × 4 KiB one after another${sync ? ", fsync file + dir" : ", no fsync"} ` +
      `(median of ${rounds}) | ${median(times[0]).toFixed(0)} ms | ` +
      `${median(times[1]).toFixed(0)} ms |`,
  );
}

/** Longest gap between 1 ms ticks while `body` runs. */
async function loopStall(body: () => Promise<void>): Promise<number> {
  let last = performance.now();
  let worst = 0;
  const id = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 1);
  await new Promise((r) => setTimeout(r, 20));
  await body();
  await new Promise((r) => setTimeout(r, 20));
  clearInterval(id);
  return worst;
}

async function removal(root: BeneathRoot, dir: string): Promise<void> {
  const rounds = 3;
  const stalls: Record<string, number[]> = {};
  const variants: Record<string, (name: string) => Promise<void>> = {
    "beneath remove (descriptor held, closed on the pool)": async (name) => {
      await root.remove([name]);
    },
    "Deno.remove (async)": (name) => Deno.remove(`${dir}/${name}`),
    "Deno.removeSync (what a plain sync unlinkat costs)": (name) =>
      Promise.resolve(Deno.removeSync(`${dir}/${name}`)),
  };
  for (let r = 0; r < rounds; r++) {
    for (const [label, remove] of Object.entries(variants)) {
      await Deno.copyFile(`${dir}/big-deno`, `${dir}/rm-me`);
      (stalls[label] ??= []).push(await loopStall(() => remove("rm-me")));
    }
  }
  console.log(
    `\n| removing a 1 GiB file just written, median of ${rounds} | longest event-loop stall |`,
  );
  console.log("| --- | --- |");
  for (const [label, values] of Object.entries(stalls)) {
    console.log(`| ${label} | ${median(values).toFixed(1)} ms |`);
  }
}

if (import.meta.main) {
  const support = checkSupport();
  if (!support.supported) throw new Error(support.reason);
  const created = Deno.args[0] === undefined;
  const dir = Deno.realPathSync(Deno.args[0] ?? Deno.makeTempDirSync({ prefix: "ferry-bench-" }));
  Deno.mkdirSync(`${dir}/d/e`, { recursive: true });
  Deno.writeFileSync(`${dir}/d/e/f`, new Uint8Array(4096));
  try {
    Deno.symlinkSync("d", `${dir}/l`);
  } catch { /* kept from a previous run */ }
  const root = BeneathRoot.open(dir);
  try {
    await latency(root, dir);
    console.log("\n| uploads | beneath | Deno, path-based |\n| --- | --- | --- |");
    await smallUploads(root, dir, false);
    await smallUploads(root, dir, true);
    await throughput(root, dir);
    await removal(root, dir);
  } finally {
    root.close();
    if (created) {
      Deno.removeSync(dir, { recursive: true });
    } else {
      for (const name of ["big-beneath", "big-deno"]) {
        try {
          Deno.removeSync(`${dir}/${name}`);
        } catch { /* absent */ }
      }
    }
  }
}
