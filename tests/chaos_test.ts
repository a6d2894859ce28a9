/**
 * Chaos: the server process is killed with SIGKILL in the middle of uploads, at random points,
 * and restarted. Every time, the final name must hold a complete version (the old or the new
 * one, by SHA-256), never a mix, and `resume` must then finish the upload with the right hash.
 * The number of trials is CHAOS_TRIALS (default 6); the seed is printed for replay.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { connect, type FerryClient, type FerryError } from "../mod.ts";
import { randomBytes, sha256Hex, xxh128Hex } from "./helpers.ts";
import { freePort } from "./raw.ts";

const REPO = fileURLToPath(new URL("..", import.meta.url));
const MiB = 1024 * 1024;

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

interface ServerProcess {
  child: Deno.ChildProcess;
  output: () => string;
}

async function startServer(base: string, port: number): Promise<ServerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      `${REPO}server/main.ts`,
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--root",
      `${base}/root`,
      "--certs",
      `${base}/certs`,
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let text = "";
  const drained = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) text += chunk;
  })();
  drained.catch(() => {});
  const deadline = Date.now() + 20_000;
  while (!text.includes("listening on")) {
    if (Date.now() > deadline) throw new Error(`server did not start:\n${text}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { child, output: () => text };
}

async function stop(server: ServerProcess, signal: Deno.Signal): Promise<void> {
  try {
    server.child.kill(signal);
  } catch {
    // already gone
  }
  await server.child.status;
}

Deno.test("chaos: SIGKILL mid-upload leaves old-or-new complete files, and resume finishes them", async () => {
  const seed = Number(Deno.env.get("CHAOS_SEED") ?? Date.now() % 1_000_000);
  const trials = Number(Deno.env.get("CHAOS_TRIALS") ?? 6);
  console.log(`chaos seed ${seed}, ${trials} trials (CHAOS_SEED=${seed} replays)`);
  const random = rng(seed);
  const base = await Deno.makeTempDir({ prefix: "ferry-chaos-" });
  await Deno.mkdir(`${base}/root`);
  const port = freePort();
  let server = await startServer(base, port);
  const token = (await Deno.readTextFile(`${base}/certs/token`)).trim();
  const ca = await Deno.readTextFile(`${base}/certs/ca.pem`);
  const open = () => connect({ hostname: "localhost", port, token, caCerts: [ca] });
  let client: FerryClient | null = null;
  try {
    const versions = [randomBytes(24 * MiB), randomBytes(24 * MiB)];
    const hashes = versions.map(sha256Hex);
    const checksums = await Promise.all(versions.map(xxh128Hex));
    const locals = [`${base}/v0.bin`, `${base}/v1.bin`];
    await Deno.writeFile(locals[0], versions[0]);
    await Deno.writeFile(locals[1], versions[1]);
    client = await open();
    await client.upload(locals[0], "doc.bin");
    let current = 0;
    let resumedBytes = 0;
    for (let trial = 0; trial < trials; trial++) {
      const next = 1 - current;
      const killAt = Math.floor((0.2 + 0.75 * random()) * versions[next].length);
      const upload = client.upload(locals[next], "doc.bin", {
        onProgress: (p) => {
          if (p.bytes >= killAt) server.child.kill("SIGKILL");
        },
      });
      const outcome = await upload.then(() => "completed", (err: FerryError) => err.code);
      await stop(server, "SIGKILL");
      server = await startServer(base, port);
      client.close();
      await client.closed;
      client = await open();
      const onDisk = sha256Hex(await Deno.readFile(`${base}/root/doc.bin`));
      assert.ok(
        onDisk === hashes[current] || onDisk === hashes[next],
        `trial ${trial} (kill at ${killAt}, ${outcome}): the final name holds a complete version`,
      );
      const names = (await Array.fromAsync(Deno.readDir(`${base}/root`))).map((e) => e.name);
      assert.ok(names.every((n) => n === "doc.bin" || /^\.ferry-[0-9a-f]{32}\.partial$/.test(n)));
      const listed = (await client.list()).map((e) => e.name);
      assert.deepEqual(listed, ["doc.bin"], "only the final name is listed");
      // Resume the interrupted upload (or re-send it if it had completed).
      const resumed = await client.upload(locals[next], "doc.bin", { resume: true });
      console.log(
        `trial ${trial}: kill at ${killAt}, upload ${outcome}, resumed ${resumed.resumed}`,
      );
      assert.equal(resumed.checksum, checksums[next]);
      assert.equal(
        await client.hash("doc.bin"),
        hashes[next],
        `trial ${trial}: resumed upload verifies`,
      );
      resumedBytes += resumed.resumed;
      current = next;
    }
    assert.ok(resumedBytes > 0, "at least one upload was resumed rather than restarted");
  } finally {
    if (client !== null) {
      client.close();
      await client.closed;
    }
    await stop(server, "SIGTERM");
    await Deno.remove(base, { recursive: true });
  }
});
