/**
 * The documented installs (issue 11), run as README.md writes them: `deno install -g` with the
 * task's permissions and the checkout's deno.json, into a fresh root. `ferry` (with a fresh
 * DENO_DIR) then works from any directory, asks no permission question, and its first run
 * downloads no npm package (the client imports none); `ferry-server` prints its version and
 * serves `./data` of the directory it is started in.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  assertOk,
  childEnv,
  CLIENT_FLAGS,
  collect,
  REPO,
  SERVER_FLAGS,
  sleep,
  startServer,
  tempDir,
  TOKENS,
} from "../_helpers/mod.ts";
import { VERSION } from "../../common/version.ts";

/** The install command of `name` README.md documents, as words (`$PWD` is the checkout). */
async function documentedInstall(name = "ferry"): Promise<string[]> {
  const readme = await Deno.readTextFile(`${REPO}README.md`);
  const lines = readme.split("\n").filter((l) => l.startsWith(`deno install -g -f -n ${name} `));
  assert.equal(lines.length, 1, `README.md documents one deno install line for ${name}`);
  return lines[0].trim().split(/\s+/).map((w) =>
    w.replaceAll('"', "").replaceAll("$PWD/", REPO).replaceAll("$PWD", REPO)
  );
}

/** Files below `dir` (none when it does not exist). */
async function filesBelow(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      out.push(e.name);
      if (e.isDirectory) out.push(...(await filesBelow(`${dir}/${e.name}`)));
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return out;
}

Deno.test("install: the documented deno install gives a ferry that runs anywhere and downloads no npm package", async () => {
  const words = await documentedInstall();
  assert.deepEqual(words.slice(0, 5), ["deno", "install", "-g", "-f", "-n"]);
  assert.equal(words[5], "ferry");
  const flags = words.filter((w) => w.startsWith("--allow-") || w.startsWith("--deny-"));
  assert.deepEqual(flags.sort(), [...CLIENT_FLAGS].sort(), "the client task's permissions");
  assert.ok(!words.includes("-A") && !words.includes("--allow-all"));

  await using dir = await tempDir("ferry-install-");
  const denoDir = `${dir.path}/deno-dir`; // empty: a first run on a new machine
  const env = childEnv({ DENO_DIR: denoDir, FERRY_CONFIG_DIR: `${dir.path}/config` });
  const install = await new Deno.Command(Deno.execPath(), {
    args: [...words.slice(1), "--root", `${dir.path}/root`],
    cwd: REPO,
    clearEnv: true,
    env,
    stdin: "null",
  }).output();
  assert.equal(install.code, 0, new TextDecoder().decode(install.stderr));
  const ferryBin = `${dir.path}/root/bin/ferry${Deno.build.os === "windows" ? ".cmd" : ""}`;

  // From another directory, with no terminal to answer a permission question.
  const elsewhere = `${dir.path}/elsewhere`;
  await Deno.mkdir(elsewhere);
  const run = async (...args: string[]) => {
    const out = await new Deno.Command(ferryBin, {
      args,
      cwd: elsewhere,
      clearEnv: true,
      env,
      stdin: "null",
    }).output();
    const decoder = new TextDecoder();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  };
  const help = await run("--help");
  assertOk(help, "ferry --help");
  assert.match(help.stdout, /^ferry: copy files/);
  const version = await run("--version");
  assertOk(version, "ferry --version");
  assert.match(version.stdout, /^ferry \d+\.\d+\.\d+\n$/);
  assert.deepEqual(await filesBelow(`${denoDir}/npm`), [], "no npm package was downloaded");

  const ts = await startServer();
  try {
    await Deno.writeTextFile(`${elsewhere}/ca.pem`, ts.ca);
    await Deno.writeTextFile(`${elsewhere}/token`, `${TOKENS.admin}\n`);
    await Deno.writeTextFile(`${ts.root}/remote.txt`, "over the installed command\n");
    const args = ["--port", String(ts.port), "--ca", "ca.pem", "--token-file", "token"];
    const get = await run(...args, "get", "127.0.0.1:remote.txt", "here.txt");
    assertOk(get, "ferry get from another directory");
    assert.equal(await Deno.readTextFile(`${elsewhere}/here.txt`), "over the installed command\n");
  } finally {
    await ts.close();
  }
  assert.deepEqual(await filesBelow(`${denoDir}/npm`), [], "still no npm package");
});

Deno.test("install: the documented deno install gives a ferry-server with the serve task's permissions", async () => {
  const words = await documentedInstall("ferry-server");
  assert.deepEqual(words.slice(0, 6), ["deno", "install", "-g", "-f", "-n", "ferry-server"]);
  const flags = words.filter((w) => /^--((allow|deny)-[a-z]+|v8-flags)(=.*)?$/.test(w));
  assert.deepEqual(flags, SERVER_FLAGS, "the serve task's permissions");

  await using dir = await tempDir("ferry-install-server-");
  const install = await new Deno.Command(Deno.execPath(), {
    args: [...words.slice(1), "--root", `${dir.path}/root`],
    cwd: REPO,
    clearEnv: true,
    env: childEnv(),
    stdin: "null",
  }).output();
  assert.equal(install.code, 0, new TextDecoder().decode(install.stderr));
  const bin = `${dir.path}/root/bin/ferry-server${Deno.build.os === "windows" ? ".cmd" : ""}`;
  const elsewhere = `${dir.path}/elsewhere`;
  await Deno.mkdir(elsewhere);

  const version = await new Deno.Command(bin, {
    args: ["--version"],
    cwd: elsewhere,
    clearEnv: true,
    env: childEnv(),
    stdin: "null",
  }).output();
  assert.equal(new TextDecoder().decode(version.stdout), `ferry-server ${VERSION}\n`);

  // Started from another directory: it serves ./data there, with ./certs there, and asks nothing.
  const child = new Deno.Command(bin, {
    args: ["--host", "127.0.0.1", "--port", "0"],
    cwd: elsewhere,
    clearEnv: true,
    env: childEnv(),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const err = collect(child.stderr);
  try {
    const deadline = Date.now() + 30_000;
    while (!/certificate SHA-256 fingerprint/.test(err.text()) && Date.now() < deadline) {
      await sleep(50);
    }
    assert.match(err.text(), /listening on 127\.0\.0\.1:\d+, serving \.\/data/);
    await Deno.stat(`${elsewhere}/certs/token`);
    await Deno.stat(`${elsewhere}/data`);
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await err.done;
  }
});
