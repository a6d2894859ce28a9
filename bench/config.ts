/**
 * The benchmark's settings, read from the environment (all optional):
 *
 * | variable | default | meaning |
 * | --- | --- | --- |
 * | BENCH_QUICK=1 | | small sizes and 2 repetitions, for a smoke run (about a minute) |
 * | BENCH_REPS | 3 | repetitions of each loopback measurement |
 * | BENCH_BIG_MIB | 1024 | size of the big file |
 * | BENCH_FILES, BENCH_FILE_KIB | 1000, 4 | the many-small-files cases |
 * | BENCH_CLIENTS, BENCH_CLIENT_MIB | 50, 20 | the many-clients case |
 * | BENCH_CLIENT_PROCS | the cores (≤ 8) | processes the many clients are spread over |
 * | BENCH_WORKERS | auto | the server's `--workers` in the many-clients case (one isolate per core) |
 * | BENCH_LS_ENTRIES | 100000 | entries of the listed directory |
 * | BENCH_DELAY_MS | 25 | one-way delay of the relay |
 * | BENCH_RELAY_REPS | 2 | repetitions through the relay for ferry and the ceiling |
 * | BENCH_RELAY_SSH_REPS | 1 | repetitions through the relay for scp and sftp (about 35 s each per GiB) |
 * | BENCH_RELAY_SSH_MIB | 512 | size of the big file scp and sftp move through the relay (their rate there is bound by their request window; at this size their start-up is some 3% of the time) |
 * | BENCH_RELAY_SSH_FILES | 100 | files scp and sftp put through the relay (3-4 round trips each) |
 * | BENCH_STREAMS | 4 | connections of the `--streams N` rows (once the CLI has the flag) |
 * | BENCH_ONLY | all | comma list of sections: big, many, clients, ls, relay, streams, s3 |
 * | BENCH_NO_SSH=1 | | skip scp and sftp |
 * | BENCH_DIR | a new temp dir | where data goes (kept if given) |
 * | BENCH_KEEP=1 | | keep the temp dir |
 * | BENCH_UPDATE_DOC=1 | | replace the table in BENCHMARKS.md between its bench markers |
 * | BENCH_S3_REPS | 1 | repetitions of the S3 rows (each 1 GiB moves at some 30-100 MB/s through a one-node Ceph) |
 * | S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION | | the S3 store of the s3 section (else a Ceph cluster of the run's own, see `harness/ceph.ts`) |
 *
 * @module
 */

/** The sections of a run, in the order they run. */
export const SECTIONS = ["big", "many", "clients", "ls", "relay", "streams", "s3"] as const;

/** One section of a run. */
export type Section = typeof SECTIONS[number];

/** An S3 endpoint and its credentials. */
export interface S3Config {
  /** Base URL, e.g. `http://127.0.0.1:7480`. */
  endpoint: string;
  /** Access key id. */
  accessKey: string;
  /** Secret access key. */
  secretKey: string;
  /** Region used in request signatures. */
  region: string;
}

