/**
 * The `ferry` command meets scp, curl and rclone habits (issue 11): `HOST:PATH` and
 * `ferry://HOST:PORT/PATH` remote paths, `-P PORT`, `--host HOST:PORT`, combined short flags,
 * `--limit-rate`, `-` for standard input and output, tokens that begin with `-`, `--token-file`,
 * `--version` and shell completions; and the one-line advice when a habit does not apply.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  assertFails,
  assertOk,
  checksumHex,
  cliServer,
  exists,
  ferry,
  randomBytes,
  REPO,
  sha256Hex,
  spawnServer,
  tempDir,
  TEST_CHECKSUM,
  TOKENS,
} from "../_helpers/mod.ts";
import { VERSION } from "../../common/version.ts";
import { COMMAND_OPTIONS, COMMANDS } from "../../cli/commands.ts";
import { GLOBAL_OPTIONS } from "../../cli/args.ts";
import { completionScript, OPTION_HELP } from "../../cli/completions.ts";

Deno.test("cli habits: get of a directory without -r says to use -r, as put does", async () => {
  await using s = await cliServer();
  await s.ts.files.mkdir("docs");
  await s.ts.files.write("docs/a.txt", "a\n");
  const get = await s.run(["get", "docs", "out"]);
  assertFails(get, 6, "IS_A_DIRECTORY", "get of a directory");
  assert.match(get.stderr, /^ferry: docs is a directory \(use -r\) \[IS_A_DIRECTORY\]$/m);
  assert.ok(!(await exists(`${s.cwd}/out`)));
  await Deno.mkdir(`${s.cwd}/local-dir`);
  const put = await s.run(["put", "local-dir"]);
  assertFails(put, 6, "IS_A_DIRECTORY", "put of a directory");
  assert.match(put.stderr, /use -r/);
});

/** The connection flags of `s` without `--host` (the host comes from the arguments). */
function noHost(s: { ts: { port: number }; cwd: string }, port = true): string[] {
  return [
    ...port ? ["--port", String(s.ts.port)] : [],
    "--ca",
    `${s.cwd}/ca.pem`,
    "--token",
    TOKENS.admin,
  ];
}

