/**
 * The data a run moves, made once in its directory (and reused when BENCH_DIR is given).
 *
 * @module
 */

import type { BenchConfig } from "../config.ts";
import { exists, makeFile, MiB, randomBytes } from "./files.ts";
import type { Log } from "./log.ts";
import { run } from "./process.ts";

/** Where everything of one run lives. */
export interface Data {
  /** The run's directory. */
  base: string;
  /** The ferry server's root; sshd serves the same files by absolute path. */
  root: string;
  /** The ferry server's certificates and token. */
  certs: string;
  /** The CLI's configuration directory (FERRY_CONFIG_DIR), empty. */
  cliConfig: string;
  /** Where downloads go. */
  out: string;
  /** The big file, in the root. */
  big: string;
  /** Its size in bytes. */
  bigBytes: number;
  /** What scp and sftp move through the relay: the big file, or a smaller one beside it. */
  relaySshBig: string;
  /** Its size in bytes. */
  relaySshBytes: number;
  /** Local directory of the small files that are uploaded. */
  manyDir: string;
  /** Their names, sorted. */
  manyNames: string[];
  /** The same small files in the root, for downloads (root-relative name). */
  remoteMany: string;
  /** Local directory of the first files of {@linkcode manyDir}: what scp and sftp put through the relay. */
  subsetDir: string;
  /** Root-relative paths of the many-clients files. */
  clientFiles: string[];
  /** Root-relative name of the directory that is listed. */
  lsName: string;
}

/** Makes the data in `base` (what is there already with the right size is kept). */
export async function prepareData(config: BenchConfig, base: string, log: Log): Promise<Data> {
  const root = `${base}/root`;
  const local = `${base}/local`;
  const d: Data = {
    base,
    root,
    certs: `${base}/certs`,
    cliConfig: `${base}/cli-config`,
    out: `${base}/out`,
    big: `${root}/big.bin`,
    bigBytes: config.bigMiB * MiB,
    relaySshBig: config.relaySshMiB < config.bigMiB
      ? `${root}/big-relay-ssh.bin`
      : `${root}/big.bin`,
    relaySshBytes: Math.min(config.relaySshMiB, config.bigMiB) * MiB,
    manyDir: `${local}/many`,
    manyNames: [],
    remoteMany: "many",
    subsetDir: `${local}/many-subset`,
    clientFiles: [],
    lsName: "ls",
  };
  for (
    const dir of [d.out, d.cliConfig, d.manyDir, d.subsetDir, `${root}/many`, `${root}/clients`]
  ) {
    await Deno.mkdir(dir, { recursive: true });
  }
  log(`preparing data in ${base}`);
  await makeFile(d.big, d.bigBytes, randomBytes(16 * MiB));
  if (d.relaySshBig !== d.big && config.sections.includes("relay")) {
    await makeFile(d.relaySshBig, d.relaySshBytes, randomBytes(16 * MiB));
  }
  for (let i = 0; i < config.clients; i++) {
    const name = `clients/c${String(i).padStart(3, "0")}.bin`;
    await makeFile(`${root}/${name}`, config.clientMiB * MiB, randomBytes(MiB));
    d.clientFiles.push(name);
  }
  for (let i = 0; i < config.files; i++) {
    const name = `f${String(i).padStart(5, "0")}.bin`;
    d.manyNames.push(name);
    const path = `${d.manyDir}/${name}`;
    if (!(await exists(path))) await Deno.writeFile(path, randomBytes(config.fileKiB * 1024));
    await Deno.copyFile(path, `${root}/many/${name}`);
    if (i < config.relaySshFiles) await Deno.copyFile(path, `${d.subsetDir}/${name}`);
  }
  if (config.sections.includes("ls")) await makeEntries(`${root}/${d.lsName}`, config.lsEntries);
  // Page-cache warm: read the big files once.
  for (const path of [d.big, ...d.clientFiles.map((f) => `${root}/${f}`)]) {
    using f = await Deno.open(path);
    const buf = new Uint8Array(4 * MiB);
    while ((await f.read(buf)) !== null) { /* warming */ }
  }
  await run("sync", []);
  return d;
}

/** Fills `dir` with `count` empty files, unless it holds that many entries already. */
async function makeEntries(dir: string, count: number): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  let have = 0;
  for await (const _ of Deno.readDir(dir)) have++;
  if (have === count) return;
  const empty = new Uint8Array(0);
  for (let i = 0; i < count; i += 500) {
    const batch = [];
    for (let j = i; j < Math.min(i + 500, count); j++) {
      batch.push(Deno.writeFile(`${dir}/entry-${String(j).padStart(6, "0")}`, empty));
    }
    await Promise.all(batch);
  }
}

/** Between timed operations: removes their outputs and writes dirty pages back, untimed. */
export async function settle(paths: string[]): Promise<void> {
  for (const p of paths) await Deno.remove(p, { recursive: true }).catch(() => {});
  await run("sync", []);
}
