/**
 * `ferry-server`: the command-line entry point of the server.
 *
 * ```sh
 * deno task serve [--host 0.0.0.0] [--port 4433] [--root ./data] [--certs ./certs]
 * deno task certs            # make new certificates (keeps the token)
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { dirname, join } from "node:path";
import { FerryError } from "../protocol/errors.ts";
import {
  accountFor,
  ensureAdminToken,
  generateToken,
  loadUsers,
  TOKEN_FILE,
  type UserRecord,
  userRecord,
} from "./auth.ts";
import { CERT_FILES, ensureCertificates, fingerprint } from "./certificates.ts";
import { stderrLogger } from "./log.ts";
import { mergeSettings, parseConfigFile } from "./config.ts";
import { serve } from "./server.ts";
import { DEFAULT_LIMITS, type Limits } from "./limits.ts";

/** How a limit's flag value is written: a count, a duration, or a size in bytes. */
type LimitKind = "count" | "duration" | "size";

/** Every limit's flag, with its field in {@linkcode Limits} and a short meaning for --help. */
const LIMIT_FLAGS: readonly { flag: string; key: keyof Limits; kind: LimitKind; help: string }[] = [
  { flag: "max-connections", key: "maxConnections", kind: "count", help: "connections at once" },
  {
    flag: "max-connections-per-ip",
    key: "maxConnectionsPerIp",
    kind: "count",
    help: "connections at once from one address (IPv6: a /64)",
  },
  {
    flag: "handshake-timeout",
    key: "handshakeTimeoutMs",
    kind: "duration",
    help: "deadline for the TLS handshake",
  },
  {
    flag: "auth-timeout",
    key: "authTimeoutMs",
    kind: "duration",
    help: "deadline for logging in, from connecting",
  },
  {
    flag: "idle-timeout",
    key: "idleTimeoutMs",
    kind: "duration",
    help: "close a connection idle this long",
  },
  {
    flag: "write-stall-timeout",
    key: "writeStallTimeoutMs",
    kind: "duration",
    help: "close a connection whose client stopped reading",
  },
  {
    flag: "max-auth-failures",
    key: "maxAuthFailures",
    kind: "count",
    help: "failed logins before a connection is closed",
  },
  {
    flag: "auth-failures-per-ip",
    key: "authFailuresPerIp",
    kind: "count",
    help: "failed logins from one address per window",
  },
  {
    flag: "auth-failure-window",
    key: "authFailureWindowMs",
    kind: "duration",
    help: "window in which failed logins are counted",
  },
  {
    flag: "auth-lockout",
    key: "authLockoutMs",
    kind: "duration",
    help: "first lockout of an address (doubles each time)",
  },
  { flag: "auth-lockout-max", key: "authLockoutMaxMs", kind: "duration", help: "longest lockout" },
  {
    flag: "tracked-addresses",
    key: "trackedAddresses",
    kind: "count",
    help: "addresses remembered for lockouts",
  },
  {
    flag: "flood-budget",
    key: "floodBudget",
    kind: "count",
    help: "useless frames (refused, empty, CANCEL) in a burst",
  },
  {
    flag: "flood-refill",
    key: "floodRefillPerSecond",
    kind: "count",
    help: "useless frames per second, indefinitely",
  },
  {
    flag: "max-inflight",
    key: "maxInflightPerConnection",
    kind: "count",
    help: "operations running at once per connection",
  },
  { flag: "max-upload", key: "maxUploadBytes", kind: "size", help: "largest upload" },
  {
    flag: "shutdown-grace",
    key: "shutdownGraceMs",
    kind: "duration",
    help: "time transfers get to finish on shutdown",
  },
  {
    flag: "quota",
    key: "quotaBytes",
    kind: "size",
    help: "bytes the data root may hold (0: none)",
  },
  {
    flag: "partial-ttl",
    key: "partialTtlMs",
    kind: "duration",
    help: "how long an interrupted upload is kept for resuming",
  },
  {
    flag: "cleanup-interval",
    key: "cleanupIntervalMs",
    kind: "duration",
    help: "how often stale temporary files are removed",
  },
];

/** A limit's default as written on the command line. */
function formatLimit(kind: LimitKind, value: number): string {
  if (kind === "duration") {
    if (value % 3_600_000 === 0) return `${value / 3_600_000}h`;
    if (value % 60_000 === 0) return `${value / 60_000}m`;
    if (value % 1000 === 0) return `${value / 1000}s`;
    return `${value}ms`;
  }
  if (kind === "size" && value === Number.MAX_SAFE_INTEGER) return "unlimited";
  return String(value);
}

