/**
 * What every case gets: the run's configuration, data, peers and results, and
 * {@linkcode measure}, which takes one sample.
 *
 * @module
 */

import type { BenchConfig } from "../config.ts";
import { type Data, settle } from "../harness/data.ts";
import type { Features, FerryServer } from "../harness/ferry.ts";
import type { Log } from "../harness/log.ts";
import type { Ceiling } from "../harness/peers.ts";
import { errorMessage, type RunResult, type Services } from "../harness/process.ts";
import type { Procfs } from "../harness/procfs.ts";
import { withCpu } from "../harness/sampling.ts";
import type { Ssh } from "../harness/sshd.ts";
import type { Case, CpuPerGiB, Tool } from "../results.ts";
import type { Results } from "../results.ts";

/** One run's state, handed to every case. */
export interface Bench {
  /** Sizes, repetitions, sections. */
  config: BenchConfig;
  /** Where the data and outputs are. */
  data: Data;
  /** Where cases record what they measured. */
  results: Results;
  /** /proc of other processes. */
  procfs: Procfs;
  /** The run's long-running processes. */
  services: Services;
  /** Progress lines. */
  log: Log;
  /** What the server and the CLI can do. */
  features: Features;
  /** The main ferry server. */
  ferry: FerryServer;
  /** The sshd, or null when scp and sftp are skipped. */
  ssh: Ssh | null;
  /** The ceiling server. */
  ceiling: Ceiling;
}

/** The ports of the three servers: their own, or relays' in front of them. */
export interface Ports {
  /** ferry's. */
  ferry: number;
  /** sshd's. */
  ssh: number;
  /** The ceiling's. */
  ceiling: number;
}

/** The servers' own ports. */
export function directPorts(b: Bench): Ports {
  return { ferry: b.ferry.port, ssh: b.ssh?.port ?? 0, ceiling: b.ceiling.port };
}

/** One sample: a rate or a time, with CPU per GiB for large transfers. */
export interface Sample {
  /** In the case's unit. */
  value: number;
  /** CPU per GiB by side; null when the server's could not be counted. */
  cpu?: CpuPerGiB | null;
}

/** MB/s (10⁶ bytes per second). */
export function mbps(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000);
}

/**
 * Times one transfer of `bytes` (the client process `body` runs, against the server `serverPid`):
 * its rate from the client's wall time, and both sides' CPU per GiB.
 */
export async function transfer(
  b: Bench,
  serverPid: number,
  bytes: number,
  body: () => Promise<RunResult>,
): Promise<Sample> {
  const [r, cpu] = await withCpu(b.procfs, serverPid, body);
  const gib = bytes / 1024 ** 3;
  return {
    value: mbps(bytes, r.ms),
    cpu: cpu === null ? null : { client: cpu.client / gib, server: cpu.server / gib },
  };
}

/**
 * Takes one sample of `tool` in `c`: removes `cleanup` and syncs, runs `op`, records its value
 * (or its error, after which `tool` is not run again in `c`), and cleans up again.
 */
export async function measure(
  b: Bench,
  c: Case,
  tool: Tool,
  op: () => Promise<Sample | number>,
  cleanup: string[],
): Promise<void> {
  if (c.errors[tool] !== undefined) return;
  await settle(cleanup);
  try {
    const got = await op();
    const sample = typeof got === "number" ? { value: got } : got;
    (c.samples[tool] ??= []).push(sample.value);
    if (sample.cpu) (c.cpu[tool] ??= []).push(sample.cpu);
    const shown = c.unit === "s"
      ? `${sample.value.toFixed(2)} s`
      : `${sample.value.toFixed(0)} ${c.unit}`;
    const cpu = sample.cpu
      ? `, CPU/GiB client ${sample.cpu.client.toFixed(2)} s, server ${
        sample.cpu.server.toFixed(2)
      } s`
      : "";
    b.log(`${c.title}: ${tool} ${shown}${cpu}`);
  } catch (err) {
    c.errors[tool] = errorMessage(err);
    b.log(`${c.title}: ${tool} FAILED: ${c.errors[tool]}`);
  }
  await settle(cleanup);
}
