/**
 * One big file (1 GiB), get and put: the ferry CLI, scp, sftp, and the ceiling (with and without
 * an fsync of the received file), on loopback or through relays; rate and CPU per GiB per side.
 *
 * @module
 */

import { sizeLabel } from "../config.ts";
import { ferryCli } from "../harness/ferry.ts";
import { ceilingGetPath, ceilingOp, ceilingPutPath } from "../harness/peers.ts";
import { remote, scp, sftpBatch } from "../harness/sshd.ts";
import { withCpu } from "../harness/sampling.ts";
import { medianOf } from "../report.ts";
import { addFigure, type Case } from "../results.ts";
import { type Bench, measure, type Ports, transfer } from "./context.ts";

/** How the big-file cases reach the servers. */
export interface Route {
  /** Added to the titles: "" on loopback, ", 25 ms each way" through relays. */
  label: string;
  /** Added to the case ids: "" or "-relay". */
  id: string;
  /** The ports to use. */
  ports: Ports;
  /** Repetitions for ferry and the ceiling. */
  reps: number;
  /** Repetitions for scp and sftp. */
  sshReps: number;
  /** What scp and sftp move, when not the big file (a smaller one, through the relay). */
  sshFile?: { path: string; bytes: number };
}

/** Where a ferry get of the big file writes, and where a put lands. */
function outputs(b: Bench) {
  return { get: `${b.data.out}/ferry-get`, put: `${b.data.root}/put.bin` };
}

/** One ferry CLI transfer of the big file (plus `extra` arguments) as a sample. */
export function ferryBig(
  b: Bench,
  c: Case,
  port: number,
  direction: "get" | "put",
  extra: string[] = [],
): Promise<void> {
  const out = outputs(b);
  const args = direction === "get"
    ? ["get", ...extra, "big.bin", out.get]
    : ["put", ...extra, b.data.big, "put.bin"];
  return measure(
    b,
    c,
    "ferry",
    () =>
      transfer(
        b,
        b.ferry.service.pid,
        b.data.bigBytes,
        () => ferryCli(b.ferry, b.data, port, args),
      ),
    [out[direction]],
  );
}

/**
 * The CPU a ferry CLI run costs before it moves anything (`ferry ls` of the root: start-up, TLS,
 * login), on both sides: part of every CPU-per-GiB figure, noted on `c`.
 */
async function fixedCost(b: Bench, c: Case): Promise<void> {
  for (let rep = 0; rep < b.config.reps; rep++) {
    const [, cpu] = await withCpu(
      b.procfs,
      b.ferry.service.pid,
      () => ferryCli(b.ferry, b.data, b.ferry.port, ["ls"]),
    );
    if (cpu === null) return;
    addFigure(c, "lsClientCpuSeconds", cpu.client);
    addFigure(c, "lsServerCpuSeconds", cpu.server);
  }
  c.notes.push(
    `every figure includes the CLI's start-up: a \`ferry ls\` costs ${
      medianOf(c.figures.lsClientCpuSeconds)!.toFixed(2)
    } CPU-s in the CLI, ${medianOf(c.figures.lsServerCpuSeconds)!.toFixed(2)} in the server`,
  );
}

/** The big-file get and put cases over `route`. */
export async function bigFile(b: Bench, route: Route): Promise<void> {
  const size = sizeLabel(b.config.bigMiB);
  const cases = {
    get: b.results.add(`big-get${route.id}`, `${size} get${route.label}`, "MB/s"),
    put: b.results.add(`big-put${route.id}`, `${size} put${route.label}`, "MB/s"),
  };
  const d = b.data;
  const bytes = d.bigBytes;
  const out = outputs(b);
  const fsyncs = route.id === "" ? [false, true] : [false];
  const sshFile = route.sshFile ?? { path: d.big, bytes };
  if (route.id === "") await fixedCost(b, cases.get);
  if (sshFile.bytes !== bytes) {
    for (const c of Object.values(cases)) {
      c.notes.push(
        `scp and sftp move ${sizeLabel(sshFile.bytes / 1024 / 1024)} (their rate through the ` +
          `relay is bound by their request window; their start-up, some 0.5 s, counts as for every tool)`,
      );
    }
  }
  for (let rep = 0; rep < Math.max(route.reps, route.sshReps); rep++) {
    for (const direction of ["get", "put"] as const) {
      const c = cases[direction];
      if (rep < route.reps) await ferryBig(b, c, route.ports.ferry, direction);
      const ssh = b.ssh;
      if (ssh !== null && rep < route.sshReps) {
        const pid = ssh.service.pid;
        const from = direction === "get" ? remote(ssh, sshFile.path) : sshFile.path;
        const to = direction === "get" ? `${d.out}/scp-get` : remote(ssh, out.put);
        await measure(
          b,
          c,
          "scp",
          () => transfer(b, pid, sshFile.bytes, () => scp(ssh, route.ports.ssh, [from, to])),
          [direction === "get" ? `${d.out}/scp-get` : out.put],
        );
        const command = direction === "get"
          ? `get ${sshFile.path} ${d.out}/sftp-get`
          : `put ${sshFile.path} ${out.put}`;
        await measure(
          b,
          c,
          "sftp",
          () =>
            transfer(
              b,
              pid,
              sshFile.bytes,
              () => sftpBatch(ssh, route.ports.ssh, d.base, [command]),
            ),
          [direction === "get" ? `${d.out}/sftp-get` : out.put],
        );
      }
      if (rep < route.reps) {
        for (const fsync of fsyncs) {
          await measure(
            b,
            c,
            fsync ? "ceiling+fsync" : "ceiling",
            () =>
              transfer(
                b,
                b.ceiling.service.pid,
                bytes,
                () => ceilingOp(d, route.ports.ceiling, direction, fsync),
              ),
            [direction === "get" ? ceilingGetPath(d) : ceilingPutPath(d)],
          );
        }
      }
    }
  }
}
