/**
 * `ferry`: the command-line client, a thin layer over the library in `client/client.ts`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { basename, join } from "node:path";
import { FerryError } from "../protocol/errors.ts";
import {
  connect,
  DEFAULT_PORT,
  type Entry,
  type FerryClient,
  type TransferResult,
} from "./client.ts";
import { exitCodeFor } from "./exit_codes.ts";

const HELP = `ferry: copy files to and from a ferry server over TLS

Usage:
  ferry [options] ls [DIR]              list a remote directory (default: the root)
  ferry [options] get REMOTE [LOCAL]    download (LOCAL defaults to the remote name here)
  ferry [options] put LOCAL [REMOTE]    upload (REMOTE defaults to the local file name)
  ferry [options] rm REMOTE             delete a remote file or empty directory
  ferry [options] shutdown              stop the server (admin token only)

Options:
  --host HOST      server                          (default localhost)
  --port N         port                            (default ${DEFAULT_PORT})
  --certs DIR      where ca.pem and token are found by default   (default ./certs)
  --ca FILE        CA certificate to trust         (default <certs>/ca.pem when present)
  --token TOKEN    access token                    (default $FERRY_TOKEN, then <certs>/token)
  --json           print machine-readable JSON (ls, get, put)
  -q, --quiet      print nothing on success
  -h, --help       show this help

Exit status: 0 success; 2 usage; 3 connection; 4 TLS; 5 authentication; 6 not found or wrong
kind; 7 bad path; 8 checksum; 9 space or size; 10 local file; 11 protocol; 12 cancelled; 1 other.`;

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

function usage(message: string): FerryError {
  return new FerryError("USAGE", `${message} (see ferry --help)`);
}

function formatSize(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

function formatTime(ms: number | null): string {
  if (ms === null) return "-".padEnd(16);
  const d = new Date(ms);
  const pad = (x: number) => String(x).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${
    pad(d.getMinutes())
  }`;
}

/** Escapes control characters so a hostile name cannot drive the terminal. */
function printable(name: string): string {
  // deno-lint-ignore no-control-regex
  return /[\x00-\x1f\x7f-\x9f]/.test(name) ? JSON.stringify(name) : name;
}

function formatListing(entries: Entry[]): string {
  const sizes = entries.map((e) => e.kind === "file" ? String(e.size) : "-");
  const width = Math.max(1, ...sizes.map((s) => s.length));
  return entries.map((e, i) =>
    `${e.kind.padEnd(7)} ${sizes[i].padStart(width)}  ${formatTime(e.mtime)}  ${printable(e.name)}${
      e.kind === "dir" ? "/" : ""
    }`
  ).join("\n");
}

function summary(verb: string, from: string, to: string, r: TransferResult, ms: number): string {
  const rate = ms > 0 ? `${formatSize(Math.round(r.bytes / (ms / 1000)))}/s` : "";
  return `${verb} ${from} -> ${to}: ${formatSize(r.bytes)} in ${
    (ms / 1000).toFixed(2)
  } s ${rate}, sha256 ${r.sha256}`;
}

/** Allowed argument counts per command, checked before connecting. */
const ARITY: Record<string, [min: number, max: number, usage: string]> = {
  ls: [0, 1, "ls takes at most one directory"],
  get: [1, 2, "get takes REMOTE [LOCAL]"],
  put: [1, 2, "put takes LOCAL [REMOTE]"],
  rm: [1, 1, "rm takes one REMOTE path"],
  shutdown: [0, 0, "shutdown takes no arguments"],
};

function validateCommand(command: string, args: string[]): void {
  const arity = ARITY[command];
  if (arity === undefined) throw usage(`unknown command ${JSON.stringify(command)}`);
  if (args.length < arity[0] || args.length > arity[1]) throw usage(arity[2]);
}

async function run(
  client: FerryClient,
  command: string,
  args: string[],
  json: boolean,
  quiet: boolean,
) {
  const out = (text: string) => {
    if (!quiet) console.log(text);
  };
  const started = performance.now();
  switch (command) {
    case "ls": {
      const entries = await client.list(args[0] ?? ".");
      if (json) console.log(JSON.stringify(entries));
      else if (entries.length > 0) out(formatListing(entries));
      return;
    }
    case "get": {
      const result = await client.download(args[0], args[1] ?? ".");
      if (json) console.log(JSON.stringify(result));
      else out(summary("get", args[0], result.path, result, performance.now() - started));
      return;
    }
    case "put": {
      const remote = args[1] ?? basename(args[0]);
      const result = await client.upload(args[0], remote);
      if (json) console.log(JSON.stringify(result));
      else out(summary("put", args[0], remote, result, performance.now() - started));
      return;
    }
    case "rm": {
      await client.remove(args[0]);
      return;
    }
    case "shutdown": {
      await client.shutdown();
      out("server is shutting down");
      return;
    }
    default:
      throw usage(`unknown command ${JSON.stringify(command)}`);
  }
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        host: { type: "string", default: "localhost" },
        port: { type: "string", default: String(DEFAULT_PORT) },
        certs: { type: "string", default: "./certs" },
        ca: { type: "string" },
        token: { type: "string" },
        json: { type: "boolean", default: false },
        quiet: { type: "boolean", short: "q", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (err) {
    throw usage((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const [command, ...args] = positionals;
  if (command === undefined) throw usage("no command given");
  validateCommand(command, args);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw usage("--port must be 1..65535");

  const token = values.token ?? Deno.env.get("FERRY_TOKEN") ??
    (await readOptional(join(values.certs, "token")))?.trim();
  if (!token) {
    throw usage(
      `no token: pass --token, set FERRY_TOKEN, or put it in ${join(values.certs, "token")}`,
    );
  }
  const caPath = values.ca ?? join(values.certs, "ca.pem");
  const ca = await readOptional(caPath);
  if (ca === undefined && values.ca !== undefined) {
    throw new FerryError("LOCAL_IO", `CA file ${values.ca} not found`);
  }

  const client = await connect({
    hostname: values.host,
    port,
    token,
    caCerts: ca === undefined ? undefined : [ca],
  });
  try {
    await run(client, command, args, values.json, values.quiet);
  } finally {
    client.close();
    await client.closed;
  }
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (err) {
    const e = err instanceof FerryError
      ? err
      : new FerryError("INTERNAL", err instanceof Error ? err.message : String(err));
    console.error(`ferry: ${e.message} [${e.code}]`);
    Deno.exit(exitCodeFor(e.code));
  }
}
