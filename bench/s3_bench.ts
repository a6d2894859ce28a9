/**
 * The S3 client (server/storage/s3) against a real store: 1 GiB PUT and GET throughput, the cost
 * of a resumable upload's hash (hash-wasm with a checkpoint per part against node:crypto), the
 * latency of small requests and of list pages. Prints one line per measurement.
 *
 *   scripts/ceph/install.sh && OBJECTSTORE=bluestore scripts/ceph/run.sh \
 *     deno run --allow-net --allow-env --allow-read bench/s3_bench.ts
 *
 * Use bluestore for GiB-sized runs: memstore keeps every byte in the OSD's RAM, deleted ones
 * too until radosgw's garbage collection catches up (16 GiB RSS was seen after a few 1 GiB PUTs).
 *
 * Environment: FERRY_TEST_S3_ENDPOINT, FERRY_TEST_S3_ACCESS_KEY, FERRY_TEST_S3_SECRET_KEY (as the
 * tests), S3_BENCH_MIB (1024), S3_BENCH_PART_MIB (16), S3_BENCH_PARALLEL (4), S3_BENCH_REPS (3),
 * S3_BENCH_LIST_KEYS (2000).
 *
 * @module
 */

import { createHash } from "node:crypto";
import {
  abortMultipartUpload,
  completeMultipartUpload,
  createBucket,
  createMultipartUpload,
  deleteBucket,
  deleteObject,
  deleteObjects,
  getObject,
  headObject,
  listMultipartUploads,
  listObjects,
  listObjectsPage,
  ObjectReader,
  putObject,
  ResumableSha256,
  S3Client,
  uploadPart,
} from "../server/storage/s3/mod.ts";

const env = (k: string, d: string) => Deno.env.get(k) ?? d;
const ENDPOINT = Deno.env.get("FERRY_TEST_S3_ENDPOINT");
if (!ENDPOINT) {
  console.error("set FERRY_TEST_S3_* (scripts/ceph/run.sh does)");
  Deno.exit(2);
}
const MiB = 1024 * 1024;
const SIZE = Number(env("S3_BENCH_MIB", "1024")) * MiB;
const PART = Number(env("S3_BENCH_PART_MIB", "16")) * MiB;
const PARALLEL = Number(env("S3_BENCH_PARALLEL", "4"));
const REPS = Number(env("S3_BENCH_REPS", "3"));
const LIST_KEYS = Number(env("S3_BENCH_LIST_KEYS", "2000"));

const client = new S3Client({
  endpoint: ENDPOINT,
  bucket: `ferry-bench-${Date.now().toString(36)}`,
  region: Deno.env.get("FERRY_TEST_S3_REGION") || undefined,
  credentials: {
    accessKeyId: env("FERRY_TEST_S3_ACCESS_KEY", ""),
    secretAccessKey: env("FERRY_TEST_S3_SECRET_KEY", ""),
  },
});

const rate = (bytes: number, ms: number) => `${(bytes / MiB / (ms / 1000)).toFixed(0)} MiB/s`;
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `median ${s[s.length >> 1].toFixed(1)} ms, p90 ${
    s[Math.floor(s.length * 0.9)].toFixed(1)
  } ms, min ${s[0].toFixed(1)} ms`;
};

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t = performance.now();
  const r = await fn();
  return [performance.now() - t, r];
}

