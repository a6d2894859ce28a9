/**
 * `ls` of a directory of 100,000 entries: the ferry CLI (`ferry ls DIR`, its output read by this
 * process) against `sftp -b` with `ls -1`, with the server's and the CLI's peak RSS; the library's
 * `list()` call (`ferry_ops.ts ls`) in a note.
 *
 * @module
 */

import type { FerryServer } from "../harness/ferry.ts";
import { ferryCli, ferryOps } from "../harness/ferry.ts";
import { MiB } from "../harness/files.ts";
import { errorMessage } from "../harness/process.ts";
import { samplePeak, withPeak } from "../harness/sampling.ts";
import { sftpBatch } from "../harness/sshd.ts";
import { maxOf, medianOf } from "../report.ts";
import { addFigure } from "../results.ts";
import { type Bench, measure } from "./context.ts";

/** Counts the lines of a listing that name entries. */
function entries(stdout: string): number {
  return stdout.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("sftp>")).length;
}

/** Runs the case against `server` (a fresh one, so that its peak RSS is this case's alone). */
export async function listing(b: Bench, server: FerryServer): Promise<void> {
  const n = b.config.lsEntries;
  const c = b.results.add("ls", `ls of ${n.toLocaleString("en")} entries`, "s");
  const pid = server.service.pid;
  for (let rep = 0; rep < b.config.reps; rep++) {
    await measure(b, c, "ferry", async () => {
      let clientPeak = 0;
      const [r, serverPeak] = await withPeak(
        b.procfs,
        pid,
        () =>
          ferryCli(server, b.data, server.port, ["ls", b.data.lsName], {
            observe: (child) => {
              const sampler = samplePeak(b.procfs, child, "VmHWM");
              return async () => {
                clientPeak = await sampler.stop();
              };
            },
          }),
      );
      if (entries(r.stdout) !== n) throw new Error(`listed ${entries(r.stdout)} of ${n}`);
      addFigure(c, "serverPeakRssMiB", serverPeak / MiB);
      addFigure(c, "clientPeakRssMiB", clientPeak / MiB);
      return r.ms / 1000;
    }, []);
    const ssh = b.ssh;
    if (ssh !== null) {
      await measure(b, c, "sftp", async () => {
        const r = await sftpBatch(ssh, ssh.port, b.data.base, [
          `ls -1 ${b.data.root}/${b.data.lsName}`,
        ]);
        if (entries(r.stdout) < n) throw new Error(`sftp listed ${entries(r.stdout)} of ${n}`);
        return r.ms / 1000;
      }, []);
    }
    try {
      const lib = await ferryOps(server, server.port, ["ls", "--path", b.data.lsName]);
      if (lib.result.entries !== n) throw new Error(`listed ${lib.result.entries} of ${n}`);
      addFigure(c, "libraryListSeconds", lib.result.listMs / 1000);
      addFigure(c, "librarySeconds", lib.ms / 1000);
      addFigure(c, "libraryClientPeakRssMiB", lib.result.peakRssKiB / 1024);
    } catch (err) {
      c.notes.push(`library list failed: ${errorMessage(err)}`);
    }
  }
  const serverRss = maxOf(c.figures.serverPeakRssMiB);
  const clientRss = maxOf(c.figures.clientPeakRssMiB);
  if (serverRss !== null) c.notes.push(`server peak RSS ${serverRss.toFixed(0)} MiB`);
  if (clientRss !== null) {
    c.notes.push(`CLI peak RSS ${clientRss.toFixed(0)} MiB (VmHWM sampled every 10 ms)`);
  }
  const call = medianOf(c.figures.libraryListSeconds);
  if (call !== null) {
    c.notes.push(
      `the library in its own process: ${medianOf(c.figures.librarySeconds)!.toFixed(2)} s, ` +
        `its list() call ${call.toFixed(2)} s, peak RSS ${
          maxOf(c.figures.libraryClientPeakRssMiB)!.toFixed(0)
        } MiB`,
    );
  }
}
