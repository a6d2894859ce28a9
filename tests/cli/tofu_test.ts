/**
 * Trust on first use: a server whose certificate no trusted CA signed is refused with its
 * fingerprint shown (exit 4) before the token is sent, accepted with `--trust` or a yes at a
 * terminal, remembered per host:port in `known_servers`, and refused loudly once its
 * certificate changes. The library side: `trustedFingerprint` and `onUnknownCertificate`, and
 * transfers over the pinned (node:tls) connection.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fingerprint, generateCertificates } from "../../server/certificates.ts";
import { accountFor } from "../../server/auth.ts";
import { type FerryServer, serve } from "../../server/server.ts";
import type { LogFields } from "../../server/log.ts";
import { connect, FerryError, type ServerCertificate } from "../../mod.ts";
import { ferry, ferryTty, hasScript, randomBytes, tempDir, xxh128Hex } from "../_helpers/mod.ts";

const TOKEN = "tofu-admin-token";

async function start(
  cert: { cert: string; key: string },
  port: number,
  root: string,
  logs: LogFields[],
): Promise<FerryServer> {
  return await serve({
    hostname: "127.0.0.1",
    port,
    root,
    cert: cert.cert,
    key: cert.key,
    accounts: [accountFor("admin", "admin", TOKEN)],
    limits: { shutdownGraceMs: 1_000 },
    log: (f) => logs.push(f),
  });
}

const sessions = (logs: LogFields[]) => logs.filter((l) => l.op === "hello" || l.op === "auth");

Deno.test("tofu: refused with the fingerprint, trusted with --trust, remembered, refused loudly after a change", async () => {
  await using dir = await tempDir("ferry-tofu-");
  const root = `${dir.path}/root`;
  const cwd = `${dir.path}/client`;
  await Deno.mkdir(root);
  await Deno.mkdir(cwd);
  await Deno.writeTextFile(`${root}/hello.txt`, "hello\n");
  const config = `${dir.path}/config`;
  const env = { FERRY_CONFIG_DIR: config };
  const logs: LogFields[] = [];
  const a = await generateCertificates();
  const fpA = await fingerprint(a.cert);
  let server = await start(a, 0, root, logs);
  const port = server.addr.port;
  const args = ["--host", "127.0.0.1", "--port", String(port), "--token", TOKEN];
  try {
    // First contact, no terminal: refused, fingerprint shown, nothing sent.
    const refused = await ferry(cwd, [...args, "ls"], env);
    assert.equal(refused.code, 4, refused.stderr);
    assert.ok(refused.stderr.includes(fpA), `fingerprint shown: ${refused.stderr}`);
    assert.match(refused.stderr, /--trust/);
    assert.match(refused.stderr, /\[TLS\]\n$/);
    assert.deepEqual(sessions(logs), [], "no HELLO or AUTH reached the server");

    // A wrong --trust is refused too.
    const wrong = await ferry(cwd, [...args, "--trust", "AB".repeat(32), "ls"], env);
    assert.equal(wrong.code, 4, wrong.stderr);
    assert.deepEqual(sessions(logs), []);

    // --trust with the right fingerprint (any case, with or without colons) connects.
    const trusted = await ferry(
      cwd,
      [...args, "--trust", fpA.replaceAll(":", "").toLowerCase(), "ls"],
      env,
    );
    assert.equal(trusted.code, 0, trusted.stderr);
    assert.equal(trusted.stdout, "hello.txt\n");
    assert.match(trusted.stderr, /remembered the certificate of 127\.0\.0\.1:\d+/);
    const known = await Deno.readTextFile(`${config}/known_servers`);
    assert.match(known, new RegExp(`^127\\.0\\.0\\.1:${port} ${fpA}$`, "m"));

    // Remembered: no --trust needed, nothing printed on stderr.
    const again = await ferry(cwd, [...args, "ls"], env);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stderr, "");

    // The same port, a new certificate: refused loudly.
    await server.shutdown("test");
    await server.finished;
    const b = await generateCertificates();
    const fpB = await fingerprint(b.cert);
    server = await start(b, port, root, logs);
    const before = sessions(logs).length;
    const changed = await ferry(cwd, [...args, "ls"], env);
    assert.equal(changed.code, 4, changed.stderr);
    assert.match(changed.stderr, /WARNING: THE SERVER'S CERTIFICATE HAS CHANGED!/);
    assert.ok(changed.stderr.includes(fpA) && changed.stderr.includes(fpB), changed.stderr);
    assert.match(changed.stderr, /does not match the one remembered .* \[TLS\]\n$/);
    assert.equal(sessions(logs).length, before, "the token was not sent");
    assert.equal(await Deno.readTextFile(`${config}/known_servers`), known, "entry kept");

    // Accepting the change explicitly replaces the entry.
    const replaced = await ferry(cwd, [...args, "--trust", fpB, "ls"], env);
    assert.equal(replaced.code, 0, replaced.stderr);
    assert.match(replaced.stderr, /replaced the certificate/);
    const now = await Deno.readTextFile(`${config}/known_servers`);
    assert.match(now, new RegExp(`^127\\.0\\.0\\.1:${port} ${fpB}$`, "m"));
    assert.ok(!now.includes(fpA));
  } finally {
    await server.shutdown("test");
    await server.finished;
  }
});

Deno.test("tofu: at a terminal the user is asked; yes remembers, no refuses", {
  ignore: !hasScript(),
}, async () => {
  await using dir = await tempDir("ferry-tofu-tty-");
  await Deno.mkdir(`${dir.path}/root`);
  const logs: LogFields[] = [];
  const set = await generateCertificates();
  const fp = await fingerprint(set.cert);
  const server = await start(set, 0, `${dir.path}/root`, logs);
  const env = { FERRY_CONFIG_DIR: `${dir.path}/config` };
  const args = ["--host", "127.0.0.1", "--port", String(server.addr.port), "--token", TOKEN];
  try {
    const no = await ferryTty(dir.path, [...args, "ls"], env, "n\n");
    assert.equal(no.code, 4, no.stdout);
    assert.ok(no.stdout.includes(fp));
    assert.match(no.stdout, /Trust this server and remember its certificate\? \[y\/N\]/);
    const yes = await ferryTty(dir.path, [...args, "mkdir", "made"], env, "yes\n");
    assert.equal(yes.code, 0, yes.stdout);
    assert.ok((await Deno.stat(`${dir.path}/root/made`)).isDirectory);
    assert.ok((await Deno.readTextFile(`${dir.path}/config/known_servers`)).includes(fp));
  } finally {
    await server.shutdown("test");
    await server.finished;
  }
});

Deno.test("tofu library: trustedFingerprint, onUnknownCertificate, transfers over the pinned connection", async () => {
  await using dir = await tempDir("ferry-tofu-lib-");
  await Deno.mkdir(`${dir.path}/root`);
  const logs: LogFields[] = [];
  const set = await generateCertificates();
  const fp = await fingerprint(set.cert);
  const server = await start(set, 0, `${dir.path}/root`, logs);
  const base = { hostname: "127.0.0.1", port: server.addr.port, token: TOKEN };
  try {
    // Without trust options: TLS, as before.
    await assert.rejects(connect(base), (e) => e instanceof FerryError && e.code === "TLS");
    // A callback sees the certificate and may refuse.
    let seen: ServerCertificate | undefined;
    await assert.rejects(
      connect({ ...base, onUnknownCertificate: (c) => (seen = c, false) }),
      (e) => e instanceof FerryError && e.code === "TLS",
    );
    assert.equal(seen?.fingerprint, fp);
    assert.equal(seen?.port, server.addr.port);
    assert.match(seen!.reason, /UnknownIssuer/);
    assert.match(seen!.subject, /CN=localhost/);
    assert.deepEqual(sessions(logs), []);
    // A wrong pin is refused without asking anyone.
    await assert.rejects(
      connect({ ...base, trustedFingerprint: "00".repeat(32) }),
      (e) => e instanceof FerryError && e.code === "TLS" && e.message.includes(fp),
    );
    // The right pin: a working client over node:tls, data intact both ways.
    const client = await connect({ ...base, trustedFingerprint: fp });
    try {
      assert.deepEqual(client.trust, { method: "fingerprint", fingerprint: fp });
      const data = randomBytes(6 * 1024 * 1024 + 123);
      const up = await client.upload(data, "big.bin");
      assert.equal(up.checksum, await xxh128Hex(data));
      const chunks: Uint8Array[] = [];
      const down = await client.download(
        "big.bin",
        new WritableStream({ write: (c) => void chunks.push(c) }),
      );
      assert.equal(down.checksum, await xxh128Hex(data));
      assert.equal(chunks.reduce((n, c) => n + c.length, 0), data.length);
      const [l1, l2] = await Promise.all([client.list(), client.list()]);
      assert.deepEqual(l1, l2);
      // What the root really holds: the one uploaded file, as the disk describes it.
      const onDisk = await Deno.stat(`${dir.path}/root/big.bin`);
      const expected = [
        { name: "big.bin", kind: "file", size: data.length, mtime: onDisk.mtime!.getTime() },
      ];
      assert.deepEqual(l1, expected);
      assert.deepEqual(l2, expected);
    } finally {
      client.close();
      await client.closed;
    }
    // A callback saying yes also connects.
    const asked = await connect({ ...base, onUnknownCertificate: () => true });
    assert.equal(asked.trust.method, "fingerprint");
    asked.close();
    await asked.closed;
  } finally {
    await server.shutdown("test");
    await server.finished;
  }
});
