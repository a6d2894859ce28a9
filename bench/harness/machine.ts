/**
 * The machine a run measured: what its numbers depend on.
 *
 * @module
 */

import type { Procfs } from "./procfs.ts";

/** The machine line of a run. */
export interface Machine {
  /** CPU model from /proc/cpuinfo. */
  cpu: string;
  /** Logical CPUs. */
  cores: number;
  /** Memory in GiB. */
  memoryGiB: number;
  /** Kernel release. */
  kernel: string;
  /** Deno's version. */
  deno: string;
  /** V8's version. */
  v8: string;
  /** OpenSSH's version (`ssh -V`), or null without it. */
  openssh: string | null;
  /** The OpenSSL that OpenSSH uses, or null. */
  openssl: string | null;
  /** 1, 5 and 15 minute load averages at the start and at the end: other work on the machine. */
  loadavg: { start: number[]; end: number[] };
}

/** The load averages now. */
export function loadavg(): number[] {
  return Deno.loadavg().map((x) => Math.round(x * 100) / 100);
}

/** Describes the machine; `sshVersion` is `ssh -V`'s output, when there is one. */
export async function describeMachine(
  procfs: Procfs,
  sshVersion: string | null,
  loadAtStart: number[],
): Promise<Machine> {
  const cpuinfo = await procfs.read("/proc/cpuinfo") ?? "";
  // "OpenSSH_9.2p1 Debian-2+deb12u6, OpenSSL 3.0.19 27 Jan 2026"
  const [openssh, openssl] = sshVersion === null ? [null, null] : sshVersion.split(/,\s*/);
  return {
    cpu: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1]?.trim() ?? "unknown",
    cores: navigator.hardwareConcurrency,
    memoryGiB: Math.round(Deno.systemMemoryInfo().total / 1024 ** 3),
    kernel: Deno.osRelease(),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    openssh: openssh ?? null,
    openssl: openssl ?? null,
    loadavg: { start: loadAtStart, end: loadavg() },
  };
}
