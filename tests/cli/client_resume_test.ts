/**
 * Resuming from the CLI: `get --resume` and `put --resume` continue interrupted transfers, and
 * a get or put cut off by a lost connection reconnects by itself (0.5, 1, 2 s) and resumes.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  checksumHex,
  ferry,
  randomBytes,
  relay,
  type RelayOptions,
  startServer,
  tempDir,
  TOKENS,
} from "../_helpers/mod.ts";
import { connect, type FerryClient, isInterruption } from "../../mod.ts";

async function setup() {
  const ts = await startServer();
  const dir = await tempDir("ferry-resume-cli-");
  await Deno.writeTextFile(`${dir.path}/ca.pem`, ts.ca);
  const args = (port: number) => [
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "--ca",
    `${dir.path}/ca.pem`,
    "--token",
    TOKENS.admin,
  ];
  const run = (port: number, a: string[]) =>
    ferry(dir.path, [...args(port), ...a], { FERRY_CONFIG_DIR: `${dir.path}/config` });
  return {
    ts,
    cwd: dir.path,
    run,
    async [Symbol.asyncDispose]() {
      await ts.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}

Deno.test("client resume: a get cut off mid-transfer reconnects and resumes by itself", async () => {
  await using s = await setup();
  const data = randomBytes(24 * 1024 * 1024);
  await s.ts.files.write("big.bin", data);
  await using cut = relay(s.ts.port, { cutDownAfter: 6 * 1024 * 1024 });
  const run = await s.run(cut.port, ["get", "--json", "big.bin", "big.out"]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /get big\.bin: .*reconnecting in 0\.5 s \(try 1 of 3\)/);
  const doc = JSON.parse(run.stdout);
  assert.ok(doc.files[0].resumed > 0, `resumed: ${run.stdout}`);
  assert.equal(doc.files[0].resumed + doc.files[0].bytes, data.length);
  assert.equal(doc.files[0].checksum, await checksumHex(data));
  assert.deepEqual(await Deno.readFile(`${s.cwd}/big.out`), data);
  assert.equal(cut.connections(), 2);
});

Deno.test("client resume: a put cut off mid-transfer reconnects and resumes by itself", async () => {
  await using s = await setup();
  const data = randomBytes(24 * 1024 * 1024);
  await Deno.writeFile(`${s.cwd}/up.bin`, data);
  await using cut = relay(s.ts.port, { cutUpAfter: 8 * 1024 * 1024 });
  const run = await s.run(cut.port, ["put", "--json", "up.bin", "up.bin"]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /reconnecting/);
  const doc = JSON.parse(run.stdout);
  assert.ok(doc.files[0].resumed > 0, `resumed: ${run.stdout}`);
  assert.deepEqual(await s.ts.files.read("up.bin"), data);
});

Deno.test("client resume: after three failed reconnects the CLI gives up (3)", async () => {
  await using s = await setup();
  await s.ts.files.write("big.bin", randomBytes(16 * 1024 * 1024));
  await using cut = relay(s.ts.port, { cutDownAfter: 2 * 1024 * 1024, cutConnections: 4 });
  const run = await s.run(cut.port, ["get", "big.bin", "big.out"]);
  assert.equal(run.code, 3, run.stderr);
  assert.match(run.stderr, /try 3 of 3/);
  assert.equal(cut.connections(), 4);
  assert.match(run.stderr, /\[CONNECTION_CLOSED\]\n$/);
});

Deno.test("client resume: get --resume and put --resume continue what an interrupted library call left", async () => {
  await using s = await setup();
  const data = randomBytes(16 * 1024 * 1024);
  await s.ts.files.write("big.bin", data);
  await Deno.writeFile(`${s.cwd}/up.bin`, data);
  const interrupted = async (op: (c: FerryClient) => Promise<unknown>, cut: RelayOptions) => {
    await using r = relay(s.ts.port, cut);
    const client = await connect({
      hostname: "127.0.0.1",
      port: r.port,
      token: TOKENS.admin,
      caCerts: [s.ts.ca],
    });
    await assert.rejects(op(client), (e) => isInterruption(e));
    client.close();
    await client.closed;
  };
  await interrupted(
    (c) => c.download("big.bin", `${s.cwd}/big.out`),
    { cutDownAfter: 4 * 1024 * 1024 },
  );
  const get = await s.run(s.ts.port, ["get", "--resume", "--json", "big.bin", "big.out"]);
  assert.equal(get.code, 0, get.stderr);
  assert.ok(JSON.parse(get.stdout).files[0].resumed > 0, get.stdout);
  assert.deepEqual(await Deno.readFile(`${s.cwd}/big.out`), data);

  // The CLI's put sends no modification time without -p; the partial is keyed on it.
  await interrupted(
    (c) => c.upload(`${s.cwd}/up.bin`, "up.bin", { mtime: null }),
    { cutUpAfter: 6 * 1024 * 1024 },
  );
  // Wait until the server noticed and kept the partial.
  let kept = false;
  for (let i = 0; i < 100 && !kept; i++) {
    kept = (await s.ts.files.kept()).length > 0;
    if (!kept) await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(kept, "the server kept no partial of the interrupted upload within 2 s");
  const put = await s.run(s.ts.port, ["put", "--resume", "--json", "up.bin", "up.bin"]);
  assert.equal(put.code, 0, put.stderr);
  assert.ok(JSON.parse(put.stdout).files[0].resumed > 0, put.stdout);
  assert.deepEqual(await s.ts.files.read("up.bin"), data);
});
