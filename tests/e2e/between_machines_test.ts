/**
 * The server and the client as two parties (issue 11), with the real programs and the
 * permissions of the `serve` and `client` tasks:
 * - by this machine's host name (not `localhost`; it resolves to this machine): the generated
 *   certificate covers it, so `--ca` is enough; an older certificate without it is refused by
 *   name, the server says so at start-up, and `--name` adds it with the same CA;
 * - from a second host (as root): a network namespace joined to this one by a veth pair
 *   addressed from 198.51.100.0/24 (TEST-NET-2), created and removed by the test; the client
 *   runs inside it and connects to the server's address on the pair.
 *
 * @module
 */

import assert from "node:assert/strict";
import { isIP } from "node:net";
import {
  CERT_FILES,
  DEFAULT_NAMES,
  generateCertificates,
  writeCertificates,
} from "../../server/certificates.ts";
import {
  assertOk,
  childEnv,
  CLIENT,
  CLIENT_FLAGS,
  collect,
  describe,
  ferry,
  freePort,
  randomBytes,
  type Run,
  runCommand,
  SERVER,
  SERVER_FLAGS,
  sleep,
  tempDir,
} from "../_helpers/mod.ts";

/** A server process started like `deno task serve`, listening on all addresses. */
interface Server {
  port: number;
  stderr(): string;
  stop(): Promise<void>;
}

/** Starts `server/main.ts --host 0.0.0.0` in `cwd` with the serve task's flags. */
async function startServer(cwd: string, extra: string[] = [], port = freePort()): Promise<Server> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...SERVER_FLAGS, SERVER, "--host", "0.0.0.0", "--port", String(port), ...extra],
    cwd,
    clearEnv: true,
    env: childEnv(),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const err = collect(child.stderr);
  let running = true;
  const exited = child.status.then(async (status) => {
    running = false;
    await err.done;
    return status;
  });
  const stop = async () => {
    if (running) {
      try {
        child.kill("SIGTERM");
      } catch {
        // exited meanwhile
      }
    }
    await exited;
  };
  const deadline = Date.now() + 30_000;
  // The certificate lines follow the "listening" line.
  while (!/certificate SHA-256 fingerprint/.test(err.text())) {
    if (!running || Date.now() > deadline) {
      await stop();
      throw new Error(`the server did not start; stderr:\n${err.text()}`);
    }
    await sleep(20);
  }
  await sleep(50); // the notes after the fingerprint line
  return { port, stderr: err.text, stop };
}

/** The names the server printed for its certificate. */
function bannerNames(stderr: string): string[] {
  const m = /^certificate names (.+)$/m.exec(stderr);
  assert.ok(m, `the banner names the certificate's names:\n${stderr}`);
  return m[1].split(", ");
}

