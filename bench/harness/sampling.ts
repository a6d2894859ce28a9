/**
 * Peak memory and CPU time of the processes taking part in one operation.
 *
 * @module
 */

import { childrenCpuSeconds, type Procfs, serverCpuSeconds, statusBytes } from "./procfs.ts";

/** Resets a process's peak RSS (VmHWM) to its current RSS; false where that is refused. */
export function resetPeak(procfs: Procfs, pid: number): Promise<boolean> {
  return procfs.write(`/proc/${pid}/clear_refs`, "5");
}

/**
 * Samples `field` of `pid` every 10 ms until stopped; `stop` resolves with the largest value
 * seen, in bytes (the last sample before a process exits, for VmHWM).
 */
export function samplePeak(
  procfs: Procfs,
  pid: number,
  field: "VmRSS" | "VmHWM",
): { stop(): Promise<number> } {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      peak = Math.max(peak, (await statusBytes(procfs, pid, field)) ?? 0);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return Math.max(peak, (await statusBytes(procfs, pid, field)) ?? 0);
    },
  };
}

/**
 * The peak RSS of a running process while `body` runs, in bytes: its VmHWM after a reset,
 * cross-checked by sampling VmRSS every 10 ms (the only measure where a reset is refused).
 */
export async function withPeak<T>(
  procfs: Procfs,
  pid: number,
  body: () => Promise<T>,
): Promise<[T, number]> {
  const reset = await resetPeak(procfs, pid);
  const sampler = samplePeak(procfs, pid, "VmRSS");
  let result: T;
  let sampled = 0;
  try {
    result = await body();
  } finally {
    sampled = await sampler.stop();
  }
  const hwm = reset ? await statusBytes(procfs, pid, "VmHWM") : null;
  return [result, Math.max(sampled, hwm ?? 0)];
}

/** CPU seconds (user + system) used during one operation, by side. */
export interface CpuSeconds {
  /** The client: the processes this run started for the operation, with their children. */
  client: number;
  /** The server process, with the children it ended meanwhile (sshd's sessions). */
  server: number;
}

/**
 * Runs `body` (which runs the client processes of one operation, one after another) and measures
 * the CPU seconds of those clients and of the server `serverPid`. The server's count waits for
 * the children it forked for the operation to end (up to 5 s); null if they do not.
 */
export async function withCpu<T>(
  procfs: Procfs,
  serverPid: number,
  body: () => Promise<T>,
): Promise<[T, CpuSeconds | null]> {
  const server0 = await serverCpuSeconds(procfs, serverPid);
  const client0 = await childrenCpuSeconds(procfs);
  const result = await body();
  const client1 = await childrenCpuSeconds(procfs);
  const server1 = await serverCpuSeconds(procfs, serverPid);
  if (server0 === null || server1 === null) return [result, null];
  return [result, { client: client1 - client0, server: server1 - server0 }];
}
