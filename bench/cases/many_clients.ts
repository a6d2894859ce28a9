/**
 * Many clients at once (50, each downloading its own 20 MiB file, one connection each, spread
 * over `BENCH_CLIENT_PROCS` `ferry_ops.ts` processes, so that one client process's single thread
 * is not what bounds the aggregate): the aggregate rate against one client downloading the same
 * files one after another over one connection, the server's CPU (cores and CPU-seconds, the
 * utime + stime of its process, every isolate's thread included) and its peak RSS.
 *
 * @module
 */

import { settle } from "../harness/data.ts";
import type { FerryServer } from "../harness/ferry.ts";
import { ferryOps } from "../harness/ferry.ts";
import { MiB } from "../harness/files.ts";
import { errorMessage } from "../harness/process.ts";
import { threadCpuSeconds } from "../harness/procfs.ts";
import { withCpu, withPeak } from "../harness/sampling.ts";
import { fmt, maxOf, medianOf } from "../report.ts";
import { addFigure } from "../results.ts";
import { type Bench, mbps, measure } from "./context.ts";

/**
 * Runs the case against `server` (a fresh one, so that its peak RSS is this case's alone),
 * started with `serverFlags` (noted in the case).
 */
export async function manyClients(
  b: Bench,
  server: FerryServer,
  serverFlags: string[] = [],
): Promise<void> {
  const n = b.config.clients;
  const c = b.results.add(
    "clients",
    `${n} clients × ${b.config.clientMiB} MiB get, at once`,
    "MB/s",
  );
  const bytes = n * b.config.clientMiB * MiB;
  const outDir = `${b.data.out}/clients`;
  const pid = server.service.pid;
  const procs = Math.min(b.config.clientProcs, n);
  /** The files, dealt round-robin over `count` client processes. */
  const slices = (count: number) =>
    Array.from(
      { length: count },
      (_, p) => b.data.clientFiles.filter((_, i) => i % count === p),
    );
  const getMany = (serial: boolean) =>
    withCpu(b.procfs, pid, async () => {
      const started = performance.now();
      // Each process writes under a directory of its own (their files are named by index).
      const runs = await Promise.all(
        slices(serial ? 1 : procs).map((files, p) =>
          ferryOps(server, server.port, [
            "get-many",
            ...(serial ? ["--serial"] : []),
            "--files",
            files.join(","),
            "--out",
            `${outDir}/p${p}`,
          ])
        ),
      );
      const got = runs.reduce((sum, r) => sum + r.result.bytes, 0);
      return { ms: performance.now() - started, result: { bytes: got } };
    });
  for (let rep = 0; rep < b.config.reps; rep++) {
    await measure(b, c, "ferry", async () => {
      const threads0 = await threadCpuSeconds(b.procfs, pid);
      const [[r, cpu], peak] = await withPeak(b.procfs, pid, () => getMany(false));
      const threads1 = await threadCpuSeconds(b.procfs, pid);
      // Each isolate of `--workers` runs on a thread of its own (Deno names them worker-N).
      for (const [name, seconds] of threads1) {
        if (/^worker-\d+$/.test(name)) {
          addFigure(c, `isolateCpuSeconds:${name}`, seconds - (threads0.get(name) ?? 0));
        }
      }
      if (r.result.bytes !== bytes) throw new Error(`got ${r.result.bytes} bytes of ${bytes}`);
      addFigure(c, "serverPeakRssMiB", peak / MiB);
      if (cpu !== null) {
        addFigure(c, "serverCpuSeconds", cpu.server);
        addFigure(c, "serverCpuCores", cpu.server / (r.ms / 1000));
        addFigure(c, "clientCpuSeconds", cpu.client);
      }
      return mbps(bytes, r.ms);
    }, [outDir]);
    try {
      const [r, cpu] = await getMany(true);
      addFigure(c, "singleStreamMBps", mbps(bytes, r.ms));
      if (cpu !== null) addFigure(c, "singleServerCpuCores", cpu.server / (r.ms / 1000));
      b.log(
        `${c.title}: single stream (the same files, one after another) ${
          mbps(bytes, r.ms).toFixed(0)
        } MB/s`,
      );
    } catch (err) {
      c.notes.push(`single-stream reference failed: ${errorMessage(err)}`);
    }
    await settle([outDir]);
  }
  const single = medianOf(c.figures.singleStreamMBps);
  const agg = medianOf(c.samples.ferry);
  if (single !== null) {
    c.notes.push(
      `single stream over the same files: ${fmt(single, "MB/s")} MB/s` +
        (agg !== null ? ` (aggregate = ${(agg / single).toFixed(2)}× it)` : ""),
    );
  }
  const cores = medianOf(c.figures.serverCpuCores);
  if (cores !== null) {
    const seconds = medianOf(c.figures.serverCpuSeconds)!;
    const singleCores = medianOf(c.figures.singleServerCpuCores);
    c.notes.push(
      `server CPU ${cores.toFixed(2)} cores (${seconds.toFixed(1)} CPU-s)` +
        (singleCores !== null ? `, single stream ${singleCores.toFixed(2)} cores` : ""),
    );
  }
  const isolates = Object.entries(c.figures)
    .filter(([name]) => name.startsWith("isolateCpuSeconds:"))
    .map(([name, v]) => `${name.slice("isolateCpuSeconds:".length)} ${medianOf(v)!.toFixed(1)}`);
  if (isolates.length > 0) {
    c.notes.push(`CPU-s of the serving isolates (one thread each): ${isolates.join(", ")}`);
  }
  const clientSeconds = medianOf(c.figures.clientCpuSeconds);
  if (clientSeconds !== null) {
    c.notes.push(`the client processes' CPU ${clientSeconds.toFixed(1)} CPU-s (same cores)`);
  }
  if (serverFlags.length > 0) c.notes.push(`server started with ${serverFlags.join(" ")}`);
  c.notes.push(`clients spread over ${procs} processes`);
  const rss = maxOf(c.figures.serverPeakRssMiB);
  if (rss !== null) c.notes.push(`server peak RSS ${rss.toFixed(0)} MiB`);
}
