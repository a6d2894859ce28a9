/**
 * Before and after on a shared machine: one big file, get and put, with the ferry CLI and
 * server of several trees (a checkout of the old code and of the new), **interleaved** round by
 * round so that every tree sees the same machine state, plus the ceiling of the first tree as a
 * reference for the load. Prints each sample and the medians of CPU-seconds per GiB by side.
 *
 * ```sh
 * git worktree add /tmp/old main   # or: git archive main | tar -x -C /tmp/old
 * deno run -A bench/experiments/ab_big.ts [--mib 1024] [--rounds 5] [--streams 4] /tmp/old .
 * ```
 *
 * Each tree runs its own server (its `serve` task flags, its own certificates) on one shared
 * data root, and its own CLI with its `client` task flags, as `bench/cases/big_file.ts` does.
 * Outputs are removed and `sync` run between samples. With `--streams N`, trees whose CLI lists
 * `--streams` also run `get --streams N` (and `put --streams N` where `put` takes it).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { createProcfs } from "../harness/procfs.ts";
import { createServices, DENO, run, type RunResult } from "../harness/process.ts";
import { withCpu } from "../harness/sampling.ts";
import { settle } from "../harness/data.ts";

const MiB = 1024 * 1024;

interface Tree {
  name: string;
  path: string;
  serve: string[];
  client: string[];
  port: number;
  pid: number;
  certs: string;
  streams: boolean;
  putStreams: boolean;
}

interface Row {
  tree: string;
  op: string;
  mbps: number;
  client: number;
  server: number;
}

/** The `--…` words of a deno.json task of `tree`. */
function taskFlags(tree: string, task: string): string[] {
  const tasks = JSON.parse(Deno.readTextFileSync(`${tree}/deno.json`)).tasks;
  return String(tasks[task]).split(/\s+/).filter((w) => w.startsWith("--"));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    mib: { type: "string", default: "1024" },
    rounds: { type: "string", default: "5" },
    streams: { type: "string", default: "0" },
  },
});
const mib = Number(values.mib);
const rounds = Number(values.rounds);
const streams = Number(values.streams);
const paths = (positionals.length > 0 ? positionals : ["."]).map((p) => resolve(p));
const base = await Deno.makeTempDir({ prefix: "ferry-ab-" });
const root = `${base}/root`;
const out = `${base}/out`;
await Deno.mkdir(root);
await Deno.mkdir(out);
const big = `${root}/big.bin`;
const bytes = mib * MiB;
{
  using f = await Deno.open(big, { write: true, create: true });
  const chunk = new Uint8Array(16 * MiB);
  for (let o = 0; o < chunk.length; o += 65536) {
    crypto.getRandomValues(chunk.subarray(o, o + 65536));
  }
  for (let o = 0; o < bytes; o += chunk.length) {
    await f.write(chunk.subarray(0, Math.min(chunk.length, bytes - o)));
  }
}
await run("sync", []);

