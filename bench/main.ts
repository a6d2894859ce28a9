/**
 * `deno task bench`: ferry against OpenSSH's scp and sftp, and against a bare TLS ceiling, on
 * this machine, in one run. BENCHMARKS.md says what is measured and shows the latest results;
 * `config.ts` lists the environment variables that change sizes, repetitions and sections.
 *
 * The run prepares data in a temporary directory, starts a ferry server, an sshd of its own, the
 * ceiling server and (for the relay section) delay relays, all on 127.0.0.1, then times each
 * operation as the wall time of one client process, the servers already running, and counts
 * the CPU time of both sides. Outputs are deleted and `sync` is run between operations, outside
 * the timings. It prints the tables, writes `bench/results/<start time>.json`, and with
 * BENCH_UPDATE_DOC=1 replaces the table in BENCHMARKS.md.
 *
 * Layout: `harness/` starts and measures processes, `cases/` holds one file per case,
 * `report.ts` and `targets.ts` turn the results into tables.
 *
 * @module
 */

import { bigFile } from "./cases/big_file.ts";
import { type Bench, directPorts } from "./cases/context.ts";
import { listing } from "./cases/listing.ts";
import { manyClients } from "./cases/many_clients.ts";
import { manyFiles } from "./cases/many_files.ts";
import { relay } from "./cases/relay.ts";
import { s3 } from "./cases/s3.ts";
import { streams } from "./cases/streams.ts";
import { type BenchConfig, readConfig, type Section } from "./config.ts";
import { prepareData } from "./harness/data.ts";
import { ferryCli, type FerryServer, readFeatures, startFerry } from "./harness/ferry.ts";
import { MiB } from "./harness/files.ts";
import { createLog } from "./harness/log.ts";
import { describeMachine, loadavg } from "./harness/machine.ts";
import { startCeiling } from "./harness/peers.ts";
import { createServices, DENO, errorMessage, onInterrupt, REPO, run } from "./harness/process.ts";
import { createProcfs, statusBytes } from "./harness/procfs.ts";
import { type Ssh, startSshd } from "./harness/sshd.ts";
import { machineLine, markdown, ratio, series, updateDoc, writeResults } from "./report.ts";
import { createResults, TOOLS } from "./results.ts";
import { evaluateTargets } from "./targets.ts";

/** The configuration as recorded in the results: without the S3 secret. */
function recorded(config: BenchConfig) {
  return { ...config, s3: config.s3 && { ...config.s3, secretKey: "(set)" } };
}

/**
 * Runs `body` against a server of its own (with `extraFlags`), stopped afterwards, noting its
 * RSS at start.
 */
async function withFreshServer(
  b: Bench,
  body: (server: FerryServer) => Promise<void>,
  extraFlags: string[] = [],
): Promise<void> {
  const server = await startFerry(b.services, b.data, [...b.features.serverFlags, ...extraFlags]);
  try {
    const rss = await statusBytes(b.procfs, server.service.pid, "VmRSS");
    await body(server);
    if (rss !== null) {
      b.results.cases.at(-1)?.notes.push(`server RSS at start ${(rss / MiB).toFixed(0)} MiB`);
    }
  } finally {
    await server.service.stop();
  }
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const log = createLog(t0);
  const config = readConfig();
  const loadAtStart = loadavg();
  const startedAt = new Date();
  const base = config.dir ?? await Deno.makeTempDir({ prefix: "ferry-bench-" });
  const services = createServices();
  const procfs = await createProcfs();
  const results = createResults();
  const cleanup = async () => {
    await services.stopAll();
    await procfs.close();
    if (!config.keep) await Deno.remove(base, { recursive: true }).catch(() => {});
  };
  const removeHandlers = onInterrupt(cleanup);
  log(`config ${JSON.stringify(recorded(config))}`);
  let ssh: Ssh | null = null;
  try {
    const data = await prepareData(config, base, log);
    const features = await readFeatures(config.clients);
    const ferry = await startFerry(services, data, features.serverFlags);
    log(`ferry server on port ${ferry.port} (pid ${ferry.service.pid})`);
    // The CLI's and the helpers' modules are compiled once here, untimed.
    await ferryCli(ferry, data, ferry.port, ["ls"]);
    await run(DENO, [
      "cache",
      ...["ferry_ops.ts", "ceiling.ts", "delay_proxy.ts"].map((f) => `${REPO}/bench/harness/${f}`),
    ]);
    if (config.ssh) {
      try {
        ssh = await startSshd(services, `${base}/ssh`, log);
        log(`sshd on port ${ssh.port} (${ssh.version})`);
      } catch (err) {
        results.skipped.push(`scp/sftp: ${errorMessage(err)}`);
        log(`skipping scp and sftp: ${errorMessage(err)}`);
      }
    } else results.skipped.push("scp/sftp: BENCH_NO_SSH=1");
    const ceiling = await startCeiling(services, data);
    const b: Bench = {
      config,
      data,
      results,
      procfs,
      services,
      log,
      features,
      ferry,
      ssh,
      ceiling,
    };
    const on = (s: Section) => config.sections.includes(s);

    if (on("big")) {
      await bigFile(b, {
        label: "",
        id: "",
        ports: directPorts(b),
        reps: config.reps,
        sshReps: config.reps,
      });
    }
    if (on("streams")) await streams(b);
    if (on("many")) await manyFiles(b, directPorts(b));
    // A fresh server for each of these, so that its peak RSS is theirs alone.
    // The many-clients server runs one isolate per core (BENCH_WORKERS), where it can.
    if (on("clients")) {
      const workers = b.features.serverWorkers ? ["--workers", config.workers] : [];
      await withFreshServer(b, (server) => manyClients(b, server, workers), workers);
    }
    if (on("ls")) await withFreshServer(b, (server) => listing(b, server));
    if (on("relay")) await relay(b);
    if (on("s3")) await s3(b);

    const targets = evaluateTargets(results);
    const tables = markdown(results, targets);
    const machine = await describeMachine(procfs, ssh?.version ?? null, loadAtStart);
    const seconds = (performance.now() - t0) / 1000;
    const path = await writeResults(startedAt, {
      startedAt: startedAt.toISOString(),
      seconds,
      machine,
      config: recorded(config),
      skipped: results.skipped,
      cases: results.cases.map((c) => ({
        ...c,
        series: Object.fromEntries(
          Object.entries(c.samples).map(([tool, s]) => [tool, series(s!)]),
        ),
        ratios: Object.fromEntries(
          TOOLS.filter((t) => t !== "ferry").map((t) => [t, ratio(results, c, t)]),
        ),
      })),
      targets,
      markdown: tables,
    });
    const header = machineLine(machine, seconds);
    console.log(`\n${header}\n\n${tables}\n`);
    if (results.skipped.length > 0) console.log(`skipped: ${results.skipped.join("; ")}`);
    console.log(`results: ${path}`);
    if (config.updateDoc) await updateDoc(header, tables, path);
  } finally {
    removeHandlers();
    await cleanup();
  }
}

if (import.meta.main) {
  await main();
  Deno.exit(0);
}
