/**
 * Server settings from three places, in this precedence: command-line flags, then `FERRY_*`
 * environment variables (`--max-connections` is `FERRY_MAX_CONNECTIONS`), then a JSON config
 * file (`--config ferry.json` or `FERRY_CONFIG`, keys named like the flags), then defaults.
 * Also the limits' flags ({@linkcode LIMIT_FLAGS}) and how their values are written.
 *
 * @module
 */

import { FerryError, messageOf } from "../protocol/errors.ts";
import { DEFAULT_LIMITS, type Limits } from "./limits.ts";
import { S3_FLAGS } from "./s3_flags.ts";

/** The environment variable for a flag: `max-connections` → `FERRY_MAX_CONNECTIONS`. */
export function envName(flag: string): string {
  return `FERRY_${flag.toUpperCase().replaceAll("-", "_")}`;
}

/**
 * Parses a config file's text: a JSON object whose keys are flag names (`"port"`,
 * `"max-connections"`) and whose values are strings, numbers or booleans.
 *
 * @throws {FerryError} `USAGE` for malformed JSON, an unknown key or a nested value.
 */
export function parseConfigFile(
  text: string,
  path: string,
  known: readonly string[],
): Record<string, string> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new FerryError("USAGE", `${path}: not valid JSON (${messageOf(err)})`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new FerryError("USAGE", `${path}: expected a JSON object of settings`);
  }
  const settings: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (!known.includes(key)) {
      throw new FerryError(
        "USAGE",
        `${path}: unknown setting ${
          JSON.stringify(key)
        }; settings are named like the flags (see --help)`,
      );
    }
    if (!["string", "number", "boolean"].includes(typeof value)) {
      throw new FerryError("USAGE", `${path}: ${key} must be a string, number or boolean`);
    }
    settings[key] = String(value);
  }
  return settings;
}

/**
 * Merges the sources for every name in `known`: a flag wins over the environment, which wins
 * over the file. Names set nowhere are left out (the caller applies defaults).
 */
export function mergeSettings(
  known: readonly string[],
  flags: Readonly<Record<string, unknown>>,
  env: (name: string) => string | undefined,
  file: Readonly<Record<string, string>>,
): Record<string, string> {
  const merged: Record<string, string> = {};
  for (const name of known) {
    const flag = flags[name];
    const value = typeof flag === "string" ? flag : env(envName(name)) ?? file[name];
    if (value !== undefined) merged[name] = value;
  }
  return merged;
}

// ---------------------------------------------------------------------------------------------
// Limits as flags

/** How a limit's flag value is written: a count, a duration, or a size in bytes. */
export type LimitKind = "count" | "duration" | "size";

/** A limit's command-line flag. */
export interface LimitFlag {
  /** The flag, without its `--`. */
  flag: string;
  /** The field of {@linkcode Limits} it sets. */
  key: keyof Limits;
  /** How its value is written. */
  kind: LimitKind;
  /** A short meaning, for `--help`. */
  help: string;
}

/** Every limit's flag, with its field in {@linkcode Limits} and a short meaning for --help. */
export const LIMIT_FLAGS: readonly LimitFlag[] = [
  {
    flag: "max-connections",
    key: "maxConnections",
    kind: "count",
    help: "logged-in connections at once",
  },
  {
    flag: "max-connections-per-ip",
    key: "maxConnectionsPerIp",
    kind: "count",
    help: "logged-in connections from one address (IPv6: /64)",
  },
  {
    flag: "max-unauthenticated",
    key: "maxUnauthenticated",
    kind: "count",
    help: "connections not logged in yet, at once",
  },
  {
    flag: "max-unauthenticated-per-ip",
    key: "maxUnauthenticatedPerIp",
    kind: "count",
    help: "connections not logged in yet from one address",
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
    help: "deadline for logging in, after the handshake",
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
  {
    flag: "pre-login-log-burst",
    key: "preLoginLogBurst",
    kind: "count",
    help: "log lines of not-logged-in connections, burst",
  },
  {
    flag: "pre-login-log-rate",
    key: "preLoginLogPerSecond",
    kind: "count",
    help: "log lines of not-logged-in connections per second",
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

/** The `--help` lines of the limits, one per flag, with its default. */
export const LIMITS_HELP: string = LIMIT_FLAGS.map(({ flag, key, kind, help }) => {
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

/**
 * The limits set by flags (or settings) in `values`; unset ones are left out.
 *
 * @throws {FerryError} `USAGE` when a value does not parse.
 */
export function limitsFromFlags(values: Record<string, unknown>): Partial<Limits> {
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

/**
 * Parses a whole number ≥ 0 given as `--name`, or returns `fallback` when it is unset.
 *
 * @throws {FerryError} `USAGE` when it is not one.
 */
export function intOption(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new FerryError("USAGE", `--${name} must be a whole number`);
  }
  return n;
}

/**
 * Every setting that flags, FERRY_* variables and the config file can give. `name` is given as
 * `--name` once per name, or as a list separated by commas or spaces in `FERRY_NAME` and the
 * config file ({@linkcode nameList}).
 */
export const SETTINGS: readonly string[] = [
  "name",
  "host",
  "port",
  "root",
  "certs",
  "cert",
  "key",
  "users",
  "storage",
  "log-format",
  "workers",
  ...S3_FLAGS,
  ...LIMIT_FLAGS.map(({ flag }) => flag),
];

/**
 * The names asked for: every `--name` flag, else the `name` setting of `FERRY_NAME` or the
 * config file split at commas and spaces.
 */
export function nameList(
  flags: readonly string[] | undefined,
  setting: string | undefined,
): string[] {
  if (flags !== undefined && flags.length > 0) return [...flags];
  return (setting ?? "").split(/[\s,]+/).filter((name) => name !== "");
}
