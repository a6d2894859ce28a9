/**
 * End-to-end tests of the two command-line programs, run as real subprocesses with exactly the
 * permission flags of the `serve` and `client` tasks in deno.json, from fresh temporary
 * directories, the way a newcomer would use them.
 *
 * @module
 */

import assert from "node:assert/strict";
import { connect } from "../../mod.ts";
import { LIBC_CANDIDATES } from "../../server/storage/beneath/support.ts";
import {
  assertFails,
  assertOk,
  checksumHex,
  CLIENT,
  CLIENT_FLAGS,
  denoRun,
  exists,
  ferry,
  freePort,
  mode,
  namesIn as names,
  randomBytes,
  relay as relayTo,
  SERVER,
  SERVER_FLAGS,
  SERVER_SCRIPT,
  sha256Hex,
  sleep,
  spawnServer,
  taskFlags,
  tempDir,
  TEST_CHECKSUM,
  within,
} from "../_helpers/mod.ts";

// ---------------------------------------------------------------------------------------------

Deno.test("cli: the task permission flags were read from deno.json", () => {
  assert.ok(SERVER_FLAGS.some((f) => f.startsWith("--allow-net")), String(SERVER_FLAGS));
  assert.ok(CLIENT_FLAGS.some((f) => f.startsWith("--allow-net")), String(CLIENT_FLAGS));
  // Exactly these, and no broader: writes scoped to ./data and ./certs, the environment to
  // FERRY_* (the client's to the variables it reads), FFI to the C library's usual paths
  // (for the race-free storage and the socket reaper), system information to the host name and
  // network interfaces (the names the generated certificate covers), never -A.
  assert.deepEqual(SERVER_FLAGS, [
    "--v8-flags=--max-semi-space-size=2,--optimize-for-size",
    "--allow-net",
    "--allow-env=FERRY_*",
    "--allow-read",
    "--allow-write=./data,./certs",
    `--allow-ffi=${LIBC_CANDIDATES.join(",")}`,
    "--allow-sys=hostname,networkInterfaces",
  ]);
  assert.deepEqual(CLIENT_FLAGS, [
    "--allow-net",
    "--allow-env=FERRY_TOKEN,FERRY_CONFIG_DIR,XDG_CONFIG_HOME,HOME,USERPROFILE,APPDATA",
    "--allow-read",
    "--allow-write",
  ]);
  assert.deepEqual(taskFlags("certs", SERVER_SCRIPT), [
    "--allow-read",
    "--allow-write=./certs",
    "--allow-sys=hostname,networkInterfaces",
  ]);
  assert.deepEqual(taskFlags("compile", "scripts/compile.ts"), [
    "--allow-run",
    "--allow-env",
    "--allow-read",
    "--allow-write=./dist",
  ]);
});

