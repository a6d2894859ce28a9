/**
 * The CLI against a hostile server (security catalogue rows 23–25): a scripted fake ferry
 * server whose listings hold names like `../evil`, `/etc/x`, `a\b`, `C:x`, NUL and terminal
 * escapes. A recursive or wildcard `get` must create nothing outside its target directory (in
 * fact nothing at all), fail with BAD_NAME, and print names escaped.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { basename, dirname, join, resolve } from "node:path";
import { is } from "../../client/requests.ts";
import {
  decodeAuth,
  decodeDownload,
  decodeHello,
  decodePathRequest,
  encodeAuthOk,
  encodeEof,
  encodeError,
  encodeFileInfo,
  encodeListEntries,
  encodeStatResult,
  encodeWelcome,
  type Entry,
} from "../../protocol/messages/mod.ts";
import { SERVICES } from "../../protocol/services.ts";
import { ferry, scriptedServer, tempDir } from "../_helpers/mod.ts";
import { encodeDataFrames } from "../protocol/_frames.ts";

const GOOD = new TextEncoder().encode("good bytes\n");

/**
 * A fake server: the root lists `pkg/` and `pkg` lists a good file and `hostile` (whatever the
 * test sets). STAT says `pkg` is a directory; DOWNLOAD serves GOOD for any path.
 */
async function fakeServer(): Promise<
  { port: number; ca: string; hostile: Entry[]; requests: string[] } & AsyncDisposable
> {
  const state = { hostile: [] as Entry[], requests: [] as string[] };
  const server = await scriptedServer(async (f, send) => {
    if (is(f, SERVICES.HELLO)) {
      await send(encodeWelcome({ id: decodeHello(f.payload).id, version: 1, agent: "evil" }));
    } else if (is(f, SERVICES.AUTH)) {
      await send(encodeAuthOk({ id: decodeAuth(f.payload).id, role: "admin", user: "x" }));
    } else if (is(f, SERVICES.LIST)) {
      const { id, path } = decodePathRequest(f.payload);
      // Bytes after the path: LIST's options, which only a server announcing LIST_NAMES
      // may be sent (this one's WELCOME announces nothing).
      const extra = f.payload.length - 6 - new TextEncoder().encode(path).length;
      state.requests.push(`LIST ${path}${extra === 0 ? "" : ` +${extra} bytes`}`);
      const entries: Entry[] = path === "." || path === ""
        ? [{ name: "pkg", kind: "dir", size: 0, mtime: 0 }]
        : [{ name: "good.txt", kind: "file", size: GOOD.length, mtime: 0 }, ...state.hostile];
      await send(encodeListEntries({ id, last: true, entries }));
    } else if (is(f, SERVICES.STAT)) {
      const { id, path } = decodePathRequest(f.payload);
      state.requests.push(`STAT ${path}`);
      const name = path.split("/").pop()!;
      await send(
        encodeStatResult({
          id,
          entry: { name, kind: name === "pkg" ? "dir" : "file", size: GOOD.length, mtime: 0 },
        }),
      );
    } else if (is(f, SERVICES.DOWNLOAD)) {
      const { id, path } = decodeDownload(f.payload);
      state.requests.push(`DOWNLOAD ${path}`);
      await send(encodeFileInfo({ id, size: GOOD.length, mtime: 0 }));
      await send(encodeDataFrames(SERVICES.DOWNLOAD_DATA, id, GOOD));
      // This server predates checksum negotiation (its WELCOME says nothing): SHA-256.
      const digest = new Uint8Array(createHash("sha256").update(GOOD).digest());
      await send(encodeEof({ id, size: GOOD.length, digest }));
    } else {
      const id = new DataView(f.payload.buffer, f.payload.byteOffset).getUint32(0);
      await send(encodeError({ id, code: "UNSUPPORTED", message: "not here" }));
    }
  });
  return Object.assign(state, {
    port: server.port,
    ca: server.ca,
    [Symbol.asyncDispose]: () => server[Symbol.asyncDispose](),
  });
}

/** Every path below `dir`, sorted. */
async function everything(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    out.push(e.name);
    if (e.isDirectory) {
      out.push(...(await everything(`${dir}/${e.name}`)).map((n) => `${e.name}/${n}`));
    }
  }
  return out.sort();
}

/**
 * Where a client that joined a listed name to a local directory naively (without checking it)
 * would write: the name resolved against the working directory, the target and the tree below
 * it (with `\\` read as `/` too), and the hidden partial file beside each. The ones outside
 * `inside` are returned: nothing else checks them.
 */
function naiveTargets(name: string, bases: string[], inside: string): string[] {
  const out = new Set<string>();
  for (const base of bases) {
    for (const n of new Set([name, name.replaceAll("\\", "/")])) {
      const p = resolve(base, n);
      out.add(p);
      out.add(join(dirname(p), `.${basename(p)}.ferry-partial`));
    }
  }
  // A path holding NUL cannot exist.
  return [...out].filter((p) => !p.includes("\0") && !p.startsWith(`${inside}/`) && p !== inside);
}

/**
 * What is at each path and beside it: every entry of its directory named like it, or like it
 * with a suffix (`x.tmp`), or hidden (`.x.ferry-partial`), with kind, size and modification
 * time. It only reads.
 */
