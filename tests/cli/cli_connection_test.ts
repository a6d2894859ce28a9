/**
 * The `ferry` command when the connection is the problem (issue 11): a server killed in the
 * middle of a download (over a CA-verified and over a fingerprint-pinned connection alike), a
 * wrong port, a port where no TLS server listens, and a certificate made for another name. Each
 * ends within seconds with one line that says what is wrong and what to do; none waits forever.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createXXHash128 } from "hash-wasm";
import {
  assertFails,
  assertOk,
  exists,
  ferry,
  freePort,
  localOnly,
  randomBytes,
  relay,
  sleep,
  spawnServer,
  startFerry,
  startServer,
  tempDir,
  testCertificates,
  TOKENS,
  within,
} from "../_helpers/mod.ts";
import { fingerprint, generateCertificates } from "../../server/certificates.ts";
import { connect, FerryError, isInterruption } from "../../mod.ts";
import { accountFor } from "../../server/auth.ts";
import { serve } from "../../server/server.ts";
import type { LogFields } from "../../server/log.ts";

/** The fingerprint the server printed at start-up. */
function printedFingerprint(serverStderr: string): string {
  const m = serverStderr.match(/fingerprint ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})/);
  assert.ok(m, `the server printed its fingerprint: ${serverStderr}`);
  return m[1];
}

/** XXH3-128 of `n` zero bytes, computed in pieces by hash-wasm (npm). */
async function zerosXxh128(n: number): Promise<string> {
  const hash = await createXXHash128();
  const piece = new Uint8Array(1024 * 1024);
  for (let left = n; left > 0; left -= piece.length) {
    hash.update(left >= piece.length ? piece : piece.subarray(0, left));
  }
  return hash.digest("hex");
}

const BIG = 256 * 1024 * 1024;

for (const path of ["ca", "fingerprint"] as const) {
  Deno.test({
    name:
      `cli connection: a server killed mid-download (${path} path) ends the get with exit 3 within seconds; --resume continues`,
    ignore: localOnly("a 256 MiB sparse file in the server's ./data, served again after a restart"),
  }, async () => {
    await using dir = await tempDir(`ferry-kill-${path}-`);
    const serverDir = `${dir.path}/server`;
    const cwd = `${dir.path}/client`;
    await Deno.mkdir(serverDir);
    await Deno.mkdir(cwd);
    let server = await spawnServer([], { cwd: serverDir });
    try {
      const port = server.port;
      // A sparse 256 MiB file: the download lasts long enough to be cut whatever the machine.
      const f = await Deno.open(`${serverDir}/data/big.bin`, { write: true, create: true });
      await f.truncate(BIG);
      f.close();
      const token = (await Deno.readTextFile(`${serverDir}/certs/token`)).trim();
      const trust = path === "ca"
        ? ["--ca", `${serverDir}/certs/ca.pem`]
        : ["--trust", printedFingerprint(server.stderr())];
      const args = ["--host", "127.0.0.1", "--port", String(port), ...trust, "--token", token];
      const env = { FERRY_CONFIG_DIR: `${dir.path}/config` };

      const get = startFerry(cwd, [...args, "get", "-q", "big.bin", "big.bin"], env);
      const partial = `${cwd}/.big.bin.ferry-partial`;
      try {
        // Kill the server (the real process, SIGKILL) once some data has arrived.
        const deadline = Date.now() + 30_000;
        while (((await Deno.stat(partial).catch(() => null))?.size ?? 0) < 4 * 1024 * 1024) {
          assert.ok(Date.now() < deadline, `the download did not start: ${get.stderr()}`);
          await sleep(5);
        }
        server.kill("SIGKILL");
        await server.exited;
        const killed = performance.now();
        await within(get.child.status, 20_000, "the client ends after the kill");
        const seconds = (performance.now() - killed) / 1000;
        const run = await get.done;
        assertFails(run, 3, "UNREACHABLE|CONNECTION_CLOSED", `${path}: get after the kill`);
        assert.match(run.stderr, /no ferry server at 127\.0\.0\.1:\d+ \(connection refused\)/);
        assert.ok(seconds < 15, `ended ${seconds.toFixed(1)} s after the kill`);
      } finally {
        try {
          get.child.kill("SIGKILL");
        } catch {
          // exited
        }
        await get.done;
      }
      assert.ok(!(await exists(`${cwd}/big.bin`)), "nothing under the target name");
      const kept = (await Deno.stat(partial)).size;
      assert.ok(kept > 0, "the partial file is kept for --resume");

      // The same server back on the same port: --resume continues from the partial file.
      server = await spawnServer([], { cwd: serverDir, port });
      const resumed = await ferry(cwd, [...args, "get", "--resume", "--json", "big.bin"], env, {
        timeoutMs: 120_000,
      });
      assertOk(resumed, `${path}: get --resume`);
      const doc = JSON.parse(resumed.stdout);
      assert.ok(doc.files[0].resumed >= kept - 2 * 1024 * 1024, `resumed after ${kept} bytes`);
      assert.equal(doc.files[0].bytes + doc.files[0].resumed, BIG);
      assert.equal(doc.files[0].checksum, await zerosXxh128(BIG));
      assert.equal((await Deno.stat(`${cwd}/big.bin`)).size, BIG);
      assert.ok(!(await exists(partial)));
    } finally {
      await server.stop();
    }
  });
}