Deno.test("cli: first run in a fresh directory, then put/ls/get/rm/shutdown", async () => {
  await using dir = await tempDir("ferry-cli-first-");
  const cwd = dir.path;
  const server = await spawnServer([], { cwd });
  try {
    const p = String(server.port);
    for (const f of ["ca.pem", "ca-key.pem", "server.pem", "server-key.pem", "token"]) {
      assert.ok(await exists(`${cwd}/certs/${f}`), `certs/${f} was not created`);
    }
    if (Deno.build.os !== "windows") {
      assert.equal(await mode(`${cwd}/certs/token`), 0o600, "certs/token mode");
      assert.equal(await mode(`${cwd}/certs/server-key.pem`), 0o600, "certs/server-key.pem mode");
    }
    assert.match(server.stderr(), /SHA-256[^\n]*\b(?:[0-9A-F]{2}:){31}[0-9A-F]{2}\b/i);
    assert.ok(await server.files.exists("."), "./data was not created");

    const readme = `# hello ferry\n${crypto.randomUUID()}\n`;
    await Deno.writeTextFile(`${cwd}/README.md`, readme);

    assertOk(await ferry(cwd, ["--port", p, "put", "README.md"]), "put");
    assert.equal(await server.files.readText("README.md"), readme);

    const ls = await ferry(cwd, ["--port", p, "ls", "-l"]);
    assertOk(ls, "ls");
    assert.match(ls.stdout, /^file\s+\d+\s+.*\bREADME\.md$/m);

    const lsJson = await ferry(cwd, ["--port", p, "ls", "--json"]);
    assertOk(lsJson, "ls --json");
    const entries = JSON.parse(lsJson.stdout);
    assert.ok(Array.isArray(entries), "ls --json prints an array");
    const entry = entries.find((e: { name: string }) => e.name === "README.md");
    assert.ok(entry, `README.md not in ${lsJson.stdout}`);
    assert.equal(entry.kind, "file");
    assert.equal(entry.size, new TextEncoder().encode(readme).length);
    assert.equal(typeof entry.mtime, "number");
    assert.ok(
      Math.abs(entry.mtime - Date.now()) < 24 * 3600_000,
      "mtime is a recent epoch-ms time",
    );

    const get = await ferry(cwd, ["--port", p, "get", "README.md", `${cwd}/x`]);
    assertOk(get, "get");
    assert.deepEqual(await Deno.readFile(`${cwd}/x`), await Deno.readFile(`${cwd}/README.md`));
    const checksum = await checksumHex(new TextEncoder().encode(readme));
    assert.ok(
      get.stdout.includes(`${TEST_CHECKSUM} ${checksum}`),
      `get prints the checksum: ${get.stdout}`,
    );

    assertOk(await ferry(cwd, ["--port", p, "rm", "README.md"]), "rm");
    const after = await ferry(cwd, ["--port", p, "ls"]);
    assertOk(after, "ls after rm");
    assert.ok(!after.stdout.includes("README.md"), after.stdout);
    assert.ok(!(await server.files.exists("README.md")));

    const shutdown = await ferry(cwd, ["--port", p, "shutdown"]);
    assertOk(shutdown, "shutdown");
    const status = await within(server.exited, 5_000, "server exit after shutdown");
    assert.equal(status.code, 0, `server exit status; stderr:\n${server.stderr()}`);
    const leftovers = (await server.files.names()).filter((n) => n.includes(".ferry-"));
    assert.deepEqual(leftovers, [], "temporary files left in ./data");
    assert.deepEqual(await server.files.temporaries(), [], "temporaries left in the storage");
  } finally {
    await server.stop();
  }
});

