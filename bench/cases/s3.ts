/**
 * ferry on S3 storage against the same transfers through the S3 API directly (the "s3" column):
 * the big file put and get, and the small files `put -r` and `get -r`. ferry's rows are the CLI
 * against a second ferry server started with `--storage s3` on a prefix of a bucket; the "s3"
 * rows are `bench/harness/s3_direct.ts`, the same S3 client code the server uses, driven as
 * `aws s3 cp` drives its store (8 MiB parts, 10 requests in flight). So the ratio is ferry's
 * overhead over the store: TLS, its protocol, its checksum and the extra hop.
 *
 * The store is `S3_ENDPOINT` with `S3_ACCESS_KEY` and `S3_SECRET_KEY` when set; otherwise a
 * throw-away Ceph cluster the run starts (`harness/ceph.ts`), and stops at the end of the section.
 * CPU: the client is the process a user runs; the server is the ferry server (none on the direct
 * rows); the store's own processes are counted on neither.
 *
 * @module
 */

import { sizeLabel } from "../config.ts";
import { type Ceph, startCeph } from "../harness/ceph.ts";
import { expectFiles } from "../harness/files.ts";
import { ferryCli, type FerryServer, startFerry } from "../harness/ferry.ts";
import { DENO, errorMessage, REPO, run, type RunResult } from "../harness/process.ts";
import { childrenCpuSeconds } from "../harness/procfs.ts";
import type { Case } from "../results.ts";
import { type Bench, mbps, measure, type Sample, transfer } from "./context.ts";
import type { S3Config } from "../config.ts";

/** The bucket the section uses; ferry's files are below `ferry/`, the direct ones below `direct/`. */
const BUCKET = "ferry-bench";

/** Runs one `s3_direct.ts` operation; its wall time and JSON result. */
function direct(store: S3Config, args: string[]): Promise<RunResult> {
  return run(DENO, [
    "run",
    "--allow-net",
    "--allow-read",
    "--allow-write",
    "--allow-env=S3_ENDPOINT,S3_ACCESS_KEY,S3_SECRET_KEY,S3_REGION,S3_BUCKET",
    `${REPO}/bench/harness/s3_direct.ts`,
    ...args,
  ], {
    env: {
      S3_ENDPOINT: store.endpoint,
      S3_ACCESS_KEY: store.accessKey,
      S3_SECRET_KEY: store.secretKey,
      S3_REGION: store.region,
      S3_BUCKET: BUCKET,
    },
  });
}

/** How many objects are below `prefix/`. */
async function count(store: S3Config, prefix: string): Promise<number> {
  const r = await direct(store, ["count", prefix]);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!).objects;
}

/** Throws unless `prefix/` holds `expect` objects. */
async function expectObjects(store: S3Config, prefix: string, expect: number): Promise<void> {
  const got = await count(store, prefix);
  if (got !== expect) throw new Error(`${prefix}/ holds ${got} objects, not ${expect}`);
}

/**
 * One sample of a direct transfer of `bytes`: its rate and the client's CPU per GiB (server 0:
 * there is no ferry server on this path; the store's processes are not counted).
 */
async function directSample(
  b: Bench,
  bytes: number,
  body: () => Promise<RunResult>,
): Promise<Sample> {
  const gib = bytes / 1024 ** 3;
  const before = await childrenCpuSeconds(b.procfs);
  const r = await body();
  const client = await childrenCpuSeconds(b.procfs) - before;
  return { value: mbps(bytes, r.ms), cpu: { client: client / gib, server: 0 } };
}

/** The ferry server on the store, below `ferry/` of the bucket. */
function startOnS3(b: Bench, store: S3Config): Promise<FerryServer> {
  return startFerry(b.services, b.data, [
    ...b.features.serverFlags,
    "--storage",
    "s3",
    "--s3-endpoint",
    store.endpoint,
    "--s3-bucket",
    BUCKET,
    "--s3-prefix",
    "ferry/",
    "--s3-region",
    store.region,
  ], { FERRY_S3_ACCESS_KEY: store.accessKey, FERRY_S3_SECRET_KEY: store.secretKey });
}

