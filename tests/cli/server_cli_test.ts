/**
 * `ferry-server` as a command (issue 11): `--version`, the `certs` subcommand with `--name`,
 * and each start-up failure said in one line with its cause and the next step. Run as a real
 * process with the permissions of the `serve` task.
 *
 * @module
 */

import assert from "node:assert/strict";
import { VERSION } from "../../common/version.ts";
import { BINARIES } from "../../scripts/compile.ts";
import { CERT_FILES, generateCertificates, writeCertificates } from "../../server/certificates.ts";
import { certificateNames } from "../../server/certificate_names.ts";
import { SERVER_AGENT } from "../../server/server.ts";
import {
  describe,
  freePort,
  type Run,
  runCommand,
  SERVER,
  SERVER_FLAGS,
  taskFlags,
  tempDir,
} from "../_helpers/mod.ts";

/** Runs `ferry-server ARGS` in `cwd` with the serve task's flags (killed after 30 s). */
async function ferryServer(cwd: string, args: string[], flags = SERVER_FLAGS): Promise<Run> {
  return await runCommand(Deno.execPath(), ["run", ...flags, SERVER, ...args], { cwd });
}

/** Exit `code` and exactly one line on stderr, `ferry-server: …`, matching `pattern`. */
function assertOneLine(run: Run, code: number, pattern: RegExp, what: string): void {
  assert.equal(run.code, code, `${what}: ${describe(run)}`);
  const lines = run.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `${what}: one line on stderr, got ${JSON.stringify(run.stderr)}`);
  assert.match(lines[0], /^ferry-server: /, what);
  assert.match(lines[0], pattern, what);
}

Deno.test("server cli: --version, the agent string, and the binary's permissions are the serve task's", async () => {
  await using dir = await tempDir("ferry-server-version-");
  const run = await ferryServer(dir.path, ["--version"]);
  assert.equal(run.code, 0, describe(run));
  assert.equal(run.stdout, `ferry-server ${VERSION}\n`);
  assert.equal(SERVER_AGENT, `ferry-server/${VERSION}`);
  const help = await ferryServer(dir.path, ["--help"]);
  assert.match(help.stdout, /--name NAME/);
  assert.match(help.stdout, /--version/);
  const server = BINARIES.find((b) => b.name === "ferry-server")!;
  const permissions = (flags: readonly string[]) =>
    flags.filter((f) => f.startsWith("--allow-") && !f.startsWith("--allow-write")).sort();
  assert.deepEqual(permissions(server.permissions), permissions(SERVER_FLAGS));
  assert.ok(
    taskFlags("certs", "server/main.ts").includes("--allow-sys=hostname,networkInterfaces"),
    "the certs task reads this machine's names too",
  );
});

Deno.test("server cli: certs makes a certificate for this machine and each --name, then adds names with the same CA", async () => {
  await using dir = await tempDir("ferry-server-certs-");
  const cwd = dir.path;
  const first = await ferryServer(cwd, ["certs", "--name", "files.example.org"]);
  assert.equal(first.code, 0, describe(first));
  assert.match(first.stdout, /^created a local CA \(certs\/ca\.pem\)/m);
  const cert = await Deno.readTextFile(`${cwd}/certs/${CERT_FILES.cert}`);
  const names = certificateNames(cert);
  assert.equal(names[0], "files.example.org");
  for (const name of ["localhost", "127.0.0.1", "::1", Deno.hostname().toLowerCase()]) {
    assert.ok(names.includes(name), `${name} in ${names}`);
  }
  assert.match(first.stdout, new RegExp(`^certificate names ${names.join(", ")}$`, "m"));
  assert.match(first.stdout, /^certificate SHA-256 fingerprint ([0-9A-F]{2}:){31}[0-9A-F]{2}$/m);
  assert.match(first.stdout, /^created certs\/token$/m);
  const ca = await Deno.readTextFile(`${cwd}/certs/${CERT_FILES.caCert}`);

  const again = await ferryServer(cwd, ["certs", "--name", "files.example.org"]);
  assert.match(again.stdout, /^kept certs\/server\.pem: it covers every name asked for$/m);
  assert.equal(await Deno.readTextFile(`${cwd}/certs/${CERT_FILES.cert}`), cert, "unchanged");

  const more = await ferryServer(cwd, ["certs", "--name", "192.0.2.200"]);
  assert.equal(more.code, 0, describe(more));
  assert.match(
    more.stdout,
    /^re-issued certs\/server\.pem by the CA in certs\/ca\.pem, adding 192\.0\.2\.200:/m,
  );
  assert.equal(await Deno.readTextFile(`${cwd}/certs/${CERT_FILES.caCert}`), ca, "same CA");
  assert.deepEqual(
    certificateNames(await Deno.readTextFile(`${cwd}/certs/${CERT_FILES.cert}`)),
    [...names, "192.0.2.200"],
  );

  const forced = await ferryServer(cwd, ["certs", "--force"]);
  assert.equal(forced.code, 0, describe(forced));
  assert.notEqual(await Deno.readTextFile(`${cwd}/certs/${CERT_FILES.caCert}`), ca, "a new CA");
  assert.match(forced.stdout, /^kept certs\/token$/m);
});

