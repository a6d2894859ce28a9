/**
 * The server kit (issue 11): the systemd unit and the Dockerfile in deploy/, and LICENSE.
 * No systemd runs here and no docker engine, so each is checked for what it promises and its
 * command is run as it is written, with only the paths moved: the unit's ExecStart in a
 * working directory like its own, and the image's ENTRYPOINT over a copy of exactly the files
 * the Dockerfile copies, with `--cached-only` as in the image. `systemd-analyze verify` runs
 * on the unit when it is installed.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  childEnv,
  collect,
  describe,
  REPO,
  SERVER_FLAGS,
  sleep,
  tempDir,
} from "../_helpers/mod.ts";

const UNIT = `${REPO}deploy/ferry-server.service`;
const DOCKERFILE = `${REPO}deploy/Dockerfile`;

/** The unit's settings, each key with all its values in order (comments and sections dropped). */
function parseUnit(text: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";") || line.startsWith("[")) {
      continue;
    }
    const at = line.indexOf("=");
    assert.ok(at > 0, `a setting: ${line}`);
    const key = line.slice(0, at);
    settings.set(key, [...(settings.get(key) ?? []), line.slice(at + 1)]);
  }
  return settings;
}

/** The permission flags (and --v8-flags) among command words, in order. */
function permissionFlags(words: readonly string[]): string[] {
  return words.filter((w) => /^--((allow|deny)-[a-z]+|v8-flags)(=.*)?$/.test(w));
}

/**
 * Runs a server command until it listens, then stops it with SIGTERM and expects exit 0.
 * Returns what it printed.
 */
