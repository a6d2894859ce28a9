/**
 * The standalone executables, end to end: compile `ferry-server` and `ferry`, start the server
 * binary in a fresh directory, and drive it with the client binary. `deno compile` needs its
 * runtime (`denort`): this runs whenever it can have one (`DENORT_BIN`, a copy in Deno's cache,
 * or a reachable download host) and says plainly why when it cannot. Where the runtime cannot be
 * fetched, `deno task compile` must fail with one clear line, never a stack trace.
 */

import assert from "node:assert/strict";
import { compile, compileFailure } from "../../scripts/compile.ts";
import { childEnv, freePort, REPO, taskFlags } from "../_helpers/mod.ts";

const RUNTIME = `denort-${Deno.build.target}.zip`;
const RUNTIME_URL = `https://dl.deno.land/release/v${Deno.version.deno}/${RUNTIME}`;

/** Deno's cache directory, as `deno info` reports it. */
async function denoDir(): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output();
    return JSON.parse(new TextDecoder().decode(out.stdout)).denoDir;
  } catch {
    return undefined;
  }
}

/** Whether the runtime is in Deno's cache already (then no download is needed). */
async function runtimeCached(): Promise<boolean> {
  const dir = await denoDir();
  if (dir === undefined) return false;
  try {
    await Deno.stat(`${dir}/dl/release/v${Deno.version.deno}/${RUNTIME}`);
    return true;
  } catch {
    return false;
  }
}

/** Why `deno compile` cannot get its runtime here, or `null` when it can. */
async function runtimeUnavailable(): Promise<string | null> {
  if (Deno.env.get("DENORT_BIN")) return null;
  if (await runtimeCached()) return null;
  try {
    const res = await fetch(RUNTIME_URL, { method: "HEAD", signal: AbortSignal.timeout(5_000) });
    await res.body?.cancel();
    if (res.ok) return null;
    return `${RUNTIME_URL} answered ${res.status}`;
  } catch (err) {
    return `${RUNTIME_URL} is unreachable (${(err as Error).message})`;
  }
}

const unavailable = await runtimeUnavailable();
if (unavailable !== null) {
  console.log(
    `compiled binaries test SKIPPED: deno compile cannot get its runtime: ${unavailable}, ` +
      `it is not in Deno's cache, and DENORT_BIN is not set`,
  );
}

Deno.test({
  name: "compiled ferry-server and ferry binaries serve put/ls/get/get --streams/shutdown",
  ignore: unavailable !== null,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ferry-bin-" });
    const repo = new URL("../..", import.meta.url).pathname;
    const server = `${dir}/bin/ferry-server`;
    const client = `${dir}/bin/ferry`;
    const cwd = Deno.cwd();
    Deno.chdir(repo);
    try {
      await compile(`${dir}/bin`);
    } finally {
      Deno.chdir(cwd);
    }
    const port = freePort();
    const proc = new Deno.Command(server, {
      args: ["--host", "127.0.0.1", "--port", String(port)],
      cwd: dir,
      stdout: "null",
      stderr: "piped",
    }).spawn();
    try {
      let seen = "";
      const drained = (async () => {
        for await (const text of proc.stderr.pipeThrough(new TextDecoderStream())) seen += text;
      })();
      const deadline = Date.now() + 10_000;
      while (!seen.includes("listening")) {
        if (Date.now() > deadline) throw new Error(`server did not start: ${seen}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      await Deno.writeTextFile(`${dir}/hello.txt`, "hello from a binary\n");
      const run = async (...args: string[]) => {
        const out = await new Deno.Command(client, {
          args: ["--port", String(port), ...args],
          cwd: dir,
        })
          .output();
        assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
        return new TextDecoder().decode(out.stdout);
      };
      await run("put", "hello.txt");
      assert.match(await run("ls"), /hello\.txt/);
      await run("get", "hello.txt", `${dir}/back.txt`);
      assert.equal(await Deno.readTextFile(`${dir}/back.txt`), "hello from a binary\n");
      // Two streams: the second runs in the worker the binary must carry (--include).
      const big = new Uint8Array(33 * 1024 * 1024).map((_, i) => i % 251);
      await Deno.writeFile(`${dir}/data/big.bin`, big);
      assert.match(
        await run("get", "--streams", "2", "big.bin", `${dir}/big.bin`),
        /checked in 2 ranges/,
      );
      assert.deepEqual(await Deno.readFile(`${dir}/big.bin`), big);
      assert.match(await run("--version"), /^ferry \d+\.\d+\.\d+\n$/);
      await run("shutdown");
      assert.equal((await proc.status).code, 0);
      await drained;
    } finally {
      try {
        proc.kill("SIGKILL");
      } catch {
        // already exited
      }
      await proc.status;
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "deno task compile without its runtime download fails with one line, no stack trace",
  // With the runtime at hand nothing is downloaded, so there is no failure to see.
  ignore: Boolean(Deno.env.get("DENORT_BIN")) || await runtimeCached(),
  async fn() {
    {
      // A proxy nobody listens on: the runtime download fails at once, whatever the network.
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", ...compileTaskFlags(), `${REPO}scripts/compile.ts`],
        cwd: REPO,
        clearEnv: true,
        env: childEnv({ HTTPS_PROXY: "http://127.0.0.1:1", https_proxy: "http://127.0.0.1:1" }),
        stdin: "null",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 1, stderr);
      const lines = stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, `one line: ${stderr}`);
      assert.match(
        lines[0],
        /^compile: deno compile of server\/main\.ts failed: it could not download its runtime \(denort\) from dl\.deno\.land \(.+\); set DENORT_BIN to a local denort binary/,
      );
      assert.doesNotMatch(stderr, /Stack backtrace|^\s+at /m);
    }
  },
});

/** The permission flags of the `compile` task. */
function compileTaskFlags(): string[] {
  return taskFlags("compile", "scripts/compile.ts");
}

Deno.test("compile failures read as one line (deno's own output of a failed runtime download)", () => {
  const output = [
    "\x1b[0m\x1b[32mCompile\x1b[0m cli/main.ts to dist/ferry",
    `\x1b[0m\x1b[32mDownload\x1b[0m ${RUNTIME_URL}`,
    "\x1b[0m\x1b[1m\x1b[31merror\x1b[0m: Writing deno compile executable to temporary file 'dist/ferry.tmp'",
    "",
    "Caused by:",
    "    0: Setting up base binary.",
    `    1: error sending request for url (${RUNTIME_URL}): client error (Connect): dns error`,
    "    2: client error (Connect)",
    "    3: dns error",
    "    4: failed to lookup address information: Name or service not known",
    "",
    "Stack backtrace:",
    "   0: <unknown>",
  ].join("\n");
  assert.equal(
    compileFailure("cli/main.ts", undefined, output),
    "deno compile of cli/main.ts failed: it could not download its runtime (denort) from " +
      "dl.deno.land (failed to lookup address information: Name or service not known); set " +
      "DENORT_BIN to a local denort binary of this Deno version",
  );
  assert.equal(
    compileFailure("server/main.ts", "aarch64-apple-darwin", 'error: Module not found "x.ts".\n'),
    'deno compile of server/main.ts for aarch64-apple-darwin failed: Module not found "x.ts".',
  );
});