const services = createServices();
const procfs = await createProcfs();
const trees: Tree[] = [];
try {
  for (const [i, path] of paths.entries()) {
    const certs = `${base}/certs-${i}`;
    const serve = taskFlags(path, "serve").map((f) =>
      f.startsWith("--allow-write") ? `--allow-write=${root},${certs}` : f
    );
    const { service, match } = await services.start(`server-${i}`, DENO, [
      "run",
      ...serve,
      `${path}/server/main.ts`,
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--root",
      root,
      "--certs",
      certs,
    ], /ferry-server (?:\S+ )?listening on [^\s]*:(\d+)/);
    const client = taskFlags(path, "client");
    const help = await run(DENO, ["run", ...client, `${path}/cli/main.ts`, "--help"]);
    trees.push({
      name: `${i}:${path.split("/").slice(-2).join("/")}`,
      path,
      serve,
      client,
      port: Number(match![1]),
      pid: service.pid,
      certs,
      streams: /--streams\b/.test(help.stdout),
      putStreams: /ferry \[options\] put [^\n]*--streams/.test(help.stdout),
    });
  }
  const ceiling = await services.start("ceiling", DENO, [
    "run",
    "--allow-net=127.0.0.1",
    "--allow-read",
    `--allow-write=${out}`,
    `${paths[0]}/bench/harness/ceiling.ts`,
    "serve",
    "--cert",
    `${trees[0].certs}/server.pem`,
    "--key",
    `${trees[0].certs}/server-key.pem`,
    "--port",
    "0",
    "--file",
    big,
    "--out-dir",
    out,
  ], /ceiling listening on [^\s]*:(\d+)/);
  const ceilingPort = Number(ceiling.match![1]);

  const rows: Row[] = [];
  const sample = async (
    tree: string,
    op: string,
    pid: number,
    cleanup: string,
    body: () => Promise<RunResult>,
  ) => {
    await settle([cleanup]);
    const [r, cpu] = await withCpu(procfs, pid, body);
    const gib = bytes / 1024 ** 3;
    const row = {
      tree,
      op,
      mbps: bytes / 1e6 / (r.ms / 1000),
      client: (cpu?.client ?? NaN) / gib,
      server: (cpu?.server ?? NaN) / gib,
    };
    rows.push(row);
    console.log(
      `${tree.padEnd(28)} ${op.padEnd(16)} ${
        row.mbps.toFixed(0).padStart(5)
      } MB/s  CPU/GiB client ${row.client.toFixed(2)} server ${row.server.toFixed(2)} sum ${
        (row.client + row.server).toFixed(2)
      }`,
    );
    await settle([cleanup]);
  };
  const cli = (t: Tree, args: string[]) =>
    run(DENO, [
      "run",
      ...t.client,
      `${t.path}/cli/main.ts`,
      "--host",
      "127.0.0.1",
      "--port",
      String(t.port),
      "--certs",
      t.certs,
      "-q",
      ...args,
    ], { env: { FERRY_CONFIG_DIR: `${base}/cli-config` } });
  for (let round = 0; round < rounds; round++) {
    for (const t of trees) {
      const extra = [[] as string[]];
      if (streams > 0 && t.streams) extra.push(["--streams", String(streams)]);
      for (const e of extra) {
        const suffix = e.length > 0 ? ` ${e.join(" ")}` : "";
        await sample(
          t.name,
          `get${suffix}`,
          t.pid,
          `${out}/get.bin`,
          () => cli(t, ["get", ...e, "big.bin", `${out}/get.bin`]),
        );
        if (e.length > 0 && !t.putStreams) continue;
        await sample(
          t.name,
          `put${suffix}`,
          t.pid,
          `${root}/put.bin`,
          () => cli(t, ["put", ...e, big, "put.bin"]),
        );
      }
    }
    for (const op of ["get", "put"] as const) {
      const cleanup = op === "get" ? `${out}/ceiling-get` : `${out}/ceiling-put`;
      await sample("ceiling+fsync", op, ceiling.service.pid, cleanup, () =>
        run(DENO, [
          "run",
          "--allow-net=127.0.0.1",
          "--allow-read",
          `--allow-write=${out}`,
          `${paths[0]}/bench/harness/ceiling.ts`,
          op,
          "--port",
          String(ceilingPort),
          "--ca",
          `${trees[0].certs}/ca.pem`,
          "--fsync",
          ...(op === "get" ? ["--out", cleanup] : ["--file", big]),
        ]));
    }
  }
  console.log(`\nmedians of ${rounds} rounds, ${mib} MiB, CPU-seconds per GiB:`);
  const keys = [...new Set(rows.map((r) => `${r.tree}\t${r.op}`))];
  for (const key of keys) {
    const [tree, op] = key.split("\t");
    const of = rows.filter((r) => r.tree === tree && r.op === op);
    console.log(
      `${tree.padEnd(28)} ${op.padEnd(16)} ${
        median(of.map((r) => r.mbps)).toFixed(0).padStart(5)
      } MB/s  client ${median(of.map((r) => r.client)).toFixed(2)}  server ${
        median(of.map((r) => r.server)).toFixed(2)
      }  sum ${median(of.map((r) => r.client + r.server)).toFixed(2)}`,
    );
  }
} finally {
  await services.stopAll();
  await procfs.close();
  await Deno.remove(base, { recursive: true }).catch(() => {});
}