Deno.test("cli habits: HOST:PATH, USER@HOST:PATH and ferry:// name the server; -P and --host HOST:PORT the port", async (t) => {
  await using s = await cliServer();
  await s.ts.files.mkdir("docs");
  await s.ts.files.write("docs/a.txt", "remote a\n");
  await Deno.writeTextFile(`${s.cwd}/b.txt`, "local b\n");
  const env = { FERRY_CONFIG_DIR: `${s.cwd}/config` };
  const run = (args: string[], port = true) => ferry(s.cwd, [...noHost(s, port), ...args], env);

  await t.step("get HOST:PATH .", async () => {
    assertOk(await run(["get", "127.0.0.1:docs/a.txt", "."]), "get HOST:PATH");
    assert.equal(await Deno.readTextFile(`${s.cwd}/a.txt`), "remote a\n");
  });
  await t.step("put FILE HOST:DIR/", async () => {
    assertOk(await run(["put", "b.txt", "127.0.0.1:docs/"]), "put to HOST:DIR/");
    assert.equal(await s.ts.files.readText("docs/b.txt"), "local b\n");
  });
  await t.step("ls, stat, mkdir, mv and rm take HOST:PATH too", async () => {
    const ls = await run(["ls", "127.0.0.1:docs"]);
    assertOk(ls, "ls HOST:PATH");
    assert.equal(ls.stdout, "a.txt\nb.txt\n");
    assertOk(await run(["mkdir", "127.0.0.1:made"]), "mkdir");
    assertOk(await run(["mv", "127.0.0.1:docs/b.txt", "127.0.0.1:made/b.txt"]), "mv");
    assertOk(await run(["stat", "127.0.0.1:made/b.txt"]), "stat");
    assertOk(await run(["rm", "127.0.0.1:made/b.txt"]), "rm");
    assert.ok(!(await s.ts.files.exists("made/b.txt")));
    assert.ok(await s.ts.files.exists("made"));
  });
  await t.step("ferry://HOST:PORT/PATH carries the port", async () => {
    const get = await run(
      ["get", `ferry://127.0.0.1:${s.ts.port}/docs/a.txt`, "url.txt"],
      false,
    );
    assertOk(get, "get ferry://");
    assert.equal(await Deno.readTextFile(`${s.cwd}/url.txt`), "remote a\n");
  });
  await t.step("-P PORT and --host HOST:PORT", async () => {
    const ls = await run(["-P", String(s.ts.port), "ls", "127.0.0.1:docs"], false);
    assertOk(ls, "-P");
    const host = await run(["--host", `127.0.0.1:${s.ts.port}`, "ls", "docs"], false);
    assertOk(host, "--host HOST:PORT");
    assert.equal(host.stdout, "a.txt\n");
  });
  await t.step(
    "two servers in one command, or --host against HOST:, are a usage error",
    async () => {
      assertFails(
        await run(["get", "127.0.0.1:docs/a.txt", "localhost:docs/a.txt", "out/"]),
        2,
        "USAGE",
        "two hosts",
      );
      assertFails(
        await run(["--host", "localhost", "ls", "127.0.0.1:docs"]),
        2,
        "USAGE",
        "--host and HOST: differ",
      );
      assertFails(
        await run(["--host", "127.0.0.1:1", "ls", "docs"]),
        2,
        "USAGE",
        "--host HOST:PORT and --port differ",
      );
    },
  );
  await t.step("-p 4434 points at -P", async () => {
    const bad = await run(["-p", "4434", "ls"], false);
    assertFails(bad, 2, "USAGE", "-p 4434");
    assert.match(bad.stderr, /unknown command "4434": a port is -P 4434 or --port 4434/);
  });
  await t.step("USER@HOST: the token must be that user's", async () => {
    assertOk(await run(["ls", "admin@127.0.0.1:docs"]), "the admin token is admin's");
    const alice = await run(["ls", "alice@127.0.0.1:docs"]);
    assertFails(alice, 5, "UNAUTHENTICATED", "the admin token is not alice's");
    assert.match(alice.stderr, /the token is admin's, not alice's/);
    const aliceOwn = await ferry(
      s.cwd,
      ["--port", String(s.ts.port), "--ca", `${s.cwd}/ca.pem`, "--token", TOKENS.write, "ls"]
        .concat(["alice@127.0.0.1:docs"]),
      env,
    );
    assertOk(aliceOwn, "alice's own token");
  });
});

Deno.test("cli habits: a profile is a host alias (work:PATH, alice@work:PATH)", async () => {
  await using s = await cliServer();
  const config = `${s.cwd}/config`;
  await Deno.mkdir(config);
  await Deno.writeTextFile(`${config}/admin-token`, `${TOKENS.admin}\n`);
  await Deno.writeTextFile(`${config}/alice-token`, `${TOKENS.write}\n`);
  const common = { host: "127.0.0.1", port: s.ts.port, ca: `${s.cwd}/ca.pem` };
  await Deno.writeTextFile(
    `${config}/profiles.json`,
    JSON.stringify({
      work: { ...common, tokenFile: "admin-token" },
      "alice@work": { ...common, tokenFile: "alice-token" },
    }),
  );
  await s.ts.files.write("w.txt", "work\n");
  const env = { FERRY_CONFIG_DIR: config };
  const get = await ferry(s.cwd, ["get", "work:w.txt", "w.txt"], env);
  assertOk(get, "get work:w.txt");
  assert.equal(await Deno.readTextFile(`${s.cwd}/w.txt`), "work\n");
  assertOk(await ferry(s.cwd, ["put", "w.txt", "alice@work:by-alice.txt"], env), "alice@work");
  assert.ok(
    s.ts.logs.some((l) => l.op === "put" && l.user === "alice" && l.path === "by-alice.txt"),
    "the upload ran as alice",
  );
});

