/**
 * Many small files (1,000 × 4 KiB), each way: the ferry CLI as a user runs it (`put FILES… DIR`,
 * `put -r`, `get 'DIR/*'`, `get -r`, one process each), scp (`scp FILES…`, `scp -r`) and
 * `sftp -b` (one command per file, or `put -r`/`get -r`). The library's rate (`ferry_ops.ts`:
 * one connection, every upload issued at once) is a note on the `put -r` row.
 *
 * @module
 */

import { expectFiles } from "../harness/files.ts";
import { ferryCli, ferryOps } from "../harness/ferry.ts";
import type { RunResult } from "../harness/process.ts";
import { remote, scp, sftpBatch } from "../harness/sshd.ts";
import { fmt, series } from "../report.ts";
import { addFigure, type Case } from "../results.ts";
import { type Bench, measure, type Ports } from "./context.ts";

/** One way of moving a set of files, for each tool. */
export interface FilesRow {
  /** Case id. */
  id: string;
  /** Case title. */
  title: string;
  /** Files moved. */
  files: number;
  /** Where each tool's files end up (checked, then removed). */
  dest: { ferry: string; scp: string; sftp: string };
  /** Whether the destination directories must exist beforehand (scp needs it for FILES… DIR). */
  precreate: boolean;
  /** The ferry CLI's arguments. */
  ferry: string[];
  /** scp's arguments. */
  scp: string[];
  /** sftp's batch commands. */
  sftp: string[];
}

/** `put -r` of the `files` files in `dir` (local): shared by the loopback and relay cases. */
export function putRecursiveRow(
  b: Bench,
  id: string,
  title: string,
  dir: string,
  files: number,
): FilesRow {
  const d = b.data;
  const dest = {
    ferry: `${d.root}/putr-ferry`,
    scp: `${d.root}/putr-scp`,
    sftp: `${d.root}/putr-sftp`,
  };
  return {
    id,
    title,
    files,
    dest,
    precreate: false,
    ferry: ["put", "-r", dir, "putr-ferry"],
    scp: b.ssh === null ? [] : ["-r", dir, remote(b.ssh, dest.scp)],
    sftp: [`put -r ${dir} ${dest.sftp}`],
  };
}

function rows(b: Bench): FilesRow[] {
  const d = b.data;
  const n = b.config.files;
  const label = `${n.toLocaleString("en")} × ${b.config.fileKiB} KiB`;
  const local = d.manyNames.map((name) => `${d.manyDir}/${name}`);
  const ssh = b.ssh;
  const at = (path: string) => (ssh === null ? path : remote(ssh, path));
  return [
    {
      id: "many-put",
      title: `${label} put`,
      files: n,
      dest: { ferry: `${d.root}/put-ferry`, scp: `${d.root}/put-scp`, sftp: `${d.root}/put-sftp` },
      precreate: true,
      ferry: ["put", ...local, "put-ferry"],
      scp: [...local, at(`${d.root}/put-scp/`)],
      sftp: d.manyNames.map((name) => `put ${d.manyDir}/${name} ${d.root}/put-sftp/${name}`),
    },
    putRecursiveRow(b, "many-put-r", `${label} put -r`, d.manyDir, n),
    {
      id: "many-get",
      title: `${label} get`,
      files: n,
      dest: { ferry: `${d.out}/get-ferry`, scp: `${d.out}/get-scp`, sftp: `${d.out}/get-sftp` },
      precreate: true,
      ferry: ["get", `${d.remoteMany}/*`, `${d.out}/get-ferry/`],
      scp: [at(`${d.root}/${d.remoteMany}/*`), `${d.out}/get-scp/`],
      sftp: d.manyNames.map((name) =>
        `get ${d.root}/${d.remoteMany}/${name} ${d.out}/get-sftp/${name}`
      ),
    },
    {
      id: "many-get-r",
      title: `${label} get -r`,
      files: n,
      dest: { ferry: `${d.out}/getr-ferry`, scp: `${d.out}/getr-scp`, sftp: `${d.out}/getr-sftp` },
      precreate: false,
      ferry: ["get", "-r", d.remoteMany, `${d.out}/getr-ferry`],
      scp: ["-r", at(`${d.root}/${d.remoteMany}`), `${d.out}/getr-scp`],
      sftp: [`get -r ${d.root}/${d.remoteMany} ${d.out}/getr-sftp`],
    },
  ];
}

/** Times one tool's run of `row` (files per second), checking that every file arrived. */
export function measureRow(
  b: Bench,
  c: Case,
  row: FilesRow,
  tool: "ferry" | "scp" | "sftp",
  ports: Ports,
): Promise<void> {
  const dest = row.dest[tool];
  return measure(b, c, tool, async () => {
    if (row.precreate) await Deno.mkdir(dest, { recursive: true });
    let r: RunResult;
    if (tool === "ferry") r = await ferryCli(b.ferry, b.data, ports.ferry, row.ferry);
    else if (tool === "scp") r = await scp(b.ssh!, ports.ssh, row.scp);
    else r = await sftpBatch(b.ssh!, ports.ssh, b.data.base, row.sftp);
    await expectFiles(dest, row.files);
    return row.files / (r.ms / 1000);
  }, [dest]);
}

/** The four loopback rows, repetitions interleaved; then the library's rate for `put -r`. */
export async function manyFiles(b: Bench, ports: Ports): Promise<void> {
  const all = rows(b);
  const cases = all.map((row) => b.results.add(row.id, row.title, "files/s"));
  for (let rep = 0; rep < b.config.reps; rep++) {
    for (const [i, row] of all.entries()) {
      await measureRow(b, cases[i], row, "ferry", ports);
      if (b.ssh !== null) {
        await measureRow(b, cases[i], row, "scp", ports);
        await measureRow(b, cases[i], row, "sftp", ports);
      }
    }
  }
  await libraryPut(b, cases[1], ports);
}

/** The library's rate, one connection with every upload issued at once: a note on `c`. */
async function libraryPut(b: Bench, c: Case, ports: Ports): Promise<void> {
  const n = b.config.files;
  const dest = `${b.data.root}/put-library`;
  for (let rep = 0; rep < b.config.reps; rep++) {
    await Deno.remove(dest, { recursive: true }).catch(() => {});
    try {
      const r = await ferryOps(b.ferry, ports.ferry, [
        "put-many",
        "--dir",
        b.data.manyDir,
        "--remote",
        "put-library",
      ]);
      await expectFiles(dest, n);
      addFigure(c, "libraryFilesPerSec", n / (r.ms / 1000));
    } catch (err) {
      c.notes.push(`library put failed: ${err instanceof Error ? err.message : err}`);
      break;
    }
  }
  await Deno.remove(dest, { recursive: true }).catch(() => {});
  const lib = c.figures.libraryFilesPerSec;
  if (lib !== undefined) {
    const x = series(lib);
    b.log(`${c.title}: library ${fmt(x.median, "files/s")} files/s`);
    c.notes.push(
      `the library (one connection, all ${n} uploads issued at once, in its own process): ${
        fmt(x.median, "files/s")
      } files/s`,
    );
  }
}
