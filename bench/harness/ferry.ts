/**
 * The ferry server, the `ferry` CLI and the library-driven operations of `ferry_ops.ts`, each
 * run as its own process with the permissions of the shipped tasks (`serve`, `client`).
 *
 * @module
 */

import type { Data } from "./data.ts";
import {
  DENO,
  REPO,
  run,
  type RunOptions,
  type RunResult,
  type Service,
  type Services,
} from "./process.ts";

/** A running ferry server. */
export interface FerryServer {
  /** Its process. */
  service: Service;
  /** Its port on 127.0.0.1. */
  port: number;
  /** Its certificates directory: ca.pem and the admin token, which the CLI finds there. */
  certs: string;
}

/** What the server and the CLI of this tree can do, read from their `--help`. */
export interface Features {
  /** Extra server flags: per-address connection limits above the many-clients count. */
  serverFlags: string[];
  /** Whether the CLI has `--streams N` (one file over several connections). */
  streams: boolean;
  /** Whether `put` takes `--streams N` too (its usage line in `--help` lists it). */
  putStreams: boolean;
  /** Whether the server has an S3 storage option (`--s3…`). */
  serverS3: boolean;
  /** Whether the server can serve from several isolates (`--workers N`). */
  serverWorkers: boolean;
}

/** The flags of a `deno.json` task (the words starting with `--`). */
function taskFlags(task: string): string[] {
  const tasks = JSON.parse(Deno.readTextFileSync(`${REPO}/deno.json`)).tasks ?? {};
  const line = tasks[task];
  if (typeof line !== "string") throw new Error(`deno.json has no ${task} task`);
  return line.split(/\s+/).filter((w) => w.startsWith("--"));
}

/** Reads the server's and the CLI's `--help`. */
export async function readFeatures(clients: number): Promise<Features> {
  const help = async (script: string) => {
    const r = await run(DENO, [
      "run",
      ...taskFlags(script === "server" ? "serve" : "client"),
      `${REPO}/${script}/main.ts`,
      "--help",
    ], {
      allowFail: true,
    });
    return r.stdout + r.stderr;
  };
  const server = await help("server");
  const cli = await help("cli");
  return {
    // Every client connects from 127.0.0.1, all at once: room for them in both pools.
    serverFlags: ["--max-connections-per-ip", "--max-unauthenticated-per-ip"]
      .filter((flag) => server.includes(flag))
      .flatMap((flag) => [flag, String(Math.max(64, clients * 2))]),
    streams: /--streams\b/.test(cli),
    putStreams: /ferry \[options\] put [^\n]*--streams/.test(cli),
    serverS3: /--s3[\w-]*/.test(server),
    serverWorkers: /--workers\b/.test(server),
  };
}

/**
 * Starts a server on a free port with the `serve` task's flags, its writes limited to the run's
 * root and certificates; `env` is added to its environment (the S3 keys).
 */
export async function startFerry(
  services: Services,
  d: Data,
  extraFlags: string[],
  env?: Record<string, string>,
): Promise<FerryServer> {
  const flags = taskFlags("serve").map((f) =>
    f.startsWith("--allow-write") ? `--allow-write=${d.root},${d.certs}` : f
  );
  const { service, match } = await services.start(
    "ferry-server",
    DENO,
    [
      "run",
      ...flags,
      `${REPO}/server/main.ts`,
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--root",
      d.root,
      "--certs",
      d.certs,
      ...extraFlags,
    ],
    /ferry-server (?:\S+ )?listening on [^\s]*:(\d+)/,
    { env },
  ); // "ferry-server 0.1.0 listening on …"
  return { service, port: Number(match![1]), certs: d.certs };
}

/**
 * The `ferry` CLI as a user runs it (the `client` task's flags), quiet, against `port` (the
 * server's or a relay's), finding the CA and token in the server's certificates directory.
 */
export function ferryCli(
  server: FerryServer,
  d: Data,
  port: number,
  args: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  return run(DENO, [
    "run",
    ...taskFlags("client"),
    `${REPO}/cli/main.ts`,
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "--certs",
    server.certs,
    "-q",
    ...args,
  ], { ...options, env: { FERRY_CONFIG_DIR: d.cliConfig, ...options.env } });
}

/** One `bench/harness/ferry_ops.ts` operation (the library); its JSON result and wall time. */
export async function ferryOps(
  server: FerryServer,
  port: number,
  args: string[],
): Promise<{ ms: number; result: Record<string, number> }> {
  const r = await run(DENO, [
    "run",
    "--allow-net=127.0.0.1",
    "--allow-read",
    "--allow-write",
    `${REPO}/bench/harness/ferry_ops.ts`,
    args[0],
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "--ca",
    `${server.certs}/ca.pem`,
    "--token-file",
    `${server.certs}/token`,
    ...args.slice(1),
  ]);
  return { ms: r.ms, result: JSON.parse(r.stdout.trim().split("\n").at(-1)!) };
}