Deno.test("server cli: each start-up failure is one line with its cause and the next step", async () => {
  await using dir = await tempDir("ferry-server-errors-");
  const cwd = dir.path;
  const set = await generateCertificates(["files.example.org"]);
  const other = await generateCertificates(["localhost"]);
  await Deno.writeTextFile(`${cwd}/own.pem`, set.cert);
  await Deno.writeTextFile(`${cwd}/own-key.pem`, set.key);
  await Deno.writeTextFile(`${cwd}/other-key.pem`, other.key);
  const own = ["--cert", "own.pem", "--key", "own-key.pem"];
  const port = ["--host", "127.0.0.1", "--port", "0"];

  const busy = Deno.listen({ hostname: "127.0.0.1", port: freePort() });
  try {
    assertOneLine(
      await ferryServer(cwd, [...own, "--host", "127.0.0.1", "--port", String(busy.addr.port)]),
      2,
      /cannot listen on 127\.0\.0\.1:\d+: the port is already in use .*; stop that program, or choose another port with --port$/,
      "port in use",
    );
  } finally {
    busy.close();
  }
  assertOneLine(
    await ferryServer(cwd, [...own, "--host", "203.0.113.77", "--port", "0"]),
    2,
    /no network interface of this machine has the address 203\.0\.113\.77; give one of its addresses with --host/,
    "an address not of this machine",
  );
  assertOneLine(
    await ferryServer(cwd, ["--cert", "own.pem", "--key", "other-key.pem", ...port]),
    1,
    /the key --key other-key\.pem is not the private key of the certificate --cert own\.pem; pass the certificate chain with --cert and its own key with --key$/,
    "a key of another certificate",
  );
  assertOneLine(
    await ferryServer(cwd, ["--cert", "missing.pem", "--key", "own-key.pem", ...port]),
    2,
    /^ferry-server: --cert missing\.pem: no such file; check the path$/,
    "--cert missing",
  );
  assertOneLine(
    await ferryServer(cwd, ["--cert", "own.pem", ...port]),
    2,
    /--cert and --key go together; give both, or neither$/,
    "--cert alone",
  );
  assertOneLine(
    await ferryServer(cwd, [...own, ...port, "--name", "box.example.org"]),
    1,
    /--cert own\.pem does not cover box\.example\.org \(it covers files\.example\.org\); add the name to that certificate, or leave out --name/,
    "--name missing from your own certificate",
  );
  assertOneLine(
    await ferryServer(cwd, [...own, ...port, "--name", "two names"]),
    2,
    /--name "two names" is neither a host name nor an IP address; give one name per --name/,
    "a bad --name",
  );
  assertOneLine(
    await ferryServer(cwd, [...own, ...port, "--users", "nobody.json"]),
    2,
    /--users nobody\.json: no such file; check the path, or create it with `ferry-server adduser NAME --users nobody\.json`$/,
    "--users missing",
  );
  await Deno.writeTextFile(`${cwd}/broken.json`, '[{"user": "x", ');
  assertOneLine(
    await ferryServer(cwd, [...own, ...port, "--users", "broken.json"]),
    2,
    /broken\.json is not valid JSON \(.*\); fix it, or move it away and add the users again with `ferry-server adduser NAME`$/,
    "a users file that is not JSON",
  );
  await Deno.writeTextFile(`${cwd}/wrong.json`, '[{"user": "x", "role": "owner", "sha256": ""}]');
  assertOneLine(
    await ferryServer(cwd, [...own, ...port, "--users", "wrong.json"]),
    2,
    /wrong\.json\[0\]: expected .*; fix or remove that entry/,
    "a users entry that does not validate",
  );
  assertOneLine(
    await ferryServer(cwd, ["--bogus"]),
    2,
    /^ferry-server: unknown option --bogus; see ferry-server --help$/,
    "an unknown option",
  );
  assertOneLine(
    await ferryServer(cwd, ["--port"]),
    2,
    /^ferry-server: --port needs a value \(--port VALUE\); see ferry-server --help$/,
    "an option without its value",
  );
  assertOneLine(
    await ferryServer(cwd, ["--config", "nowhere.json"]),
    2,
    /^ferry-server: --config nowhere\.json: no such file; check the path$/,
    "--config missing",
  );

  // A certificate in --certs that ferry did not make (no CA key): left alone, one line.
  await writeCertificates(`${cwd}/theirs`, { ...set, caKey: "" });
  assertOneLine(
    await ferryServer(cwd, ["--certs", "theirs", ...port, "--name", "box.example.org"]),
    1,
    /theirs\/server\.pem does not cover box\.example\.org .* ferry did not make it .*`ferry-server certs --force --name box\.example\.org`/,
    "--name missing from a certificate ferry did not make",
  );
  assert.equal(await Deno.readTextFile(`${cwd}/theirs/${CERT_FILES.cert}`), set.cert);
});
