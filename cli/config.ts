/**
 * The client's own files: the configuration directory (`$FERRY_CONFIG_DIR`, else
 * `$XDG_CONFIG_HOME/ferry`, else `~/.config/ferry`; `%APPDATA%\ferry` on Windows), the
 * connection profiles in `profiles.json`, and the certificates trusted on first use in
 * `known_servers`.
 *
 * @module
 */

import { dirname, isAbsolute, join } from "node:path";
import { FerryError, messageOf } from "../protocol/errors.ts";
import { normalizeFingerprint } from "../client/fingerprints.ts";

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined; // not permitted: as if unset
  }
}

/** The client's configuration directory (it may not exist yet). */
export function configDir(): string {
  const explicit = env("FERRY_CONFIG_DIR");
  if (explicit) return explicit;
  const xdg = env("XDG_CONFIG_HOME");
  if (xdg) return join(xdg, "ferry");
  if (Deno.build.os === "windows") {
    const appData = env("APPDATA");
    if (appData) return join(appData, "ferry");
  }
  const home = env("HOME") ?? env("USERPROFILE");
  if (!home) {
    throw new FerryError(
      "USAGE",
      "no configuration directory: set FERRY_CONFIG_DIR, XDG_CONFIG_HOME or HOME",
    );
  }
  return join(home, ".config", "ferry");
}

/** One entry of `profiles.json`. */
export interface Profile {
  /** Server host. */
  host?: string;
  /** Server port. */
  port?: number;
  /** Path of the CA certificate to trust (relative paths: to the configuration directory). */
  ca?: string;
  /** The access token itself. */
  token?: string;
  /** A file holding the access token (relative paths: to the configuration directory). */
  tokenFile?: string;
  /** A certificate fingerprint to trust, as `--trust`. */
  trust?: string;
}

const PROFILE_KEYS = new Set(["host", "port", "ca", "token", "tokenFile", "trust"]);

/** Reads `<dir>/profiles.json`: `null` when it does not exist. */
async function readProfiles(dir: string): Promise<Record<string, unknown> | null> {
  const file = join(dir, "profiles.json");
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw new FerryError("LOCAL_IO", `${file}: ${messageOf(err)}`, { cause: err });
  }
  let all: unknown;
  try {
    all = JSON.parse(text);
  } catch (err) {
    throw new FerryError("USAGE", `${file} is not valid JSON: ${messageOf(err)}`);
  }
  if (all === null || typeof all !== "object" || Array.isArray(all)) {
    throw new FerryError("USAGE", `${file} must hold an object of profiles`);
  }
  return all as Record<string, unknown>;
}

/** Reads profile `name` from `<configDir>/profiles.json`, paths made absolute. */
export async function loadProfile(name: string, dir = configDir()): Promise<Profile> {
  const file = join(dir, "profiles.json");
  const all = await readProfiles(dir);
  if (all === null) {
    throw new FerryError("USAGE", `no profile ${JSON.stringify(name)}: ${file} does not exist`);
  }
  if (!Object.hasOwn(all, name)) {
    const known = Object.keys(all).join(", ") || "none";
    throw new FerryError(
      "USAGE",
      `no profile ${JSON.stringify(name)} in ${file} (there: ${known})`,
    );
  }
  return checkProfile(name, all[name], dir, file);
}

/**
 * The first of `names` that is a profile in `<configDir>/profiles.json`, with its name; nothing
 * when there is no configuration directory, no file or no such profile.
 */
export async function findProfile(
  names: string[],
  dir?: string,
): Promise<{ name: string; profile: Profile } | undefined> {
  let base: string;
  try {
    base = dir ?? configDir();
  } catch {
    return undefined;
  }
  const all = await readProfiles(base);
  if (all === null) return undefined;
  const name = names.find((n) => Object.hasOwn(all, n));
  if (name === undefined) return undefined;
  return { name, profile: checkProfile(name, all[name], base, join(base, "profiles.json")) };
}