Deno.test("cli connection: a wrong port, and a port where an HTTP server listens, say so in one line", async (t) => {
  await using dir = await tempDir("ferry-conn-msg-");
  const cwd = dir.path;
  await Deno.writeTextFile(`${cwd}/token`, "some-token\n");
  const base = ["--host", "127.0.0.1", "--token", "some-token"];
  const env = { FERRY_CONFIG_DIR: `${cwd}/config` };

  await t.step("connection refused: 3, the port named, what to check", async () => {
    const port = freePort();
    const run = await ferry(cwd, [...base, "--port", String(port), "ls"], env);
    assertFails(run, 3, "UNREACHABLE", "refused");
    assert.match(
      run.stderr,
      new RegExp(
        `no ferry server at 127\\.0\\.0\\.1:${port} \\(connection refused\\); is it running, is --port right\\?`,
      ),
    );
  });

  await t.step("an HTTP server: 3, not a ferry server, it does not speak TLS", async () => {
    const ac = new AbortController();
    const http = Deno.serve(
      { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
      () => new Response("hello from http\n"),
    );
    try {
      const run = await ferry(cwd, [...base, "--port", String(http.addr.port), "ls"], env);
      assertFails(run, 3, "UNREACHABLE", "http");
      assert.match(run.stderr, /is not a ferry server: it does not speak TLS/);
      assert.doesNotMatch(run.stderr, /certificate|--ca|--trust/);
    } finally {
      ac.abort();
      await http.finished;
    }
  });

  await t.step("a server that accepts and hangs up: 3, said plainly", async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const accepting = (async () => {
      for await (const conn of listener) conn.close();
    })().catch(() => {});
    try {
      const port = (listener.addr as Deno.NetAddr).port;
      const run = await ferry(cwd, [...base, "--port", String(port), "ls"], env);
      assertFails(run, 3, "UNREACHABLE", "hang-up");
      assert.match(run.stderr, /closed the connection during the TLS handshake/);
    } finally {
      listener.close();
      await accepting;
    }
  });
});