/** Uploads `data` as a multipart object, `PARALLEL` parts in flight, hashing with `hash`. */
async function multipartPut(
  key: string,
  data: Uint8Array,
  hash: "none" | "node" | "resumable",
): Promise<string> {
  const uploadId = await createMultipartUpload(client, key);
  const count = Math.ceil(data.length / PART);
  const etags: string[] = new Array(count);
  // parts are hashed in order (as bytes arrive on a connection), uploaded PARALLEL at a time
  const node = createHash("sha256");
  const resumable = hash === "resumable" ? await ResumableSha256.create() : undefined;
  let checkpoints: Promise<unknown> = Promise.resolve();
  let checkpointEtag: string | undefined;
  const inFlight = new Set<Promise<void>>();
  for (let i = 0; i < count; i++) {
    const body = data.subarray(i * PART, Math.min((i + 1) * PART, data.length));
    if (hash === "node") node.update(body);
    const p = (async () => {
      etags[i] = (await uploadPart(client, key, uploadId, i + 1, body)).etag;
    })();
    if (resumable) {
      resumable.update(body);
      const state = resumable.save();
      // the checkpoint after part i is written once parts 1..i are stored, by compare-and-swap
      checkpoints = Promise.all([checkpoints, p]).then(async () => {
        const written = await putObject(
          client,
          `.ferry-uploads/${uploadId}`,
          state,
          checkpointEtag === undefined ? { ifNoneMatch: "*" } : { ifMatch: checkpointEtag },
        );
        checkpointEtag = written.etag;
      });
    }
    const done: Promise<void> = p.then(() => {
      inFlight.delete(done);
    });
    inFlight.add(done);
    if (inFlight.size >= PARALLEL) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  await checkpoints;
  await completeMultipartUpload(
    client,
    key,
    uploadId,
    etags.map((etag, i) => ({ partNumber: i + 1, etag })),
  );
  if (resumable) {
    await deleteObject(client, `.ferry-uploads/${uploadId}`);
    return Array.from(resumable.digest(), (b) => b.toString(16).padStart(2, "0")).join("");
  }
  return hash === "node" ? node.digest("hex") : "";
}

async function main(): Promise<void> {
  await createBucket(client);
  console.log(
    `store ${ENDPOINT}, object ${SIZE / MiB} MiB, parts ${
      PART / MiB
    } MiB, ${PARALLEL} in flight, ${REPS} runs`,
  );
  const data = new Uint8Array(SIZE);
  for (let o = 0; o < SIZE; o += 65536) crypto.getRandomValues(data.subarray(o, o + 65536));
  const want = createHash("sha256").update(data).digest("hex");

  // --- hashing alone
  for (
    const [name, make] of [
      ["node:crypto", () => {
        const h = createHash("sha256");
        return { update: (b: Uint8Array) => h.update(b), end: () => h.digest("hex") };
      }],
      ["hash-wasm (ResumableSha256)", () => {
        let h: ResumableSha256;
        return {
          init: async () => (h = await ResumableSha256.create()),
          update: (b: Uint8Array) => h.update(b),
          end: () => Array.from(h.digest(), (b) => b.toString(16).padStart(2, "0")).join(""),
        };
      }],
    ] as const
  ) {
    const times: number[] = [];
    for (let r = 0; r < REPS; r++) {
      const h = make() as {
        init?: () => Promise<unknown>;
        update: (b: Uint8Array) => void;
        end: () => string;
      };
      await h.init?.();
      const t = performance.now();
      for (let o = 0; o < SIZE; o += 65536) h.update(data.subarray(o, o + 65536));
      if (h.end() !== want) throw new Error("hash mismatch");
      times.push(performance.now() - t);
    }
    console.log(`hash ${name}: ${times.map((t) => rate(SIZE, t)).join(", ")}`);
  }

  // --- PUT
  for (const hash of ["none", "node", "resumable"] as const) {
    const runs: string[] = [];
    for (let r = 0; r < REPS; r++) {
      const [ms, digest] = await timed(() => multipartPut(`big-${hash}`, data, hash));
      if (hash !== "none" && digest !== want) throw new Error(`${hash}: digest differs`);
      runs.push(rate(SIZE, ms));
      // keep one object for the GETs; delete the others at once (a store keeps their data
      // until garbage collection: with memstore, in RAM)
      if (hash !== "none" || r < REPS - 1) await deleteObject(client, `big-${hash}`);
    }
    console.log(`multipart PUT, hash ${hash}: ${runs.join(", ")}`);
  }
  if (SIZE <= 5 * 1024 * MiB) {
    const runs: string[] = [];
    for (let r = 0; r < REPS; r++) {
      const [ms] = await timed(() => putObject(client, "single", data));
      runs.push(rate(SIZE, ms));
      await deleteObject(client, "single");
    }
    console.log(`single PUT (one request, ${SIZE / MiB} MiB body): ${runs.join(", ")}`);
  }

  // --- GET
  const key = "big-none";
  const size = (await headObject(client, key)).size;
  const gets: Record<string, string[]> = {};
  const add = (name: string, ms: number) => (gets[name] ??= []).push(rate(size, ms));
  for (let r = 0; r < REPS; r++) {
    add(
      "GET whole, stream chunks counted",
      (await timed(async () => {
        let n = 0;
        for await (const c of (await getObject(client, key)).body) n += c.length;
        if (n !== size) throw new Error("short");
      }))[0],
    );
    add(
      "GET whole + node:crypto SHA-256",
      (await timed(async () => {
        const h = createHash("sha256");
        for await (const c of (await getObject(client, key)).body) h.update(c);
        if (h.digest("hex") !== want) throw new Error("digest");
      }))[0],
    );
    add(
      "ObjectReader.read into one 64 KiB buffer (copy)",
      (await timed(async () => {
        const reader = await ObjectReader.open(client, key);
        const buf = new Uint8Array(65_531);
        let n = 0;
        for (let k = await reader.read(buf); k !== null; k = await reader.read(buf)) n += k;
        await reader.close();
        if (n !== size) throw new Error("short");
      }))[0],
    );
    add(
      "GET whole, BYOB reader into 64 KiB (buffer transferred)",
      (await timed(async () => {
        const reader = (await getObject(client, key)).body.getReader({ mode: "byob" });
        let buf = new Uint8Array(65_536);
        let n = 0;
        for (;;) {
          const { done, value } = await reader.read(buf);
          if (done) break;
          n += value.length;
          buf = new Uint8Array(value.buffer);
        }
        if (n !== size) throw new Error(`short ${n}`);
      }))[0],
    );
    add(
      `${PARALLEL} parallel Range GETs`,
      (await timed(async () => {
        const q = Math.ceil(size / PARALLEL);
        await Promise.all(Array.from({ length: PARALLEL }, async (_, i) => {
          let n = 0;
          const g = await getObject(client, key, {
            offset: i * q,
            length: Math.min(q, size - i * q),
          });
          for await (const c of g.body) n += c.length;
          if (n !== g.length) throw new Error("short range");
        }));
      }))[0],
    );
  }
  for (const [name, runs] of Object.entries(gets)) console.log(`${name}: ${runs.join(", ")}`);

  // --- small requests
  const kib = new Uint8Array(1024);
  crypto.getRandomValues(kib);
  const lat: Record<string, number[]> = {};
  for (let i = 0; i < 100; i++) {
    (lat["PUT 1 KiB"] ??= []).push((await timed(() => putObject(client, `small/${i}`, kib)))[0]);
    (lat["PUT 1 KiB If-None-Match: *"] ??= []).push(
      (await timed(() => putObject(client, `small-new/${i}`, kib, { ifNoneMatch: "*" })))[0],
    );
  }
  for (let i = 0; i < 100; i++) {
    (lat["GET 1 KiB"] ??= []).push(
      (await timed(async () =>
        new Response((await getObject(client, `small/${i}`)).body).arrayBuffer()
      ))[0],
    );
    (lat["HEAD"] ??= []).push((await timed(() => headObject(client, `small/${i}`)))[0]);
  }
  for (const [name, xs] of Object.entries(lat)) console.log(`${name}: ${stats(xs)}`);

  // --- list pages
  let next = 0;
  await Promise.all(Array.from({ length: 32 }, async () => {
    for (let i = next++; i < LIST_KEYS; i = next++) {
      await putObject(client, `list/${String(i).padStart(6, "0")}`, new Uint8Array(0));
    }
  }));
  for (const pageSize of [10, 100, 1000]) {
    const xs: number[] = [];
    for (let r = 0; r < 20; r++) {
      xs.push((await timed(() => listObjectsPage(client, { prefix: "list/", pageSize })))[0]);
    }
    console.log(`LIST page of ${pageSize} keys: ${stats(xs)}`);
  }
  const [all] = await timed(async () => {
    let n = 0;
    for await (const _ of listObjects(client, { prefix: "list/" })) n++;
    if (n !== LIST_KEYS) throw new Error(`listed ${n}`);
  });
  console.log(`LIST ${LIST_KEYS} keys through the iterator: ${all.toFixed(0)} ms`);
}

try {
  await main();
} finally {
  for await (const u of listMultipartUploads(client)) {
    await abortMultipartUpload(client, u.key, u.uploadId).catch(() => {});
  }
  let batch: string[] = [];
  for await (const e of listObjects(client)) {
    if (e.kind === "object") batch.push(e.key);
    if (batch.length === 1000) {
      await deleteObjects(client, batch);
      batch = [];
    }
  }
  await deleteObjects(client, batch);
  await deleteBucket(client);
}