Deno.test("cli habits: ls -lh is a human-readable long listing; -h alone is help", async () => {
  await using s = await cliServer();
  await s.ts.files.write("big.bin", new Uint8Array(3 * 1024 * 1024 / 2));
  for (const flags of [["-lh"], ["-hl"], ["-l", "-h"], ["-l", "--human-readable"]]) {
    const ls = await s.run(["ls", ...flags]);
    assertOk(ls, `ls ${flags.join(" ")}`);
    assert.match(ls.stdout, /^file +1\.5 MiB +\d{4}-\d\d-\d\d \d\d:\d\d +big\.bin$/m);
  }
  const long = await s.run(["ls", "-l"]);
  assert.match(long.stdout, /^file +1572864 /m, "without -h the size is exact");
  const help = await s.run(["-h"]);
  assertOk(help, "-h");
  assert.match(help.stdout, /^ferry: copy files/);
  const getHelp = await s.run(["get", "-h", "big.bin"]);
  assertOk(getHelp, "-h after another command asks for help");
  assert.match(getHelp.stdout, /^ferry: copy files/);
  assert.ok(!(await exists(`${s.cwd}/big.bin`)), "nothing was downloaded");
});

Deno.test("cli habits: a token that begins with - works with --token and --token-file", async () => {
  await using dir = await tempDir("ferry-dash-token-");
  const token = "-dash-begins-this-token";
  await Deno.mkdir(`${dir.path}/certs`);
  await Deno.writeTextFile(
    `${dir.path}/certs/users.json`,
    JSON.stringify([{
      user: "dash",
      role: "write",
      sha256: sha256Hex(new TextEncoder().encode(token)),
    }]),
  );
  const server = await spawnServer([], { cwd: dir.path });
  try {
    const base = ["--port", String(server.port)];
    const ls = await ferry(dir.path, [...base, "--token", token, "ls"], { FERRY_TOKEN: "wrong" });
    assertOk(ls, "--token -dash…");
    assertOk(await ferry(dir.path, [...base, `--token=${token}`, "ls"]), "--token=-dash…");
    await Deno.writeTextFile(`${dir.path}/tok`, `${token}\n`);
    const file = await ferry(dir.path, [...base, "--token-file", "tok", "mkdir", "by-file"]);
    assertOk(file, "--token-file");
    assert.equal(await server.files.kind("by-file"), "dir");
    assertFails(
      await ferry(dir.path, [...base, "--token-file", "missing", "ls"]),
      10,
      "LOCAL_IO",
      "a missing token file",
    );
  } finally {
    await server.stop();
  }
});

Deno.test("cli habits: - is standard output for get and standard input for put; /dev/stdout works", async () => {
  await using s = await cliServer();
  const data = randomBytes(300_000);
  await s.ts.files.write("blob.bin", data);

  const out = await s.run(["get", "blob.bin", "-"]);
  assertOk(out, "get -");
  assert.deepEqual(out.stdoutBytes, data, "the bytes, and only them, on standard output");
  assert.match(
    out.stderr,
    new RegExp(`^get blob\\.bin -> -: 293\\.0 KiB in .*${TEST_CHECKSUM} `),
    "the summary on stderr",
  );

  const dev = await s.run(["get", "-q", "blob.bin", "/dev/stdout"]);
  assertOk(dev, "get /dev/stdout");
  assert.deepEqual(dev.stdoutBytes, data);
  assert.equal(dev.stderr, "");

  // A device is written directly: no partial file beside it (Deno refuses those in /dev).
  assertOk(await s.run(["get", "blob.bin", "/dev/null"]), "get /dev/null");

  const json = await s.run(["get", "--json", "blob.bin", "-"]);
  assertOk(json, "get --json -");
  assert.deepEqual(json.stdoutBytes, data);
  assert.equal(JSON.parse(json.stderr).files[0].checksum, await checksumHex(data));

  const put = await s.run(["put", "-", "from-stdin.bin"], { stdin: data });
  assertOk(put, "put -");
  assert.deepEqual(await s.ts.files.read("from-stdin.bin"), data);
  assert.match(put.stdout, /^put - -> from-stdin\.bin: 293\.0 KiB in /);

  assertFails(await s.run(["put", "-"], { stdin: "x" }), 2, "USAGE", "put - without a name");
  assertFails(await s.run(["get", "-r", "blob.bin", "-"]), 2, "USAGE", "get -r to -");
  const fd = await s.run(["get", "blob.bin", "/dev/fd/5"]);
  assertFails(fd, 10, "LOCAL_IO", "another descriptor");
  assert.match(fd.stderr, /use - and a pipe/);
});

