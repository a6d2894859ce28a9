/**
 * Concurrent uploads to one name (issue 10 item 2, catalogue row 44): four library uploads of
 * the same size and modification time to one name, round after round, while a reader loops on
 * the name. The final name must hold exactly one complete upload that was told OK (the last
 * to commit); no reader may ever see anything else; no upload may fail because another one
 * runs; no error message may carry a server path.
 */

import assert from "node:assert/strict";
import type { FerryClient } from "../../mod.ts";
import { FerryError } from "../../mod.ts";
import {
  KiB,
  randomBytes,
  sha256Hex,
  startServer,
  STORAGE_KINDS,
  type TestServer,
  TOKENS,
} from "../_helpers/mod.ts";

const WRITERS = 4;
const ROUNDS = 40;
const SIZE = 192 * KiB;
const NAME = "same.bin";

/** Downloads `path` into memory; resolves to its hex SHA-256, or the error's code. */
async function readOnce(c: FerryClient, path: string): Promise<string> {
  const chunks: Uint8Array[] = [];
  try {
    await c.download(path, new WritableStream({ write: (chunk) => void chunks.push(chunk) }));
  } catch (err) {
    if (err instanceof FerryError && err.code === "NOT_FOUND") return "NOT_FOUND";
    throw err;
  }
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const chunk of chunks) {
    all.set(chunk, o);
    o += chunk.length;
  }
  return sha256Hex(all);
}

/** The connection number of each writer, learnt from the log line of a small upload. */
async function connectionsOf(t: TestServer, writers: FerryClient[]): Promise<number[]> {
  const conns: number[] = [];
  for (const [k, w] of writers.entries()) {
    await w.upload(new Uint8Array([k]), `who-${k}`);
    const line = t.logs.find((l) => l.op === "put" && l.path === `who-${k}` && l.result === "ok");
    assert.ok(typeof line?.conn === "number", `the log names writer ${k}'s connection`);
    conns.push(line.conn);
  }
  return conns;
}

for (const kind of STORAGE_KINDS) {
  Deno.test({
    name:
      `concurrent uploads to one name (${kind}): the last one told OK wins, readers never see a partial`,
    async fn() {
      const t = await startServer({}, { storage: kind });
      const writers = await Promise.all(
        Array.from({ length: WRITERS }, () => t.client(TOKENS.write)),
      );
      const reader = await t.client(TOKENS.read);
      try {
        const conns = await connectionsOf(t, writers);
        const mtime = new Date("2021-02-03T04:05:06.000Z");
        const complete = new Set<string>(); // hashes of every upload sent so far
        const seen = { reads: 0, bad: [] as string[], missing: 0 };
        let reading = true;
        const readerLoop = (async () => {
          while (reading) {
            const got = await readOnce(reader, NAME);
            seen.reads++;
            if (got === "NOT_FOUND") seen.missing++;
            else if (!complete.has(got)) seen.bad.push(got);
          }
        })();
        const failures: string[] = [];
        const wrongWinner: string[] = [];
        try {
          for (let round = 0; round < ROUNDS; round++) {
            const datas = writers.map(() => randomBytes(SIZE));
            const hashes = datas.map(sha256Hex);
            for (const h of hashes) complete.add(h);
            const logStart = t.logs.length;
            const results = await Promise.allSettled(
              writers.map((w, k) => w.upload(datas[k], NAME, { mtime })),
            );
            const told = new Set<string>();
            for (const [k, r] of results.entries()) {
              if (r.status === "fulfilled") told.add(hashes[k]);
              else failures.push(`round ${round} writer ${k}: ${String(r.reason)}`);
            }
            const final = await writers[0].hash(NAME);
            if (!told.has(final)) {
              wrongWinner.push(`round ${round}: the final file is no upload that was told OK`);
            }
            const commits = t.logs.slice(logStart).filter((l) =>
              l.op === "put" && l.path === NAME && l.result === "ok"
            );
            const last = commits.at(-1);
            const lastWriter = conns.indexOf(Number(last?.conn));
            if (lastWriter < 0 || hashes[lastWriter] !== final) {
              wrongWinner.push(`round ${round}: the final file is not the last upload committed`);
            }
          }
        } finally {
          reading = false;
          await readerLoop;
        }
        const leaks = failures.filter((f) => f.includes(t.root) || /\/tmp\//.test(f));
        assert.deepEqual(leaks, [], "no error message names a server path");
        assert.deepEqual(failures, [], "no upload fails because another one runs");
        assert.deepEqual(wrongWinner, []);
        assert.ok(seen.reads > ROUNDS, `the reader read only ${seen.reads} times`);
        assert.deepEqual(seen.bad, [], "a reader saw a file that is no complete upload");
        const names = [...Deno.readDirSync(t.root)].map((e) => e.name).sort();
        assert.deepEqual(names, [NAME, ...writers.map((_, k) => `who-${k}`)].sort());
      } finally {
        for (const c of [...writers, reader]) c.close();
        await Promise.all([...writers, reader].map((c) => c.closed));
        await t.close();
      }
    },
  });
}
