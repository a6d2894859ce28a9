/**
 * Test fixtures: a real ferry server over real TLS on 127.0.0.1, in a fresh temporary data
 * root, with admin, read-write and read-only tokens, and a client connected to it.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { xxhash128 } from "hash-wasm";
import { type CertificateSet, generateCertificates } from "../server/certificates.ts";
import { accountFor } from "../server/auth.ts";
import { type FerryServer, serve } from "../server/server.ts";
import type { Limits } from "../server/limits.ts";
import type { LogFields } from "../server/log.ts";
import { connect, type FerryClient } from "../mod.ts";

let certs: Promise<CertificateSet> | undefined;

/** One CA and server certificate shared by all tests of a run (generation takes a moment). */
export function testCertificates(): Promise<CertificateSet> {
  certs ??= generateCertificates();
  return certs;
}

/** Tokens of the test accounts. */
export const TOKENS = {
  admin: "admin-token-for-tests",
  write: "rw-token-for-tests",
  read: "ro-token",
};

/** A running test server and what a test needs to reach it. */
export interface TestServer {
  /** The server. */
  server: FerryServer;
  /** Its port on 127.0.0.1. */
  port: number;
  /** The served data root (a temporary directory). */
  root: string;
  /** A temporary directory beside the root, for local files and canaries. */
  outside: string;
  /** The CA certificate, PEM. */
  ca: string;
  /** Every log line the server wrote. */
  logs: LogFields[];
  /** Connects a client with `token` (default: admin). */
  client(token?: string): Promise<FerryClient>;
  /** Shuts the server down and removes the temporary directories. */
  close(): Promise<void>;
}

/** Starts a server on a free port with small, test-friendly limits. */
export async function startServer(limits: Partial<Limits> = {}): Promise<TestServer> {
  const set = await testCertificates();
  const base = await Deno.makeTempDir({ prefix: "ferry-test-" });
  const root = `${base}/root`;
  const outside = `${base}/outside`;
  await Deno.mkdir(root);
  await Deno.mkdir(outside);
  const logs: LogFields[] = [];
  const server = await serve({
    hostname: "127.0.0.1",
    port: 0,
    root,
    cert: set.cert,
    key: set.key,
    accounts: [
      accountFor("admin", "admin", TOKENS.admin),
      accountFor("alice", "write", TOKENS.write),
      accountFor("bob", "read", TOKENS.read),
    ],
    limits: { shutdownGraceMs: 2_000, ...limits },
    log: (fields) => logs.push(fields),
  });
  const port = server.addr.port;
  return {
    server,
    port,
    root,
    outside,
    ca: set.caCert,
    logs,
    client: (token = TOKENS.admin) =>
      connect({ hostname: "localhost", port, token, caCerts: [set.caCert] }),
    async close() {
      await server.shutdown("test done");
      await server.finished;
      await Deno.remove(base, { recursive: true });
    },
  };
}

/** Hex SHA-256 of bytes. */
export function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * Hex XXH3-128 of bytes, by the npm package `hash-wasm` (not by `common/xxh128/`, the code under
 * test): the default checksum of transfers between a client and a server of this version.
 */
export function xxh128Hex(data: Uint8Array): Promise<string> {
  return xxhash128(data);
}

/** `n` pseudo-random bytes (crypto.getRandomValues fills at most 64 KiB per call). */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let o = 0; o < n; o += 65536) {
    crypto.getRandomValues(out.subarray(o, Math.min(n, o + 65536)));
  }
  return out;
}