/** Runs a command to completion; its output as text. */
async function run(cmd: string, args: string[]): Promise<Run> {
  const out = await new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" })
    .output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** A plain line saying why a test did not run. */
function skip(why: string): void {
  console.log(`skipped: ${why}`);
}

/** Whether `name` reaches a listener on this machine (on all addresses). */
async function reachesThisMachine(name: string): Promise<boolean> {
  using listener = Deno.listen({ hostname: "0.0.0.0", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  try {
    const conn = await Deno.connect({ hostname: name, port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/** Client arguments for a server at `host`, trusting the CA of `cwd/certs`. */
function clientArgs(host: string, port: number): string[] {
  return [
    "--host",
    host,
    "--port",
    String(port),
    "--ca",
    `certs/${CERT_FILES.caCert}`,
    "--token-file",
    "certs/token",
  ];
}

const HOSTNAME = Deno.hostname().toLowerCase();

Deno.test("between machines: by this machine's host name, with --ca and a generated certificate", async () => {
  if (HOSTNAME === "localhost" || isIP(HOSTNAME) !== 0 || !(await reachesThisMachine(HOSTNAME))) {
    return skip(`the host name ${HOSTNAME} is localhost or does not reach this machine`);
  }
  await using dir = await tempDir("ferry-hostname-");
  const cwd = dir.path;
  const server = await startServer(cwd);
  try {
    assert.ok(bannerNames(server.stderr()).includes(HOSTNAME), server.stderr());
    assert.doesNotMatch(server.stderr(), /^note:/m, "nothing uncovered");
    const args = clientArgs(HOSTNAME, server.port);
    const env = { FERRY_CONFIG_DIR: `${cwd}/config` };
    await Deno.writeTextFile(`${cwd}/hello.txt`, `hello from ${HOSTNAME}\n`);
    assertOk(await ferry(cwd, [...args, "put", "hello.txt"], env), "put by host name");
    assertOk(await ferry(cwd, [...args, "get", "hello.txt", "back.txt"], env), "get");
    assert.equal(await Deno.readTextFile(`${cwd}/back.txt`), `hello from ${HOSTNAME}\n`);
    const known = await Deno.readTextFile(`${cwd}/config/known_servers`).catch(() => "");
    assert.ok(!known.includes(HOSTNAME), "trusted by the CA, not by a remembered fingerprint");
  } finally {
    await server.stop();
  }
});

Deno.test("between machines: a certificate without the host name is refused by name; --name adds it with the same CA", async () => {
  if (HOSTNAME === "localhost" || isIP(HOSTNAME) !== 0 || !(await reachesThisMachine(HOSTNAME))) {
    return skip(`the host name ${HOSTNAME} is localhost or does not reach this machine`);
  }
  await using dir = await tempDir("ferry-hostname-old-");
  const cwd = dir.path;
  // A certificate from before: ferry's own CA, for localhost, 127.0.0.1 and ::1 only.
  await writeCertificates(`${cwd}/certs`, await generateCertificates(DEFAULT_NAMES));
  const ca = await Deno.readTextFile(`${cwd}/certs/${CERT_FILES.caCert}`);
  const env = { FERRY_CONFIG_DIR: `${cwd}/config` };
  let server = await startServer(cwd);
  try {
    assert.deepEqual(bannerNames(server.stderr()), [...DEFAULT_NAMES]);
    assert.match(
      server.stderr(),
      new RegExp(
        `^note: the certificate does not cover [^\\n]*\\b${HOSTNAME}\\b[^\\n]*; add them with --name NAME`,
        "m",
      ),
    );
    const refused = await ferry(cwd, [...clientArgs(HOSTNAME, server.port), "ls"], env);
    assert.equal(refused.code, 4, describe(refused));
    assert.match(refused.stderr, new RegExp(`not valid for the name ${HOSTNAME}\\b`));
    assert.match(refused.stderr, new RegExp(`restart the server with --name ${HOSTNAME}\\b`));
    await server.stop();

    // As the client's message says: restart the server with --name.
    server = await startServer(cwd, ["--name", HOSTNAME], server.port);
    assert.match(
      server.stderr(),
      new RegExp(
        `^re-issued certs/server\\.pem by the CA in certs/ca\\.pem, adding ${HOSTNAME}`,
        "m",
      ),
    );
    assert.ok(bannerNames(server.stderr()).includes(HOSTNAME));
    assert.equal(await Deno.readTextFile(`${cwd}/certs/${CERT_FILES.caCert}`), ca, "same CA");
    await Deno.writeTextFile(`${cwd}/up.txt`, "after --name\n");
    assertOk(
      await ferry(cwd, [...clientArgs(HOSTNAME, server.port), "put", "up.txt"], env),
      "put by host name after --name",
    );
    assert.equal(await Deno.readTextFile(`${cwd}/data/up.txt`), "after --name\n");
  } finally {
    await server.stop();
  }
});

Deno.test("between machines: a client in another network namespace reaches the server's 198.51.100.x address", async () => {
  const uid = await run("id", ["-u"]).catch(() => null);
  if (uid === null || uid.stdout.trim() !== "0") return skip("not root (ip netns needs it)");
  if ((await run("ip", ["-V"]).catch(() => null))?.code !== 0) return skip("no ip command");

  const id = crypto.getRandomValues(new Uint8Array(3)).toHex();
  const ns = `ferry-test-${id}`;
  const hostIf = `fyh${id}`;
  const nsIf = `fyn${id}`;
  const inUse = (await run("ip", ["-o", "addr"])).stdout;
  let hostIp = "";
  let nsIp = "";
  for (let tries = 0; tries < 64 && hostIp === ""; tries++) {
    const base = 4 * Math.floor(Math.random() * 63);
    if (!inUse.includes(`198.51.100.${base + 1}/`) && !inUse.includes(`198.51.100.${base + 2}/`)) {
      hostIp = `198.51.100.${base + 1}`;
      nsIp = `198.51.100.${base + 2}`;
    }
  }
  assert.ok(hostIp !== "", "a free /30 in 198.51.100.0/24");

  const created: string[] = [];
  try {
    const add = await run("ip", ["netns", "add", ns]);
    if (add.code !== 0) return skip(`ip netns add failed: ${add.stderr.trim()}`);
    created.push("ns");
    const steps: string[][] = [
      ["link", "add", hostIf, "type", "veth", "peer", "name", nsIf],
      ["link", "set", nsIf, "netns", ns],
      ["addr", "add", `${hostIp}/30`, "dev", hostIf],
      ["link", "set", hostIf, "up"],
      ["netns", "exec", ns, "ip", "addr", "add", `${nsIp}/30`, "dev", nsIf],
      ["netns", "exec", ns, "ip", "link", "set", nsIf, "up"],
      ["netns", "exec", ns, "ip", "link", "set", "lo", "up"],
    ];
    const link = await run("ip", steps[0]);
    if (link.code !== 0) return skip(`ip link add … type veth failed: ${link.stderr.trim()}`);
    created.push("link");
    for (const step of steps.slice(1)) {
      const out = await run("ip", step);
      assert.equal(out.code, 0, `ip ${step.join(" ")}: ${out.stderr}`);
    }

    /** The client CLI, run inside the namespace. */
    const ferryIn = (cwd: string, args: string[]): Promise<Run> =>
      runCommand(
        "ip",
        ["netns", "exec", ns, Deno.execPath(), "run", ...CLIENT_FLAGS, CLIENT, ...args],
        { cwd, env: { FERRY_CONFIG_DIR: `${cwd}/config` }, timeoutMs: 60_000 },
      );

    // 1. A fresh server: its generated certificate covers the pair's address by itself.
    await using fresh = await tempDir("ferry-netns-");
    let server = await startServer(fresh.path);
    try {
      assert.ok(bannerNames(server.stderr()).includes(hostIp), server.stderr());
      const payload = randomBytes(300_000);
      await Deno.writeFile(`${fresh.path}/blob.bin`, payload);
      const args = clientArgs(hostIp, server.port);
      assertOk(await ferryIn(fresh.path, [...args, "put", "blob.bin"]), "put from the namespace");
      assert.deepEqual(await Deno.readFile(`${fresh.path}/data/blob.bin`), payload);
      assertOk(
        await ferryIn(fresh.path, [...args, "get", "blob.bin", "again.bin"]),
        "get from the namespace",
      );
      assert.deepEqual(await Deno.readFile(`${fresh.path}/again.bin`), payload);
      // The namespace really is another host: the server's loopback is not reachable from it.
      const loop = await ferryIn(fresh.path, [...clientArgs("127.0.0.1", server.port), "ls"]);
      assert.equal(
        loop.code,
        3,
        `127.0.0.1 inside the namespace is not the server: ${describe(loop)}`,
      );
    } finally {
      await server.stop();
    }

    // 2. A certificate made for localhost only: refused by name from the namespace, until
    // the server is restarted with --name and the address.
    await using old = await tempDir("ferry-netns-old-");
    await writeCertificates(`${old.path}/certs`, await generateCertificates(DEFAULT_NAMES));
    server = await startServer(old.path);
    try {
      const refused = await ferryIn(old.path, [...clientArgs(hostIp, server.port), "ls"]);
      assert.equal(refused.code, 4, describe(refused));
      assert.match(
        refused.stderr,
        new RegExp(`not valid for the name ${hostIp.replaceAll(".", "\\.")}`),
      );
      await server.stop();
      server = await startServer(old.path, ["--name", hostIp], server.port);
      assert.match(server.stderr(), new RegExp(`^re-issued .*adding ${hostIp}`, "m"));
      assertOk(await ferryIn(old.path, [...clientArgs(hostIp, server.port), "ls"]), "after --name");
    } finally {
      await server.stop();
    }
  } finally {
    if (created.includes("link")) await run("ip", ["link", "del", hostIf]).catch(() => {});
    if (created.includes("ns")) await run("ip", ["netns", "del", ns]).catch(() => {});
    const left = await run("ip", ["-o", "link"]);
    assert.ok(!left.stdout.includes(hostIf), "the veth pair is gone");
    const nsList = await run("ip", ["netns", "list"]);
    assert.ok(!nsList.stdout.includes(ns), "the namespace is gone");
  }
});