Deno.test("cli: failures exit with their documented status and one line on stderr", async (t) => {
  await using dir = await tempDir("ferry-cli-fail-");
  const cwd = dir.path;
  const server = await spawnServer([], { cwd });
  try {
    const p = String(server.port);

    await t.step("get of a missing file: 6 NOT_FOUND, no output file", async () => {
      const run = await ferry(cwd, ["--port", p, "get", "missing.txt", "out"]);
      assertFails(run, 6, "NOT_FOUND", "get missing.txt");
      assert.ok(run.stderr.includes("missing.txt"), run.stderr);
      assert.ok(!(await exists(`${cwd}/out`)), "out was created");
      const temps = (await names(cwd)).filter((n) => n.startsWith(".out.ferry-"));
      assert.deepEqual(temps, [], "temporary download file left behind");
    });

    await t.step("wrong --token: 5", async () => {
      assertFails(
        await ferry(cwd, ["--port", p, "--token", "not-the-token", "ls"]),
        5,
        "UNAUTHENTICATED",
        "wrong token",
      );
    });

    await t.step("unreachable port: 3", async () => {
      assertFails(
        await ferry(cwd, ["--port", String(freePort()), "ls"]),
        3,
        "UNREACHABLE",
        "no server",
      );
    });

    await t.step("unknown command: 2", async () => {
      assertFails(await ferry(cwd, ["--port", p, "frobnicate"]), 2, "USAGE", "unknown command");
    });

    await t.step("bad option: 2", async () => {
      assertFails(await ferry(cwd, ["--port", p, "--bogus", "ls"]), 2, "USAGE", "unknown option");
    });

    await t.step("put of a nonexistent local file: 10", async () => {
      assertFails(
        await ferry(cwd, ["--port", p, "put", "no-such-file.bin"]),
        10,
        "LOCAL_IO",
        "put",
      );
      assert.ok(!(await server.files.exists("no-such-file.bin")));
    });

    await t.step("get ../x: 7, nothing written", async () => {
      await Deno.writeTextFile(`${cwd}/x`, "outside the root");
      const run = await ferry(cwd, ["--port", p, "get", "../x"]);
      assertFails(run, 7, "OUTSIDE_ROOT|BAD_NAME", "get ../x");
      assert.equal(await Deno.readTextFile(`${cwd}/x`), "outside the root");
      assert.deepEqual((await names(cwd)).filter((n) => n.includes(".ferry-")), []);
      await Deno.remove(`${cwd}/x`);
    });

    await t.step("--help on both programs: 0 and usage", async () => {
      const client = await ferry(cwd, ["--help"]);
      assertOk(client, "ferry --help");
      assert.match(client.stdout, /Usage:/);
      assert.match(client.stdout, /ls \[-l\] \[PATH\]/);
      const out = await denoRun(SERVER, SERVER_FLAGS, ["--help"], { cwd }).output();
      const text = new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      assert.match(text, /Usage:/);
      assert.match(text, /--port/);
    });

    await t.step("a get killed mid-transfer leaves nothing under the target name", async () => {
      const big = randomBytes(64 * 1024 * 1024);
      await server.files.write("big.bin", big);
      // Through a relay that lets only 8 MiB of the server's answer through and then holds the
      // rest, so the client is reliably caught part-way whatever the machine's speed.
      await using relay = relayTo(server.port, { stallDownAfter: 8 * 1024 * 1024 });
      const child = denoRun(
        CLIENT,
        CLIENT_FLAGS,
        ["--port", String(relay.port), "get", "big.bin", "big.out"],
        { cwd },
      ).spawn();
      let killed = false;
      let out: Deno.CommandOutput;
      try {
        const deadline = Date.now() + 20_000;
        let part: string | undefined;
        while (Date.now() < deadline) {
          part = (await names(cwd)).find((n) => n.startsWith(".big.out.ferry-"));
          if (part !== undefined && (await Deno.stat(`${cwd}/${part}`)).size >= 1024 * 1024) break;
          await sleep(10);
        }
        assert.ok(part !== undefined, "the download never started writing");
        assert.ok(!(await exists(`${cwd}/big.out`)), "target exists before the transfer finished");
        child.kill("SIGKILL");
        killed = true;
      } finally {
        // Clean-up only: an assertion here would replace the failure that got us here.
        if (!killed) {
          try {
            child.kill("SIGKILL");
          } catch {
            // it already exited
          }
        }
        out = await child.output();
      }
      assert.notEqual(out.code, 0);
      assert.ok(!(await exists(`${cwd}/big.out`)), "a partial file sits under the target name");
      await server.files.remove("big.bin");
    });

    await t.step("the server still serves after all that", async () => {
      assertOk(await ferry(cwd, ["--port", p, "ls"]), "ls");
    });
  } finally {
    server.child.kill("SIGTERM");
    await within(server.exited, 10_000, "server exit").catch(() => {});
    await server.stop();
  }
});

Deno.test("cli: an unknown command is a usage error (2) even when the server is down", async () => {
  await using dir = await tempDir("ferry-cli-usage-");
  await Deno.mkdir(`${dir.path}/certs`);
  await Deno.writeTextFile(`${dir.path}/certs/token`, "some-token\n");
  // The command and its arguments are checked before connecting, so a typo is a usage error
  // even when no server answers.
  const run = await ferry(dir.path, ["--port", String(freePort()), "frobnicate"]);
  assertFails(run, 2, "USAGE", "unknown command, no server");
  const args = await ferry(dir.path, ["--port", String(freePort()), "get"]);
  assertFails(args, 2, "USAGE", "get without arguments, no server");
});