const LIMITS_HELP = LIMIT_FLAGS.map(({ flag, key, kind, help }) => {
  const arg = { count: "N", duration: "TIME", size: "BYTES" }[kind];
  return `  --${`${flag} ${arg}`.padEnd(28)} ${`${help}`.padEnd(50)} ${
    formatLimit(kind, DEFAULT_LIMITS[key])
  }`;
}).join("\n");

/**
 * Parses a duration: a number with `ms`, `s`, `m` or `h`, or a bare number of seconds.
 *
 * @throws {FerryError} `USAGE` when it is not one.
 */
export function parseDuration(value: string, name: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (m === null) {
    throw new FerryError("USAGE", `--${name} must be a duration such as 500ms, 30s, 5m or 1h`);
  }
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? "s"]!;
  return Math.round(Number(m[1]) * unit);
}

/**
 * Parses a size in bytes: a whole number, optionally with K, M, G or T (powers of 1024), or
 * `unlimited`.
 *
 * @throws {FerryError} `USAGE` when it is not one.
 */
export function parseSize(value: string, name: string): number {
  if (value.trim() === "unlimited") return Number.MAX_SAFE_INTEGER;
  const m = /^(\d+)\s*([KMGT]?)(?:i?B)?$/i.exec(value.trim());
  const n = m === null ? NaN : Number(m[1]) * 1024 ** "_KMGT".indexOf(m[2].toUpperCase() || "_");
  if (!Number.isSafeInteger(n)) {
    throw new FerryError("USAGE", `--${name} must be a size such as 1048576, 512M or 10G`);
  }
  return n;
}

/** The limits set by flags in `values`; unset ones are left out. */
function limitsFromFlags(values: Record<string, unknown>): Partial<Limits> {
  const limits: Partial<Limits> = {};
  for (const { flag, key, kind } of LIMIT_FLAGS) {
    const value = values[flag];
    if (typeof value !== "string") continue;
    limits[key] = kind === "duration"
      ? parseDuration(value, flag)
      : kind === "size"
      ? parseSize(value, flag)
      : intOption(value, flag, 0);
  }
  return limits;
}

const HELP = `ferry-server: serve a directory over TLS

Usage:
  ferry-server [options]          start the server
  ferry-server certs [--force]    create the CA, certificate and token in --certs (and exit)
  ferry-server adduser NAME [--role read|write|admin]
                                  add a user to <certs>/users.json and print their new token

Options (each also as a FERRY_* variable, e.g. FERRY_MAX_CONNECTIONS, or as a key of the
--config file, e.g. {"port": 4433, "max-connections": 64}; flags win over variables, variables
over the file):
  --config FILE      JSON settings file                (env FERRY_CONFIG)
  --host ADDR        address to listen on            (default 0.0.0.0)
  --port N           port                             (default 4433)
  --root DIR         directory to serve, created if missing   (default ./data)
  --certs DIR        certificates and token           (default ./certs)
  --cert FILE        use your own certificate chain (PEM) instead of --certs/server.pem
  --key FILE         the private key (PEM, PKCS#8) for --cert
  --users FILE       extra users: JSON [{"user","role":"read|write|admin","sha256"}]
                     (default <certs>/users.json when it exists)

Limits, with their defaults (TIME: 500ms, 30s, 5m, 1h, or seconds; BYTES: 1048576, 512M, 10G):
${LIMITS_HELP}

  -h, --help         show this help

On first start the server creates a local CA, a certificate for localhost, 127.0.0.1 and ::1,
and an admin token (<certs>/token, mode 0600), and prints the certificate's SHA-256
fingerprint. Clients run from the same directory find ca.pem and the token by themselves.
SIGINT/SIGTERM stop it gracefully.`;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

function intOption(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new FerryError("USAGE", `--${name} must be a whole number`);
  }
  return n;
}

/** Adds (or replaces) a user in the users file and prints their new token. */
async function addUser(file: string, user: string | undefined, role: string): Promise<number> {
  if (!user) throw new FerryError("USAGE", "adduser needs a user name");
  if (role !== "read" && role !== "write" && role !== "admin") {
    throw new FerryError("USAGE", "--role must be read, write or admin");
  }
  let records: UserRecord[] = [];
  if (await exists(file)) {
    await loadUsers(file); // refuses a malformed file before it is rewritten
    records = JSON.parse(await Deno.readTextFile(file));
  }
  const token = generateToken();
  const next = records.filter((r) => r.user !== user);
  next.push(userRecord(user, role, token));
  await Deno.mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(next, null, 2) + "\n", {
    mode: 0o600,
    createNew: true,
  });
  await Deno.rename(tmp, file);
  console.error(
    `added ${user} (${role}) to ${file}; their token (shown once, stored only as a hash):`,
  );
  console.log(token);
  return 0;
}