Deno.test("cli habits: --limit-rate paces get and put", async () => {
  await using s = await cliServer();
  const data = randomBytes(512 * 1024);
  await s.ts.files.write("paced.bin", data);
  await Deno.writeFile(`${s.cwd}/up.bin`, data);
  for (const [verb, args] of [["get", ["paced.bin", "paced.bin"]], ["put", ["up.bin"]]] as const) {
    const run = await s.run(["--limit-rate", "256K", verb, "--json", ...args]);
    assertOk(run, `${verb} --limit-rate`);
    const seconds = JSON.parse(run.stdout).seconds;
    // 512 KiB at 256 KiB/s: 2 s, less a burst of a tenth of a second.
    assert.ok(seconds >= 1.8, `${verb} took ${seconds} s`);
  }
  assert.deepEqual(await Deno.readFile(`${s.cwd}/paced.bin`), data);
  assert.deepEqual(await s.ts.files.read("up.bin"), data);
  const bad = await s.run(["--limit-rate", "fast", "ls"]);
  assertFails(bad, 2, "USAGE", "a bad rate");
  assert.match(bad.stderr, /like 500K, 10M or 1G/);
});

Deno.test("cli habits: --version prints the version, kept equal to deno.json's", async () => {
  const config = JSON.parse(await Deno.readTextFile(`${REPO}deno.json`));
  assert.equal(VERSION, config.version, "common/version.ts follows deno.json");
  await using dir = await tempDir("ferry-version-");
  const run = await ferry(dir.path, ["--version"]);
  assertOk(run, "--version");
  assert.equal(run.stdout, `ferry ${config.version}\n`);
});

Deno.test("cli habits: completion scripts list every command and option; bash's completes", async () => {
  const bash = completionScript("bash");
  const zsh = completionScript("zsh");
  const fish = completionScript("fish");
  const commands = [...Object.keys(COMMANDS), "completions"];
  const options = [...Object.keys(GLOBAL_OPTIONS), ...Object.keys(COMMAND_OPTIONS)];
  for (const [shell, script] of [["bash", bash], ["zsh", zsh], ["fish", fish]]) {
    for (const c of commands) {
      assert.match(script, new RegExp(`\\b${c}\\b`), `${shell} lists ${c}`);
    }
    for (const o of options) {
      const written = shell === "fish" ? `-l ${o}` : `--${o}`;
      assert.ok(script.includes(written), `${shell} lists --${o}`);
    }
  }
  for (const o of options) assert.ok(OPTION_HELP[o], `--${o} has a description`);
  await using dir = await tempDir("ferry-completions-");
  await Deno.writeTextFile(`${dir.path}/ferry.bash`, bash);
  const syntax = await new Deno.Command("bash", { args: ["-n", `${dir.path}/ferry.bash`] })
    .output();
  assert.equal(syntax.code, 0, new TextDecoder().decode(syntax.stderr));
  // The function itself, as bash calls it on Tab.
  const complete = async (...words: string[]) => {
    const script = `source ${dir.path}/ferry.bash
COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}
_ferry; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const out = await new Deno.Command("bash", { args: ["-c", script], cwd: dir.path }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    return new TextDecoder().decode(out.stdout).trim().split("\n").filter((l) => l !== "");
  };
  assert.deepEqual(await complete("ferry", "g"), ["get"]);
  assert.deepEqual(await complete("ferry", "--host", "h", "m"), ["mkdir", "mv"]);
  assert.deepEqual((await complete("ferry", "ls", "-")).sort(), [
    "--human-readable",
    "--json",
    "--long",
    "--quiet",
    "--unsorted",
    "-U",
    "-h",
    "-l",
    "-q",
  ]);
  assert.deepEqual(await complete("ferry", "completions", "z"), ["zsh"]);
  assert.ok((await complete("ferry", "--p")).includes("--port"));
  // The CLI prints it.
  const run = await ferry(dir.path, ["completions", "bash"]);
  assertOk(run, "ferry completions bash");
  assert.equal(run.stdout, bash + "\n");
  assertFails(await ferry(dir.path, ["completions", "tcsh"]), 2, "USAGE", "an unknown shell");
});
