/**
 * Library-driven ferry operations for the benchmark, each run as its own process so that its
 * time and memory are its own:
 *
 * ```sh
 * F="deno run --allow-net=127.0.0.1 --allow-read --allow-write bench/harness/ferry_ops.ts"
 * $F put-many --dir LOCAL --remote DIR [--limit N]   # one connection, all uploads at once
 * $F get-many --files a,b,c --out DIR [--serial]     # one connection per file, all at once
 * $F ls --path DIR                                    # one listing
 * ```
 *
 * Common options: `--host` (127.0.0.1), `--port`, `--ca FILE`, `--token-file FILE`. Each prints one
 * JSON line: what it did, `ms` from before connecting to the end, and `peakRssKiB` (the peak
 * resident set size of this process, from getrusage).
 * `get-many --serial` downloads the same files one after another over one connection (the
 * single-stream reference for the many-clients case).
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { connect, type FerryClient } from "../../mod.ts";

interface Common {
  host: string;
  port: number;
  ca: string;
  token: string;
}

function open(c: Common): Promise<FerryClient> {
  return connect({ hostname: c.host, port: c.port, token: c.token, caCerts: [c.ca] });
}

async function putMany(c: Common, dir: string, remote: string, limit: number) {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.isFile) names.push(e.name);
  names.sort();
  const files = names.slice(0, limit);
  const started = performance.now();
  const client = await open(c);
  const connected = performance.now();
  try {
    await client.mkdir(remote, { parents: true });
    const results = await Promise.all(
      files.map((name) => client.upload(`${dir}/${name}`, `${remote}/${name}`)),
    );
    const bytes = results.reduce((s, r) => s + r.bytes, 0);
    return {
      op: "put-many",
      files: files.length,
      bytes,
      connectMs: connected - started,
      ms: performance.now() - started,
    };
  } finally {
    client.close();
    await client.closed;
  }
}

async function getMany(c: Common, files: string[], out: string, serial: boolean) {
  await Deno.mkdir(out, { recursive: true });
  const started = performance.now();
  let bytes = 0;
  if (serial) {
    const client = await open(c);
    try {
      for (const [i, f] of files.entries()) {
        bytes += (await client.download(f, `${out}/serial-${i}`)).bytes;
      }
    } finally {
      client.close();
      await client.closed;
    }
  } else {
    const sizes = await Promise.all(files.map(async (f, i) => {
      const client = await open(c);
      try {
        return (await client.download(f, `${out}/parallel-${i}`)).bytes;
      } finally {
        client.close();
        await client.closed;
      }
    }));
    bytes = sizes.reduce((a, b) => a + b, 0);
  }
  return {
    op: "get-many",
    serial,
    clients: serial ? 1 : files.length,
    bytes,
    ms: performance.now() - started,
  };
}

async function ls(c: Common, path: string) {
  const started = performance.now();
  const client = await open(c);
  try {
    const t = performance.now();
    const entries = await client.list(path);
    const listMs = performance.now() - t;
    return { op: "ls", entries: entries.length, listMs, ms: performance.now() - started };
  } finally {
    client.close();
    await client.closed;
  }
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string" },
      ca: { type: "string" },
      "token-file": { type: "string" },
      dir: { type: "string" },
      remote: { type: "string" },
      limit: { type: "string" },
      files: { type: "string" },
      out: { type: "string" },
      serial: { type: "boolean", default: false },
      path: { type: "string", default: "." },
    },
  });
  const common: Common = {
    host: values.host,
    port: Number(values.port),
    ca: await Deno.readTextFile(values.ca!),
    token: (await Deno.readTextFile(values["token-file"]!)).trim(),
  };
  let result: Record<string, unknown>;
  switch (positionals[0]) {
    case "put-many":
      result = await putMany(
        common,
        values.dir!,
        values.remote!,
        values.limit === undefined ? Infinity : Number(values.limit),
      );
      break;
    case "get-many":
      result = await getMany(common, values.files!.split(","), values.out!, values.serial);
      break;
    case "ls":
      result = await ls(common, values.path);
      break;
    default:
      console.error("usage: ferry_ops.ts put-many|get-many|ls [options]");
      Deno.exit(2);
  }
  console.log(JSON.stringify({ ...result, peakRssKiB: process.resourceUsage().maxRSS }));
}