async function snapshot(paths: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const dir of new Set(paths.map((p) => dirname(p)))) {
    const prefixes = paths.filter((p) => dirname(p) === dir).map((p) => basename(p));
    let entries: Deno.DirEntry[] = [];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    for (const e of entries) {
      const near = (b: string) =>
        e.name === b || e.name.startsWith(`${b}.`) || e.name.startsWith(`.${b}`);
      if (!prefixes.some(near)) continue;
      const info = await Deno.lstat(join(dir, e.name));
      out.push(
        `${join(dir, e.name)} ${
          e.isDirectory ? "dir" : "file"
        } ${info.size} ${info.mtime?.getTime()}`,
      );
    }
  }
  return out.sort();
}

const HOSTILE: [string, Entry][] = [
  ["dot-dot", { name: "../evil", kind: "file", size: 11, mtime: 0 }],
  ["dot-dot directory", { name: "..", kind: "dir", size: 0, mtime: 0 }],
  ["absolute", { name: "/etc/x", kind: "file", size: 11, mtime: 0 }],
  ["backslash", { name: "a\\b", kind: "file", size: 11, mtime: 0 }],
  ["backslash dot-dot", { name: "..\\..\\evil", kind: "file", size: 11, mtime: 0 }],
  ["drive letter", { name: "C:x", kind: "file", size: 11, mtime: 0 }],
  ["NUL", { name: "a\0b", kind: "file", size: 11, mtime: 0 }],
  ["terminal escape", { name: "\x1b]0;pwned\x07x", kind: "file", size: 11, mtime: 0 }],
  ["slash inside a directory name", { name: "sub/../../evil", kind: "dir", size: 0, mtime: 0 }],
  ["a name listed twice", { name: "good.txt", kind: "file", size: 11, mtime: 0 }],
];

Deno.test("client hostile server: get -r and wildcards create nothing for unsafe listed names", async (t) => {
  await using server = await fakeServer();
  await using dir = await tempDir("ferry-hostile-");
  // The client works in dir/work/cwd; a canary sits above it.
  const cwd = `${dir.path}/work/cwd`;
  await Deno.mkdir(cwd, { recursive: true });
  await Deno.writeTextFile(`${dir.path}/ca.pem`, server.ca);
  const args = [
    "--host",
    "127.0.0.1",
    "--port",
    String(server.port),
    "--ca",
    `${dir.path}/ca.pem`,
    "--token",
    "t",
  ];
  const env = { FERRY_CONFIG_DIR: `${dir.path}/config` };
  const before = await everything(dir.path);

  for (const [what, entry] of HOSTILE) {
    await t.step(what, async () => {
      server.hostile = [entry];
      // The wildcard is chosen to match the hostile name (a bare * skips names with a leading dot).
      const pattern = entry.name.startsWith(".") ? "pkg/.*" : "pkg/*";
      const outside = naiveTargets(entry.name, [cwd, `${cwd}/out`, `${cwd}/out/pkg`], dir.path);
      if (what === "absolute") assert.ok(outside.includes("/etc/x"), outside.join(" "));
      const outsideBefore = await snapshot(outside);
      for (const cmd of [["get", "-r", "pkg", "out"], ["get", pattern, "out/"]]) {
        const run = await ferry(cwd, [...args, ...cmd], env);
        assert.notEqual(run.code, 0, `${cmd.join(" ")} must fail: ${run.stdout}${run.stderr}`);
        assert.ok([7, 11].includes(run.code), `BAD_NAME (7) or BAD_FRAME (11): ${run.stderr}`);
        assert.match(run.stderr, /^ferry: .*\[(BAD_NAME|BAD_FRAME|BAD_ARGUMENT)\]\n$/);
        // deno-lint-ignore no-control-regex
        assert.doesNotMatch(run.stderr, /[\x00-\x08\x0b-\x1f\x7f]/, "control characters escaped");
        assert.deepEqual(await everything(dir.path), before, `${cmd.join(" ")} created files`);
        assert.deepEqual(
          await snapshot(outside),
          outsideBefore,
          `${cmd.join(" ")} wrote outside the temporary directory`,
        );
      }
    });
  }

  await t.step("a wildcard that matches only safe names still works", async () => {
    server.hostile = [{ name: "../evil", kind: "file", size: 11, mtime: 0 }];
    const run = await ferry(cwd, [...args, "get", "pkg/good*", "out/"], env);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(await everything(cwd), ["out", "out/good.txt"]);
    assert.equal(await Deno.readTextFile(`${cwd}/out/good.txt`), "good bytes\n");
    await Deno.remove(`${cwd}/out`, { recursive: true });
  });

  await t.step("ls asks a server that predates LIST_NAMES for a plain listing", async () => {
    server.hostile = [];
    server.requests.length = 0;
    const run = await ferry(cwd, [...args, "ls", "pkg"], env);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, "good.txt\n");
    assert.deepEqual(server.requests, ["LIST pkg"], "no options byte after the path");
  });

  await t.step("ls prints hostile names escaped", async () => {
    server.hostile = [{ name: "\x1b[31mred\x9b2J", kind: "file", size: 11, mtime: 0 }];
    for (const cmd of [["ls", "pkg"], ["ls", "-l", "pkg"], ["ls", "--json", "pkg"]]) {
      const run = await ferry(cwd, [...args, ...cmd], env);
      assert.equal(run.code, 0, run.stderr);
      assert.doesNotMatch(
        run.stdout,
        // deno-lint-ignore no-control-regex
        /[\x00-\x09\x0b-\x1f\x7f-\x9f]/,
        `${cmd}: ${JSON.stringify(run.stdout)}`,
      );
      assert.match(run.stdout, /red/);
    }
  });
});
