/**
 * The standalone executables, end to end: compile `ferry-server` and `ferry`, start the server
 * binary in a fresh directory, and drive it with the client binary. `deno compile` needs its
 * runtime (`denort`); this runs only when `DENORT_BIN` names one, and says so when skipped.
 */

import assert from "node:assert/strict";
import { compile } from "../../scripts/compile.ts";
import { freePort } from "../_helpers/mod.ts";

const denort = Deno.env.get("DENORT_BIN");
if (!denort) {
  console.log(
    "compiled binaries test SKIPPED: DENORT_BIN is not set (deno compile cannot fetch its runtime here)",
  );
}

Deno.test({
  name: "compiled ferry-server and ferry binaries serve put/ls/get/shutdown",
  ignore: !denort,
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
