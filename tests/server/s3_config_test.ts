/**
 * Choosing the S3 storage (`--storage s3`, its `--s3-*` settings and keys), run as the `serve`
 * task runs the server, and what a server on the local disk and the client load: neither ever
 * loads the S3 storage or the npm packages behind it (`aws4fetch`, `hash-wasm`). None of this
 * needs a store.
 */

import assert from "node:assert/strict";
import { childEnv, CLIENT, REPO, SERVER, SERVER_FLAGS, tempDir } from "../_helpers/mod.ts";

/** Runs the server as the serve task does, in `cwd`, with `args` and extra variables. */
async function server(
  cwd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...SERVER_FLAGS, SERVER, "--host", "127.0.0.1", "--port", "0", ...args],
    cwd,
    clearEnv: true,
    env: childEnv(env),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

const S3 = ["--storage", "s3", "--s3-endpoint", "http://127.0.0.1:9", "--s3-bucket", "bucket"];
const KEYS = { FERRY_S3_ACCESS_KEY: "access", FERRY_S3_SECRET_KEY: "secret" };

/** The modules `entry` loads when it runs: its graph followed by code imports, not type ones. */
async function loadedModules(entry: string): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: REPO,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const graph: {
    roots: string[];
    modules: { specifier: string; dependencies?: { code?: { specifier: string } }[] }[];
    redirects: Record<string, string>;
  } = JSON.parse(new TextDecoder().decode(out.stdout));
  const bySpecifier = new Map(graph.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const pending = [...graph.roots];
  while (pending.length > 0) {
    const specifier = pending.pop()!;
    const resolved = graph.redirects[specifier] ?? specifier;
    if (seen.has(resolved)) continue;
    seen.add(resolved);
    for (const dep of bySpecifier.get(resolved)?.dependencies ?? []) {
      if (dep.code !== undefined) pending.push(dep.code.specifier);
    }
  }
  return [...seen];
}

Deno.test("s3 config: a server on the local disk and the client never load the S3 storage or its npm packages", async () => {
  const server = await loadedModules(SERVER);
  assert.ok(server.some((m) => m.includes("server/storage/local.ts")), "the graph is followed");
  for (const entry of [SERVER, CLIENT, `${REPO}mod.ts`]) {
    const loaded = entry === SERVER ? server : await loadedModules(entry);
    for (const module of ["aws4fetch", "hash-wasm", "server/storage/s3/"]) {
      assert.deepEqual(loaded.filter((m) => m.includes(module)), [], `${entry} loads ${module}`);
    }
  }
});

Deno.test("s3 config: wrong or missing settings are refused at start-up with one line", async () => {
  await using dir = await tempDir("ferry-s3-config-");
  const cwd = dir.path;
  const cases: [string, string[], Record<string, string>, RegExp][] = [
    [
      "an s3 setting without --storage s3",
      ["--s3-bucket", "b"],
      {},
      /--s3-bucket needs --storage s3/,
    ],
    ["an unknown storage", ["--storage", "nfs"], {}, /unknown storage "nfs"; use .* or s3/],
    ["no endpoint", ["--storage", "s3", "--s3-bucket", "b"], KEYS, /needs --s3-endpoint/],
    ["no keys", S3, {}, /FERRY_S3_ACCESS_KEY and FERRY_S3_SECRET_KEY/],
    ["half the keys", S3, { FERRY_S3_ACCESS_KEY: "a" }, /set both/],
    ["a store that does not answer", S3, KEYS, /S3 storage: cannot reach http:\/\/127\.0\.0\.1:9/],
    ["a prefix with ..", [...S3, "--s3-prefix", "a/../b"], KEYS, /not a clean path/],
  ];
  for (const [what, args, env, message] of cases) {
    const run = await server(cwd, args, env);
    assert.equal(run.code, 2, `${what}: exit status; ${run.stderr}`);
    assert.match(run.stderr, message, what);
    assert.match(run.stderr, /^ferry-server: [^\n]*\n$/m, `${what}: one line`);
  }
});

Deno.test("s3 config: keys are never taken from the command line or the config file", async () => {
  await using dir = await tempDir("ferry-s3-keys-");
  const cwd = dir.path;
  const flag = await server(cwd, [...S3, "--s3-secret-key", "secret"], KEYS);
  assert.notEqual(flag.code, 0);
  assert.match(flag.stderr, /s3-secret-key/);
  await Deno.writeTextFile(
    `${cwd}/ferry.json`,
    JSON.stringify({ storage: "s3", "s3-bucket": "b", "s3-secret-key": "secret" }),
  );
  const file = await server(cwd, ["--config", "ferry.json"], KEYS);
  assert.equal(file.code, 2, file.stderr);
  assert.match(file.stderr, /unknown setting "s3-secret-key"/);
  // a key file readable by others is refused, like an SSH key
  await Deno.writeTextFile(`${cwd}/keys`, "FERRY_S3_ACCESS_KEY=a\nFERRY_S3_SECRET_KEY=s\n", {
    mode: 0o644,
  });
  await Deno.chmod(`${cwd}/keys`, 0o644);
  const open = await server(cwd, [...S3, "--s3-key-file", "keys"]);
  assert.equal(open.code, 2, open.stderr);
  assert.match(open.stderr, /readable by others/);
  // the settings come from the config file and FERRY_* variables like every other
  await Deno.chmod(`${cwd}/keys`, 0o600);
  await Deno.writeTextFile(
    `${cwd}/ferry.json`,
    JSON.stringify({ storage: "s3", "s3-bucket": "bucket", "s3-key-file": "keys" }),
  );
  const viaFile = await server(cwd, ["--config", "ferry.json"], {
    FERRY_S3_ENDPOINT: "http://127.0.0.1:9",
  });
  assert.equal(viaFile.code, 2, viaFile.stderr);
  assert.match(
    viaFile.stderr,
    /cannot reach http:\/\/127\.0\.0\.1:9/,
    "it got as far as the store",
  );
});