/** The four rows, measured once the store and the server run. */
async function measureAll(
  b: Bench,
  store: S3Config,
  server: FerryServer,
  cases: Record<"bigGet" | "bigPut" | "putR" | "getR", Case>,
): Promise<void> {
  const d = b.data;
  const n = b.config.files;
  const ferry = (args: string[]) => ferryCli(server, d, server.port, args);
  const out = { ferry: `${d.out}/s3-ferry-get`, s3: `${d.out}/s3-direct-get` };
  const dirs = { ferry: `${d.out}/s3-ferry-many`, s3: `${d.out}/s3-direct-many` };
  const files = async (rate: () => Promise<RunResult>, check: () => Promise<void>) => {
    const r = await rate();
    await check();
    return n / (r.ms / 1000);
  };
  // Each get reads what the put before it wrote.
  for (let rep = 0; rep < b.config.s3Reps; rep++) {
    await measure(
      b,
      cases.bigPut,
      "ferry",
      () => transfer(b, server.service.pid, d.bigBytes, () => ferry(["put", d.big, "big.bin"])),
      [],
    );
    await measure(
      b,
      cases.bigPut,
      "s3",
      () => directSample(b, d.bigBytes, () => direct(store, ["put", d.big, "direct/big.bin"])),
      [],
    );
    await measure(
      b,
      cases.bigGet,
      "ferry",
      () => transfer(b, server.service.pid, d.bigBytes, () => ferry(["get", "big.bin", out.ferry])),
      [out.ferry],
    );
    await measure(
      b,
      cases.bigGet,
      "s3",
      () => directSample(b, d.bigBytes, () => direct(store, ["get", "direct/big.bin", out.s3])),
      [out.s3],
    );
    await direct(store, ["rm", "ferry/many"]);
    await measure(b, cases.putR, "ferry", () =>
      files(
        () => ferry(["put", "-r", d.manyDir, "many"]),
        () => expectObjects(store, "ferry/many", n),
      ), []);
    await direct(store, ["rm", "direct/many"]);
    await measure(b, cases.putR, "s3", () =>
      files(
        () => direct(store, ["put-dir", d.manyDir, "direct/many"]),
        () => expectObjects(store, "direct/many", n),
      ), []);
    await measure(b, cases.getR, "ferry", () =>
      files(
        () => ferry(["get", "-r", "many", dirs.ferry]),
        () => expectFiles(dirs.ferry, n),
      ), [dirs.ferry]);
    await measure(b, cases.getR, "s3", () =>
      files(
        () => direct(store, ["get-dir", "direct/many", dirs.s3]),
        () => expectFiles(dirs.s3, n),
      ), [dirs.s3]);
  }
}

/** The S3 rows: against the configured store, or a Ceph cluster of the run's own. */
export async function s3(b: Bench): Promise<void> {
  const size = sizeLabel(b.config.bigMiB);
  const files = `${b.config.files.toLocaleString("en")} × ${b.config.fileKiB} KiB`;
  const cases = {
    bigPut: b.results.add("s3-big-put", `${size} put, ferry on S3`, "MB/s"),
    bigGet: b.results.add("s3-big-get", `${size} get, ferry on S3`, "MB/s"),
    putR: b.results.add("s3-many-put-r", `${files} put -r, ferry on S3`, "files/s"),
    getR: b.results.add("s3-many-get-r", `${files} get -r, ferry on S3`, "files/s"),
  };
  const skip = (why: string) => {
    for (const c of Object.values(cases)) c.skipped = why;
    b.results.skipped.push(`S3 rows: ${why}`);
    b.log(`skipping the S3 rows: ${why}`);
  };
  if (!b.features.serverS3) {
    return skip("the server has no S3 storage option (server/main.ts --help lists no --s3… flag)");
  }
  let store = b.config.s3;
  let ceph: Ceph | null = null;
  if (store === null) {
    try {
      const started = performance.now();
      ceph = await startCeph(`${b.data.base}/ceph`, b.log);
      store = ceph.s3;
      b.log(
        `Ceph RADOS Gateway at ${store.endpoint}, up in ${
          ((performance.now() - started) / 1000).toFixed(1)
        } s`,
      );
    } catch (err) {
      return skip(
        `no S3 store: S3_ENDPOINT is not set and Ceph did not start: ${errorMessage(err)}`,
      );
    }
  }
  let server: FerryServer | null = null;
  try {
    await direct(store, ["bucket"]);
    server = await startOnS3(b, store);
    b.log(`ferry server on S3 (${store.endpoint}, bucket ${BUCKET}) on port ${server.port}`);
    await measureAll(b, store, server, cases);
    const where = ceph === null ? `the store at ${store.endpoint}` : "a one-node Ceph 16 cluster " +
      "(BlueStore on a sparse file, one RADOS Gateway) on this machine";
    cases.bigPut.notes.push(
      `${where}; s3: the S3 API directly, with the server's own S3 client code, 8 MiB parts and ` +
        `10 requests in flight (as aws s3 cp); CPU: client = the process a user runs, ` +
        `server = the ferry server (none for s3), the store's processes on neither`,
    );
  } finally {
    await server?.service.stop();
    await ceph?.stop();
  }
}