/** Checks one entry of `profiles.json` and makes its paths absolute. */
function checkProfile(name: string, p: unknown, dir: string, file: string): Profile {
  if (p === null || typeof p !== "object" || Array.isArray(p)) {
    throw new FerryError("USAGE", `profile ${JSON.stringify(name)} in ${file} must be an object`);
  }
  const profile = p as Record<string, unknown>;
  for (const key of Object.keys(profile)) {
    if (!PROFILE_KEYS.has(key)) {
      throw new FerryError(
        "USAGE",
        `profile ${JSON.stringify(name)}: unknown key ${JSON.stringify(key)} (known: ${
          [...PROFILE_KEYS].join(", ")
        })`,
      );
    }
  }
  for (const key of ["host", "ca", "token", "tokenFile", "trust"]) {
    if (profile[key] !== undefined && typeof profile[key] !== "string") {
      throw new FerryError("USAGE", `profile ${JSON.stringify(name)}: ${key} must be a string`);
    }
  }
  const port = profile.port;
  if (
    port !== undefined &&
    !(typeof port === "number" && Number.isInteger(port) && port >= 1 && port <= 65535)
  ) {
    throw new FerryError("USAGE", `profile ${JSON.stringify(name)}: port must be 1..65535`);
  }
  const resolve = (path: unknown) =>
    typeof path === "string" ? (isAbsolute(path) ? path : join(dir, path)) : undefined;
  return {
    host: profile.host as string | undefined,
    port: port as number | undefined,
    ca: resolve(profile.ca),
    token: profile.token as string | undefined,
    tokenFile: resolve(profile.tokenFile),
    trust: profile.trust as string | undefined,
  };
}

/** The key of a server in `known_servers`: `host:port`, IPv6 addresses in brackets. */
export function serverKey(host: string, port: number): string {
  const h = host.toLowerCase();
  return h.includes(":") && !h.startsWith("[") ? `[${h}]:${port}` : `${h}:${port}`;
}

/**
 * The certificates trusted on first use, one `host:port FINGERPRINT` per line (`#` comments),
 * like ssh's `known_hosts`.
 */
export interface KnownServers {
  /** Where they are stored. */
  readonly file: string;
  /** The fingerprint remembered for `host:port`, if any. */
  get(host: string, port: number): Promise<string | undefined>;
  /** Remembers (or replaces) the fingerprint for `host:port`. */
  set(host: string, port: number, fingerprint: string): Promise<void>;
}

/** The known-servers file in `dir` (default: the configuration directory). */
export function knownServers(dir?: string): KnownServers {
  const file = join(dir ?? configDir(), "known_servers");

  async function read(): Promise<string[]> {
    try {
      return (await Deno.readTextFile(file)).split("\n");
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return [];
      throw new FerryError("LOCAL_IO", `${file}: ${messageOf(err)}`, { cause: err });
    }
  }

  function parse(line: string): [string, string] | null {
    const t = line.trim();
    if (t === "" || t.startsWith("#")) return null;
    const [key, fp] = t.split(/\s+/);
    if (key === undefined || fp === undefined) return null;
    try {
      return [key, normalizeFingerprint(fp)];
    } catch {
      return null;
    }
  }

  return {
    file,
    async get(host, port) {
      const key = serverKey(host, port);
      for (const line of await read()) {
        const entry = parse(line);
        if (entry !== null && entry[0] === key) return entry[1];
      }
      return undefined;
    },
    async set(host, port, fingerprint) {
      const key = serverKey(host, port);
      const lines = (await read()).filter((line) => parse(line)?.[0] !== key && line !== "");
      if (lines.length === 0) {
        lines.push("# ferry: servers trusted by certificate fingerprint (host:port SHA-256)");
      }
      lines.push(`${key} ${normalizeFingerprint(fingerprint)}`);
      try {
        await Deno.mkdir(dirname(file), { recursive: true, mode: 0o700 });
        const tmp = `${file}.${crypto.randomUUID()}.tmp`;
        await Deno.writeTextFile(tmp, lines.join("\n") + "\n", { mode: 0o600, createNew: true });
        await Deno.rename(tmp, file);
      } catch (err) {
        throw new FerryError("LOCAL_IO", `${file}: ${messageOf(err)}`, { cause: err });
      }
    },
  };
}