/** An environment variable, or `undefined` when it is unset or not granted (never prompts). */
function readEnv(name: string): string | undefined {
  const { state } = Deno.permissions.querySync({ name: "env", variable: name });
  return state === "granted" ? Deno.env.get(name) : undefined;
}

/** Every setting that flags, FERRY_* variables and the config file can give. */
const SETTINGS: readonly string[] = [
  "host",
  "port",
  "root",
  "certs",
  "cert",
  "key",
  "users",
  ...LIMIT_FLAGS.map(({ flag }) => flag),
];

async function main(args: string[]): Promise<number> {
  const { values: flags, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: "string" },
      host: { type: "string" },
      port: { type: "string" },
      root: { type: "string" },
      certs: { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
      users: { type: "string" },
      ...Object.fromEntries(LIMIT_FLAGS.map(({ flag }) => [flag, { type: "string" as const }])),
      force: { type: "boolean", default: false },
      role: { type: "string", default: "write" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (flags.help) {
    console.log(HELP);
    return 0;
  }
  // Flags, then FERRY_* variables, then the config file, then defaults.
  const configPath = flags.config ?? readEnv("FERRY_CONFIG");
  const fileSettings = configPath === undefined
    ? {}
    : parseConfigFile(await Deno.readTextFile(configPath), configPath, SETTINGS);
  const values = {
    ...flags,
    ...mergeSettings(SETTINGS, flags, readEnv, fileSettings),
  };
  const certsDir = values.certs ?? "./certs";
  const rootDir = values.root ?? "./data";

  if (positionals[0] === "certs") {
    const { set, created } = await ensureCertificates(certsDir, { force: values.force });
    const { created: tokenCreated } = await ensureAdminToken(certsDir);
    console.log(`${created ? "created" : "kept"} ${join(certsDir, CERT_FILES.cert)}`);
    console.log(`fingerprint SHA-256 ${await fingerprint(set.cert)}`);
    console.log(`${tokenCreated ? "created" : "kept"} ${join(certsDir, TOKEN_FILE)}`);
    return 0;
  }
  if (positionals[0] === "adduser") {
    return await addUser(values.users ?? join(certsDir, "users.json"), positionals[1], values.role);
  }
  if (positionals.length > 0) {
    throw new FerryError("USAGE", `unknown command ${JSON.stringify(positionals[0])}; see --help`);
  }

  let cert: string;
  let key: string;
  if (values.cert !== undefined || values.key !== undefined) {
    if (values.cert === undefined || values.key === undefined) {
      throw new FerryError("USAGE", "--cert and --key go together");
    }
    cert = await Deno.readTextFile(values.cert);
    key = await Deno.readTextFile(values.key);
  } else {
    const { set, created } = await ensureCertificates(certsDir);
    if (created) console.error(`created a local CA and certificate in ${certsDir}`);
    cert = set.cert;
    key = set.key;
  }
  const { token, created: tokenCreated } = await ensureAdminToken(certsDir);
  if (tokenCreated) {
    console.error(`created the admin token in ${join(certsDir, TOKEN_FILE)} (mode 0600)`);
  }
  const accounts = [accountFor("admin", "admin", token)];
  const usersFile = values.users ?? join(certsDir, "users.json");
  if (values.users !== undefined || await exists(usersFile)) {
    accounts.push(...await loadUsers(usersFile));
  }

  await Deno.mkdir(rootDir, { recursive: true });
  const server = await serve({
    hostname: values.host ?? "0.0.0.0",
    port: intOption(values.port, "port", 4433),
    root: rootDir,
    cert,
    key,
    accounts,
    limits: limitsFromFlags(values),
    log: stderrLogger(),
  });
  console.error(
    `ferry-server listening on ${server.addr.hostname}:${server.addr.port}, serving ${rootDir}`,
  );
  console.error(`certificate SHA-256 fingerprint ${await fingerprint(cert)}`);
  const stop = () => void server.shutdown("signal");
  Deno.addSignalListener("SIGINT", stop);
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", stop);
  await server.finished;
  Deno.removeSignalListener("SIGINT", stop);
  if (Deno.build.os !== "windows") Deno.removeSignalListener("SIGTERM", stop);
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    console.error(`ferry-server: ${message}`);
    Deno.exit(err instanceof FerryError && err.code === "USAGE" ? 2 : 1);
  }
}
