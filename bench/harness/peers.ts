/**
 * The ceiling (`ceiling.ts`, a bare Deno TLS sender/receiver) and the delay relay
 * (`delay_proxy.ts`), started and used as their own processes.
 *
 * @module
 */

import type { Data } from "./data.ts";
import { DENO, REPO, run, type RunResult, type Service, type Services } from "./process.ts";

/** A running ceiling server. */
export interface Ceiling {
  /** Its process. */
  service: Service;
  /** Its port on 127.0.0.1. */
  port: number;
}

/** Where the ceiling server stores a put. */
export function ceilingPutPath(d: Data): string {
  return `${d.out}/ceiling-put`;
}

/** Where a ceiling get writes. */
export function ceilingGetPath(d: Data): string {
  return `${d.out}/ceiling-get`;
}

/** Starts the ceiling server with the ferry server's certificate, serving the big file. */
export async function startCeiling(services: Services, d: Data): Promise<Ceiling> {
  const { service, match } = await services.start("ceiling", DENO, [
    "run",
    "--allow-net=127.0.0.1",
    "--allow-read",
    `--allow-write=${d.out}`,
    `${REPO}/bench/harness/ceiling.ts`,
    "serve",
    "--cert",
    `${d.certs}/server.pem`,
    "--key",
    `${d.certs}/server-key.pem`,
    "--port",
    "0",
    "--file",
    d.big,
    "--out-dir",
    d.out,
  ], /ceiling listening on [^\s]*:(\d+)/);
  return { service, port: Number(match![1]) };
}

/** One ceiling transfer of the big file, to `port` (the ceiling's or a relay's). */
export function ceilingOp(
  d: Data,
  port: number,
  op: "get" | "put",
  fsync: boolean,
): Promise<RunResult> {
  const args = [
    "run",
    "--allow-net=127.0.0.1",
    "--allow-read",
    `--allow-write=${d.out}`,
    `${REPO}/bench/harness/ceiling.ts`,
    op,
    "--port",
    String(port),
    "--ca",
    `${d.certs}/ca.pem`,
  ];
  if (op === "get") args.push("--out", ceilingGetPath(d));
  else args.push("--file", d.big);
  if (fsync) args.push("--fsync");
  return run(DENO, args);
}

/** Starts a relay to `127.0.0.1:port` delaying each direction by `delayMs`; its port. */
export async function startRelay(
  services: Services,
  name: string,
  port: number,
  delayMs: number,
): Promise<{ service: Service; port: number }> {
  const { service, match } = await services.start(`relay-${name}`, DENO, [
    "run",
    "--allow-net=127.0.0.1",
    `${REPO}/bench/harness/delay_proxy.ts`,
    "--listen",
    "127.0.0.1:0",
    "--target",
    `127.0.0.1:${port}`,
    "--delay-ms",
    String(delayMs),
  ], /delay_proxy listening on [^\s]*:(\d+)/);
  return { service, port: Number(match![1]) };
}
