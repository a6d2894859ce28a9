/**
 * Chaos: the server process is killed with SIGKILL in the middle of transfers, at random points,
 * and restarted on the same port and directory.
 *
 * - Uploads: every time, the final name must hold a complete version (the old or the new one, by
 *   SHA-256), never a mix; the client's call ends as completed (then the new version is in
 *   place) or with an interruption; `resume` then finishes the upload with the right hash.
 * - Downloads: the client's call ends as completed (the file is whole) or with an interruption,
 *   which leaves nothing under the target name and a hidden partial holding exactly a prefix of
 *   the remote file; `resume` continues from all of it and the file verifies.
 *
 * The number of trials is CHAOS_TRIALS (default 6); the seed is printed for replay.
 */

import assert from "node:assert/strict";
import { connect, type FerryClient, FerryError, isInterruption } from "../../mod.ts";
import {
  checksumHex,
  closeClient,
  emptyPrefix,
  exists,
  freePort,
  freshPrefix,
  MiB,
  ON_S3,
  randomBytes,
  type ServerProcess,
  sha256Hex,
  spawnServer,
  testS3Client,
  waitFor,
} from "../_helpers/mod.ts";

const TRIALS = Number(Deno.env.get("CHAOS_TRIALS") ?? 6);

/** A tiny seeded generator (mulberry32), so a failing run can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A server process that can be killed and restarted in the same place, and its client. */
interface Chaos {
  /** The temporary directory: the server's ./data and ./certs, and local files. */
  base: string;
  /** A random number in [0, 1) from the printed seed. */
  random: () => number;
  /** The current server process. */
  server: ServerProcess;
  /** A client of the current server process. */
  client: FerryClient;
  /** Kills the server with SIGKILL (once per process, however often it is called). */
  kill(): void;
  /** Waits for the killed server to exit, starts a new one, and connects a new client. */
  restart(): Promise<void>;
}

/** Runs `fn` with a fresh {@linkcode Chaos}, and always stops the server and cleans up. */
async function withChaos(what: string, fn: (c: Chaos) => Promise<void>): Promise<void> {
  const seed = Number(Deno.env.get("CHAOS_SEED") ?? Date.now() % 1_000_000);
  console.log(`chaos (${what}) seed ${seed}, ${TRIALS} trials (CHAOS_SEED=${seed} replays)`);
  const base = await Deno.makeTempDir({ prefix: "ferry-chaos-" });
  const port = freePort();
  // on S3, the restarted server must find the same prefix again
  const s3Prefix = ON_S3 ? freshPrefix("chaos") : undefined;
  const server = await spawnServer([], { cwd: base, port, s3Prefix });
  const token = (await Deno.readTextFile(`${base}/certs/token`)).trim();
  const ca = await Deno.readTextFile(`${base}/certs/ca.pem`);
  const open = () => connect({ hostname: "localhost", port, token, caCerts: [ca] });
  let killed = false;
  const chaos: Chaos = {
    base,
    random: rng(seed),
    server,
    client: await open().catch(async (err) => {
      await server.stop();
      await Deno.remove(base, { recursive: true });
      throw err;
    }),
    kill() {
      if (killed) return;
      killed = true;
      chaos.server.kill("SIGKILL");
    },
    async restart() {
      chaos.kill();
      await chaos.server.exited;
      await closeClient(chaos.client);
      chaos.server = await spawnServer([], { cwd: base, port, s3Prefix });
      killed = false;
      chaos.client = await open();
    },
  };
  try {
    await fn(chaos);
  } finally {
    await closeClient(chaos.client);
    await chaos.server.stop();
    if (s3Prefix !== undefined) await emptyPrefix(await testS3Client(), s3Prefix);
    await Deno.remove(base, { recursive: true });
  }
}

/** "completed", or the code of the FerryError the transfer failed with. */
async function outcomeOf(transfer: Promise<unknown>): Promise<string> {
  try {
    await transfer;
    return "completed";
  } catch (err) {
    assert.ok(err instanceof FerryError, `a transfer fails with a FerryError, not ${err}`);
    assert.ok(isInterruption(err), `a killed server is an interruption, not ${err.code}`);
    return err.code;
  }
}