Deno.test("cli: FERRY_TOKEN wins over ./certs/token; a write token cannot shut down", async () => {
  await using serverDir = await tempDir("ferry-cli-env-server-");
  await using clientDir = await tempDir("ferry-cli-env-client-");
  const rwToken = `rw-${crypto.randomUUID()}`;
  await Deno.mkdir(`${serverDir.path}/certs`);
  await Deno.writeTextFile(
    `${serverDir.path}/certs/users.json`,
    JSON.stringify([{ user: "alice", role: "write", sha256: sha256Hex(rwToken) }]),
  );
  const server = await spawnServer([], { cwd: serverDir.path });
  try {
    const p = String(server.port);
    const admin = (await Deno.readTextFile(`${serverDir.path}/certs/token`)).trim();
    const cwd = clientDir.path;
    await Deno.mkdir(`${cwd}/certs`);
    await Deno.copyFile(`${serverDir.path}/certs/ca.pem`, `${cwd}/certs/ca.pem`);
    await Deno.writeTextFile(`${cwd}/certs/token`, "a-wrong-token\n");
    await Deno.writeTextFile(`${cwd}/note.txt`, "from alice\n");

    assertFails(
      await ferry(cwd, ["--port", p, "ls"]),
      5,
      "UNAUTHENTICATED",
      "the file's wrong token",
    );
    assertOk(await ferry(cwd, ["--port", p, "ls"], { FERRY_TOKEN: admin }), "ls with FERRY_TOKEN");
    assertFails(
      await ferry(cwd, ["--port", p, "--token", "wrong-again", "ls"], { FERRY_TOKEN: admin }),
      5,
      "UNAUTHENTICATED",
      "--token beats FERRY_TOKEN",
    );

    assertOk(
      await ferry(cwd, ["--port", p, "put", "note.txt"], { FERRY_TOKEN: rwToken }),
      "rw put",
    );
    assert.equal(await server.files.readText("note.txt"), "from alice\n");
    const denied = await ferry(cwd, ["--port", p, "shutdown"], { FERRY_TOKEN: rwToken });
    assertFails(denied, 5, "FORBIDDEN", "rw shutdown");
    const ls = await ferry(cwd, ["--port", p, "ls"], { FERRY_TOKEN: rwToken });
    assertOk(ls, "the server still runs after a refused shutdown");
    assert.match(ls.stdout, /note\.txt/);

    assertOk(await ferry(cwd, ["--port", p, "shutdown"], { FERRY_TOKEN: admin }), "admin shutdown");
    const status = await within(server.exited, 5_000, "server exit after shutdown");
    assert.equal(status.code, 0, server.stderr());
  } finally {
    await server.stop();
  }
});

Deno.test("cli: SIGTERM stops the server promptly with status 0", {
  ignore: Deno.build.os === "windows",
}, async () => {
  await using dir = await tempDir("ferry-cli-sigterm-");
  const server = await spawnServer([], { cwd: dir.path });
  try {
    // An idle client connection must not hold the shutdown up.
    const client = await connect({
      hostname: "localhost",
      port: server.port,
      token: (await Deno.readTextFile(`${dir.path}/certs/token`)).trim(),
      caCerts: [await Deno.readTextFile(`${dir.path}/certs/ca.pem`)],
    });
    try {
      assert.deepEqual(await client.list(), []);
      const started = performance.now();
      server.child.kill("SIGTERM");
      const status = await within(server.exited, 5_000, "server exit after SIGTERM");
      assert.equal(status.code, 0, server.stderr());
      assert.ok(performance.now() - started < 5_000);
      await within(client.closed, 5_000, "client sees the connection close");
    } finally {
      client.close();
      await client.closed;
    }
  } finally {
    await server.stop();
  }
});