Deno.test("cli connection: a certificate made for another name is reported as exactly that, with its names", async () => {
  await using dir = await tempDir("ferry-conn-name-");
  const name = Deno.hostname(); // resolves to 127.0.0.1 here, and is not "localhost"
  assert.notEqual(name, "localhost");
  const set = await generateCertificates([name]);
  await Deno.mkdir(`${dir.path}/root`);
  await Deno.writeTextFile(`${dir.path}/root/hello.txt`, "hello\n");
  await Deno.writeTextFile(`${dir.path}/ca.pem`, set.caCert);
  const logs: LogFields[] = [];
  const server = await serve({
    hostname: "127.0.0.1",
    port: 0,
    root: `${dir.path}/root`,
    cert: set.cert,
    key: set.key,
    accounts: [accountFor("admin", "admin", "name-test-token")],
    log: (f) => logs.push(f),
  });
  try {
    const port = String(server.addr.port);
    const env = { FERRY_CONFIG_DIR: `${dir.path}/config` };
    const args = ["--port", port, "--ca", `${dir.path}/ca.pem`, "--token", "name-test-token"];
    const ok = await ferry(dir.path, ["--host", name, ...args, "ls"], env);
    assertOk(ok, "by the certificate's name");
    assert.equal(ok.stdout, "hello.txt\n");

    const before = logs.filter((l) => l.event === "auth").length;
    const wrong = await ferry(dir.path, ["--host", "localhost", ...args, "ls"], env);
    assertFails(wrong, 4, "TLS", "by a name the certificate does not have");
    assert.ok(
      wrong.stderr.includes(
        `the certificate of localhost:${port} is not valid for the name localhost ` +
          `(it is only valid for ${name})`,
      ),
      wrong.stderr,
    );
    assert.ok(
      wrong.stderr.includes(
        "restart the server with --name localhost, or regenerate it with " +
          "`ferry-server certs --name localhost`",
      ),
      wrong.stderr,
    );
    assert.doesNotMatch(wrong.stderr, /--ca|--trust|fingerprint/, "no advice about the CA");
    assert.equal(logs.filter((l) => l.event === "auth").length, before, "no token was sent");
  } finally {
    await server.shutdown("test done");
    await server.finished;
  }
});

Deno.test("client connection: a server that stops moving data mid-transfer is a TIMEOUT within the stall timeout, on both trust paths", async (t) => {
  const ts = await startServer();
  try {
    const data = randomBytes(32 * 1024 * 1024);
    await ts.files.write("big.bin", data);
    const set = await testCertificates();
    const paths = {
      ca: { caCerts: [ts.ca] },
      fingerprint: { trustedFingerprint: await fingerprint(set.cert) },
    };
    for (const [path, trust] of Object.entries(paths)) {
      await t.step(`${path}: a download that stops receiving`, async () => {
        await using stalled = relay(ts.port, { stallDownAfter: 1024 * 1024 });
        const client = await connect({
          hostname: "localhost",
          port: stalled.port,
          token: TOKENS.admin,
          stallTimeoutMs: 1_500,
          ...trust,
        });
        try {
          const started = performance.now();
          await assert.rejects(
            within(client.download("big.bin", `${ts.outside}/${path}.bin`), 10_000, "download"),
            (e) => e instanceof FerryError && e.code === "TIMEOUT" && isInterruption(e),
          );
          assert.ok(performance.now() - started < 8_000);
          assert.ok(
            (await Deno.stat(`${ts.outside}/.${path}.bin.ferry-partial`)).size > 0,
            "the partial is kept for a resume",
          );
        } finally {
          client.close();
          await client.closed;
        }
      });
      await t.step(`${path}: an upload the server stops taking`, async () => {
        await using stalled = relay(ts.port, { stallUpAfter: 1024 * 1024 });
        const client = await connect({
          hostname: "localhost",
          port: stalled.port,
          token: TOKENS.admin,
          stallTimeoutMs: 1_500,
          ...trust,
        });
        try {
          await assert.rejects(
            within(client.upload(data, `${path}-up.bin`), 10_000, "upload"),
            (e) => e instanceof FerryError && e.code === "TIMEOUT" && isInterruption(e),
          );
        } finally {
          client.close();
          await client.closed;
        }
      });
    }
  } finally {
    await ts.close();
  }
});