Deno.test("chaos: SIGKILL mid-upload leaves old-or-new complete files, and resume finishes them", async () => {
  await withChaos("uploads", async (chaos) => {
    const versions = [randomBytes(24 * MiB), randomBytes(24 * MiB)];
    const hashes = versions.map(sha256Hex);
    const checksums = await Promise.all(versions.map(checksumHex));
    const locals = [`${chaos.base}/v0.bin`, `${chaos.base}/v1.bin`];
    await Deno.writeFile(locals[0], versions[0]);
    await Deno.writeFile(locals[1], versions[1]);
    await chaos.client.upload(locals[0], "doc.bin");
    let current = 0;
    let resumedBytes = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      const next = 1 - current;
      const killAt = Math.floor((0.2 + 0.75 * chaos.random()) * versions[next].length);
      let killing: Promise<void> | undefined;
      let settled = false;
      const upload = chaos.client.upload(locals[next], "doc.bin", {
        onProgress: (p) => {
          if (p.bytes < killAt || killing !== undefined) return;
          if (!ON_S3) {
            chaos.kill();
            killing = Promise.resolve();
            return;
          }
          // On S3 a killed server keeps only the parts the store acknowledged (8 MiB each), not
          // what it held in memory: the kill waits for the first checkpoint (or the end of the
          // upload), so that the resume below has something to resume from.
          killing = waitFor(
            async () => settled || (await chaos.server.files.kept()).length > 0,
            "the upload's first checkpoint",
            30_000,
          ).then(() => {
            if (!settled) chaos.kill();
          });
        },
      });
      const outcome = await outcomeOf(upload.finally(() => settled = true));
      await killing;
      await chaos.restart();
      const onDisk = sha256Hex(await chaos.server.files.read("doc.bin"));
      const label = `trial ${trial} (kill at ${killAt}, ${outcome})`;
      assert.ok(
        onDisk === hashes[current] || onDisk === hashes[next],
        `${label}: the final name holds a complete version`,
      );
      if (outcome === "completed") {
        assert.equal(onDisk, hashes[next], `${label}: a completed upload is in place`);
      }
      const names = await chaos.server.files.names();
      assert.ok(names.every((n) => n === "doc.bin" || chaos.server.files.keptPattern.test(n)));
      const listed = (await chaos.client.list()).map((e) => e.name);
      assert.deepEqual(listed, ["doc.bin"], "only the final name is listed");
      // Resume the interrupted upload (or re-send it if it had completed).
      const resumed = await chaos.client.upload(locals[next], "doc.bin", { resume: true });
      console.log(`${label}: resumed ${resumed.resumed}`);
      assert.equal(resumed.checksum, checksums[next]);
      assert.equal(resumed.bytes + resumed.resumed, versions[next].length);
      assert.equal(
        await chaos.client.hash("doc.bin"),
        hashes[next],
        `${label}: resumed upload verifies`,
      );
      resumedBytes += resumed.resumed;
      current = next;
    }
    assert.ok(resumedBytes > 0, "at least one upload was resumed rather than restarted");
  });
});

Deno.test("chaos: SIGKILL mid-download leaves no file but a partial holding a prefix, and resume finishes it", async () => {
  await withChaos("downloads", async (chaos) => {
    const data = randomBytes(24 * MiB);
    const hash = sha256Hex(data);
    const checksum = await checksumHex(data);
    await chaos.server.files.write("doc.bin", data);
    let resumedBytes = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      const target = `${chaos.base}/copy-${trial}.bin`;
      const partial = `${chaos.base}/.copy-${trial}.bin.ferry-partial`;
      const killAt = Math.floor((0.2 + 0.75 * chaos.random()) * data.length);
      const outcome = await outcomeOf(chaos.client.download("doc.bin", target, {
        onProgress: (p) => {
          if (p.bytes >= killAt) chaos.kill();
        },
      }));
      const label = `trial ${trial} (kill at ${killAt}, ${outcome})`;
      await chaos.restart();
      let kept = 0;
      if (outcome === "completed") {
        assert.equal(sha256Hex(await Deno.readFile(target)), hash, `${label}: the file is whole`);
        assert.equal(await exists(partial), false, `${label}: no partial is left`);
      } else {
        assert.equal(await exists(target), false, `${label}: nothing under the target name`);
        const prefix = await Deno.readFile(partial);
        kept = prefix.length;
        assert.ok(kept > 0 && kept < data.length, `${label}: the partial holds ${kept} bytes`);
        assert.equal(
          sha256Hex(prefix),
          sha256Hex(data.subarray(0, kept)),
          `${label}: the partial holds exactly a prefix of the remote file`,
        );
      }
      const resumed = await chaos.client.download("doc.bin", target, { resume: true });
      console.log(`${label}: kept ${kept}, resumed ${resumed.resumed}`);
      assert.equal(resumed.resumed, outcome === "completed" ? 0 : kept, `${label}: resumed`);
      assert.equal(resumed.bytes + resumed.resumed, data.length);
      assert.equal(resumed.checksum, checksum);
      assert.equal(sha256Hex(await Deno.readFile(target)), hash, `${label}: the file verifies`);
      assert.equal(await exists(partial), false, `${label}: the partial became the file`);
      resumedBytes += resumed.resumed;
    }
    assert.ok(resumedBytes > 0, "at least one download was resumed rather than restarted");
  });
});