async function runUntilListening(cmd: string, args: string[], cwd: string): Promise<string> {
  const child = new Deno.Command(cmd, {
    args: [...args, "--host", "127.0.0.1", "--port", "0"],
    cwd,
    clearEnv: true,
    env: childEnv(),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const err = collect(child.stderr);
  const deadline = Date.now() + 60_000;
  try {
    while (!/certificate SHA-256 fingerprint/.test(err.text())) {
      assert.ok(Date.now() < deadline, `did not start listening: ${err.text()}`);
      const exited = await Promise.race([child.status, sleep(50).then(() => null)]);
      assert.equal(exited, null, `exited before listening: ${err.text()}`);
    }
  } catch (e) {
    child.kill("SIGKILL");
    await child.status;
    throw e;
  }
  child.kill("SIGTERM");
  const status = await child.status;
  await err.done;
  assert.equal(status.code, 0, `stopped by SIGTERM: ${err.text()}`);
  return err.text();
}

Deno.test("deploy: the systemd unit is hardened and runs the server with the serve task's permissions", async () => {
  const text = await Deno.readTextFile(UNIT);
  const unit = parseUnit(text);
  const one = (key: string) => {
    const values = unit.get(key);
    assert.ok(values !== undefined, `${key}= is set`);
    return values.at(-1)!;
  };
  assert.equal(one("User"), "ferry", "a dedicated user");
  assert.notEqual(one("User"), "root");
  for (
    const [key, value] of Object.entries({
      NoNewPrivileges: "yes",
      ProtectSystem: "strict",
      ProtectHome: "yes",
      PrivateTmp: "yes",
      PrivateDevices: "yes",
      CapabilityBoundingSet: "",
      AmbientCapabilities: "",
      RestrictNamespaces: "yes",
      RestrictSUIDSGID: "yes",
      SystemCallArchitectures: "native",
    })
  ) {
    assert.equal(one(key), value, `${key}=${value}`);
  }
  assert.ok(unit.get("SystemCallFilter")!.includes("@system-service"));
  assert.deepEqual(
    one("RestrictAddressFamilies").split(/\s+/).sort(),
    ["AF_INET", "AF_INET6", "AF_NETLINK", "AF_UNIX"],
  );
  assert.ok(!unit.has("MemoryDenyWriteExecute"), "V8's JIT needs writable code");
  const workdir = one("WorkingDirectory");
  assert.deepEqual(
    one("ReadWritePaths").split(/\s+/).sort(),
    [join(workdir, "certs"), join(workdir, "data")],
    "writable: the data root and the certs, nothing else",
  );
  assert.deepEqual(one("StateDirectory").split(/\s+/), ["ferry", "ferry/data", "ferry/certs"]);
  assert.equal(workdir, "/var/lib/ferry", "the StateDirectory");

  const exec = one("ExecStart").split(/\s+/);
  assert.deepEqual(permissionFlags(exec), SERVER_FLAGS, "the serve task's flags exactly");
  const main = exec.findIndex((w) => w.endsWith("/server/main.ts"));
  assert.deepEqual(exec.slice(main + 1), ["--root", "./data", "--certs", "./certs"]);

  // The command as written, with the checkout and deno where they are here.
  await using dir = await tempDir("ferry-unit-");
  const words = exec.map((w) => w.replaceAll("/opt/ferry/", REPO));
  const out = await runUntilListening(Deno.execPath(), words.slice(1), dir.path);
  assert.match(out, /^ferry-server \S+ listening on 127\.0\.0\.1:\d+, serving \.\/data$/m);
  for (const f of ["ca.pem", "server.pem", "server-key.pem", "token"]) {
    await Deno.stat(`${dir.path}/certs/${f}`);
  }

  // systemd's own check, on a copy whose ExecStart names the deno of this machine.
  const analyze = await new Deno.Command("systemd-analyze", { args: ["--version"] }).output()
    .catch(() => null);
  if (analyze === null || !analyze.success) {
    console.log("skipped: systemd-analyze verify (systemd-analyze is not installed)");
    return;
  }
  const copy = `${dir.path}/ferry-server.service`;
  await Deno.writeTextFile(copy, text.replace(/^ExecStart=\S+/m, `ExecStart=${Deno.execPath()}`));
  const verify = await new Deno.Command("systemd-analyze", { args: ["verify", copy] }).output();
  const said = new TextDecoder().decode(verify.stderr) + new TextDecoder().decode(verify.stdout);
  assert.equal(verify.code, 0, `systemd-analyze verify: ${said}`);
  assert.equal(said.trim(), "", `systemd-analyze verify found nothing to say: ${said}`);
});

Deno.test("deploy: the Dockerfile copies all the server imports and runs it as the serve task, unprivileged", async () => {
  const text = await Deno.readTextFile(DOCKERFILE);
  const lines = text.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("#"));
  const instructions = lines.map((l) => {
    const [op, ...rest] = l.trim().split(/\s+/);
    return { op, args: rest.join(" ") };
  });
  const from = instructions.find((i) => i.op === "FROM")!;
  assert.match(from.args, /^denoland\/deno:/, "a Deno image");
  const users = instructions.filter((i) => i.op === "USER");
  assert.deepEqual(users.map((u) => u.args), ["deno"], "runs as the image's unprivileged user");
  const entryAt = instructions.findIndex((i) => i.op === "ENTRYPOINT");
  assert.ok(instructions.indexOf(users[0]) < entryAt);

  // COPY sources, relative to the checkout (the build context); destinations below /opt/ferry.
  const copied: string[] = [];
  let workdir = "/";
  for (const { op, args } of instructions) {
    if (op === "WORKDIR") workdir = args;
    if (op !== "COPY") continue;
    const words = args.split(/\s+/);
    const dest = join(workdir, words.at(-1)!);
    assert.ok(dest.startsWith("/opt/ferry"), `${args} goes to /opt/ferry`);
    for (const source of words.slice(0, -1)) {
      await Deno.stat(`${REPO}${source}`);
      assert.equal(join("/opt/ferry", source), join(dest, words.length > 2 ? source : ""));
      copied.push(source.replace(/\/$/, ""));
    }
  }
  // .dockerignore lets exactly those into the build context.
  const ignore = (await Deno.readTextFile(`${REPO}.dockerignore`)).split("\n")
    .filter((l) => l.trim() !== "" && !l.startsWith("#"));
  assert.equal(ignore[0], "*");
  assert.deepEqual(
    ignore.slice(1).map((l) => l.replace(/^!/, "").replace(/\/$/, "")).sort(),
    [
      ...copied,
    ].sort(),
  );

  // Every local module of server/main.ts is in what is copied.
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", `${REPO}server/main.ts`],
    cwd: REPO,
  }).output();
  assert.ok(info.success, new TextDecoder().decode(info.stderr));
  const graph = JSON.parse(new TextDecoder().decode(info.stdout)) as {
    modules: { specifier: string }[];
  };
  const root = new URL(REPO, "file:///").href;
  const local = graph.modules.map((m) => m.specifier).filter((s) => s.startsWith("file:"))
    .map((s) => s.slice(root.length));
  assert.ok(local.length > 20, `the module graph: ${local.length} files`);
  for (const path of local) {
    assert.ok(copied.some((c) => path === c || path.startsWith(`${c}/`)), `${path} is copied`);
  }

  const entry = JSON.parse(instructions[entryAt].args) as string[];
  assert.equal(entry[0], "deno");
  assert.deepEqual(permissionFlags(entry), SERVER_FLAGS, "the serve task's flags exactly");
  assert.ok(entry.includes("--cached-only") && entry.includes("--frozen"));
  assert.ok(!entry.includes("-A") && !entry.includes("--allow-all"));
  assert.equal(instructions.find((i) => i.op === "EXPOSE")?.args, "4433");
  const volumes = JSON.parse(instructions.find((i) => i.op === "VOLUME")!.args);
  assert.deepEqual(volumes, ["/var/lib/ferry/data", "/var/lib/ferry/certs"]);
  assert.equal(workdir, "/var/lib/ferry", "the entrypoint's ./data and ./certs are the volumes");

  // The image's command over a copy of only the copied files, with no registry (cached only).
  await using dir = await tempDir("ferry-image-");
  const opt = `${dir.path}/opt/ferry`;
  await Deno.mkdir(opt, { recursive: true });
  for (const source of copied) {
    const cp = await new Deno.Command("cp", { args: ["-r", `${REPO}${source}`, `${opt}/`] })
      .output();
    assert.ok(cp.success, `cp ${source}`);
  }
  const work = `${dir.path}/var/lib/ferry`;
  await Deno.mkdir(work, { recursive: true });
  const out = await runUntilListening(
    Deno.execPath(),
    entry.slice(1).map((w) => w.replaceAll("/opt/ferry", opt)),
    work,
  );
  assert.match(out, /^created a local CA/m, describe({ code: 0, stdout: "", stderr: out }));
});

Deno.test("deploy: LICENSE is MIT, copyright the ferry authors", async () => {
  const license = await Deno.readTextFile(`${REPO}LICENSE`);
  assert.match(license, /^MIT License\n\nCopyright \(c\) 2026 the ferry authors\n/);
  assert.match(license, /THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND/);
});