/** What one run measures, and how often. */
export interface BenchConfig {
  /** A smoke run with small sizes. */
  quick: boolean;
  /** Repetitions of each loopback measurement. */
  reps: number;
  /** Size of the big file in MiB. */
  bigMiB: number;
  /** Files of the many-small-files cases. */
  files: number;
  /** Size of each small file in KiB. */
  fileKiB: number;
  /** Clients of the many-clients case. */
  clients: number;
  /** Size of each client's file in MiB. */
  clientMiB: number;
  /** The server's `--workers` in the many-clients case (`auto`: one isolate per core). */
  workers: string;
  /** Processes the many clients are spread over (so that one client process is not the bound). */
  clientProcs: number;
  /** Entries of the listed directory. */
  lsEntries: number;
  /** One-way delay of the relay in ms. */
  delayMs: number;
  /** Repetitions through the relay for ferry and the ceiling. */
  relayReps: number;
  /** Repetitions through the relay for scp and sftp. */
  relaySshReps: number;
  /** Files scp and sftp put through the relay. */
  relaySshFiles: number;
  /** Size in MiB of the big file scp and sftp move through the relay (at most `bigMiB`). */
  relaySshMiB: number;
  /** Connections of the `--streams N` rows. */
  streams: number;
  /** Sections to run. */
  sections: Section[];
  /** Whether to measure scp and sftp. */
  ssh: boolean;
  /** Where data goes; a new temporary directory when undefined. */
  dir: string | undefined;
  /** Keep the data directory at the end. */
  keep: boolean;
  /** Replace the table in BENCHMARKS.md. */
  updateDoc: boolean;
  /** The S3 store, when S3_ENDPOINT and its keys are set. */
  s3: S3Config | null;
  /** Repetitions of the S3 rows. */
  s3Reps: number;
}

/** Reads the configuration from `env` (the process environment by default). */
export function readConfig(
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): BenchConfig {
  const int = (name: string, fallback: number): number => {
    const v = env(name);
    if (v === undefined || v === "") return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number, not ${v}`);
    return n;
  };
  const quick = env("BENCH_QUICK") === "1";
  const sections = (env("BENCH_ONLY") || SECTIONS.join(",")).split(",").map((s) => s.trim());
  for (const s of sections) {
    if (!(SECTIONS as readonly string[]).includes(s)) {
      throw new Error(`BENCH_ONLY: unknown section ${s} (known: ${SECTIONS.join(", ")})`);
    }
  }
  const endpoint = env("S3_ENDPOINT");
  const accessKey = env("S3_ACCESS_KEY");
  const secretKey = env("S3_SECRET_KEY");
  return {
    quick,
    reps: int("BENCH_REPS", quick ? 2 : 3),
    bigMiB: int("BENCH_BIG_MIB", quick ? 64 : 1024),
    files: int("BENCH_FILES", quick ? 200 : 1000),
    fileKiB: int("BENCH_FILE_KIB", 4),
    clients: int("BENCH_CLIENTS", quick ? 10 : 50),
    clientMiB: int("BENCH_CLIENT_MIB", quick ? 4 : 20),
    workers: env("BENCH_WORKERS") || "auto",
    clientProcs: Math.max(
      1,
      int("BENCH_CLIENT_PROCS", Math.min(8, navigator.hardwareConcurrency || 1)),
    ),
    lsEntries: int("BENCH_LS_ENTRIES", quick ? 10_000 : 100_000),
    delayMs: int("BENCH_DELAY_MS", 25),
    relayReps: int("BENCH_RELAY_REPS", quick ? 1 : 2),
    relaySshReps: int("BENCH_RELAY_SSH_REPS", 1),
    relaySshFiles: int("BENCH_RELAY_SSH_FILES", quick ? 20 : 100),
    relaySshMiB: Math.min(int("BENCH_RELAY_SSH_MIB", 512), int("BENCH_BIG_MIB", quick ? 64 : 1024)),
    streams: int("BENCH_STREAMS", 4),
    sections: sections as Section[],
    ssh: env("BENCH_NO_SSH") !== "1",
    dir: env("BENCH_DIR") || undefined,
    keep: Boolean(env("BENCH_DIR")) || env("BENCH_KEEP") === "1",
    updateDoc: env("BENCH_UPDATE_DOC") === "1",
    s3Reps: int("BENCH_S3_REPS", 1),
    s3: endpoint && accessKey && secretKey
      ? { endpoint, accessKey, secretKey, region: env("S3_REGION") || "us-east-1" }
      : null,
  };
}

/** "1 GiB" or "64 MiB": how the big file's size is shown. */
export function sizeLabel(mib: number): string {
  return mib >= 1024 && mib % 1024 === 0 ? `${mib / 1024} GiB` : `${mib} MiB`;
}
