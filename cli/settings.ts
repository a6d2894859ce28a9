/**
 * Where and how the `ferry` command connects: host, port, token, CA, trusted fingerprint and
 * rate limit, from its flags and `HOST:PATH` arguments, else a profile (named with `--profile`,
 * or by the host written as `HOST:` or `USER@HOST:`, like an ssh host alias), else the
 * environment and `./certs`, else defaults.
 *
 * @module
 */

import { join } from "node:path";
import { FerryError, messageOf } from "../protocol/errors.ts";
import { HASH_ALGORITHMS, type HashAlgorithm, isHashAlgorithm } from "../common/hash_file.ts";
import { DEFAULT_PORT } from "../client/connect.ts";
import { normalizeFingerprint } from "../client/fingerprints.ts";
import { findProfile, loadProfile, type Profile } from "./config.ts";
import { mergeServers, type ServerRef } from "./address.ts";
import type { GlobalValues } from "./args.ts";
import { usage } from "./usage.ts";

/** Where and how to connect, from flags, a profile and defaults. */
export interface Settings {
  /** Server host name or address. */
  host: string;
  /** Server port. */
  port: number;
  /** The names the server was given on the command line (a profile's name, its host). */
  names: string[];
  /** The user written as `USER@HOST`: the token must be that user's. */
  user: string | undefined;
  /** Access token. */
  token: string;
  /** PEM of the CA to trust, if any. */
  ca: string | undefined;
  /** Fingerprint given with `--trust` (or by the profile), normalised. */
  trust: string | undefined;
  /** `--limit-rate`, in bytes per second. */
  limitRate: number | undefined;
  /** `--checksum-choice`: the checksum algorithms to offer (`undefined`: the library's default). */
  checksums: HashAlgorithm[] | undefined;
}

/**
 * The settings that the global flags `values` and the servers named on the command line give
 * (they must agree), completed from a profile and defaults.
 */
export async function settings(
  values: GlobalValues,
  servers: ServerRef[] = [],
): Promise<Settings> {
  const portFlag = values.port === undefined ? undefined : parsePort(values.port);
  const server = mergeServers([...servers, ...portFlag === undefined ? [] : [{ port: portFlag }]]);
  let profile: Profile = {};
  const names: string[] = [];
  if (values.profile !== undefined) {
    profile = await loadProfile(values.profile);
  } else if (server.host !== undefined) {
    // Like an ssh host alias: `work:docs/a.txt` uses the profile "work" when there is one.
    const found = await findProfile(
      server.user === undefined ? [server.host] : [`${server.user}@${server.host}`, server.host],
    );
    if (found !== undefined) {
      names.push(found.name);
      profile = found.profile;
      server.host = profile.host ?? server.host;
    }
  }
  const host = server.host ?? profile.host ?? "localhost";
  names.push(host);
  const certs = values.certs;
  const tokenFile = values["token-file"];
  let token = values.token ??
    (tokenFile === undefined ? undefined : await readTokenFile(tokenFile, "--token-file")) ??
    profile.token;
  if (token === undefined && profile.tokenFile !== undefined) {
    token = await readTokenFile(profile.tokenFile, "the profile's tokenFile");
  }
  token ??= env("FERRY_TOKEN") ?? (await readOptional(join(certs, "token")))?.trim();
  if (!token) {
    throw usage(
      `no token: pass --token-file FILE, set FERRY_TOKEN, or put it in ${join(certs, "token")}`,
    );
  }
  const caPath = values.ca ?? profile.ca;
  let ca: string | undefined;
  if (caPath !== undefined) {
    ca = await readOptional(caPath);
    if (ca === undefined) throw new FerryError("LOCAL_IO", `CA file ${caPath} not found`);
  } else {
    ca = await readOptional(join(certs, "ca.pem"));
  }
  const trustText = values.trust ?? profile.trust;
  const rate = values["limit-rate"];
  return {
    host,
    port: server.port ?? profile.port ?? DEFAULT_PORT,
    names,
    user: server.user,
    token,
    ca,
    trust: trustText === undefined ? undefined : normalizeFingerprint(trustText),
    limitRate: rate === undefined ? undefined : parseRate(rate),
    checksums: parseChecksumChoice(values["checksum-choice"]),
  };
}

/**
 * Parses `--checksum-choice` (as rsync's): `auto` (or nothing) offers every algorithm, fastest
 * first; `xxh128` or `sha256` insists on that one.
 */
export function parseChecksumChoice(text: string | undefined): HashAlgorithm[] | undefined {
  if (text === undefined || text === "auto") return undefined;
  const name = text.toLowerCase();
  if (!isHashAlgorithm(name)) {
    throw usage(
      `--checksum-choice ${JSON.stringify(text)}: give auto, ${HASH_ALGORITHMS.join(" or ")}`,
    );
  }
  return [name];
}

/** Whether `ref` (a server a batch line names) is the one `s` connects to. */
export function sameServer(s: Settings, ref: ServerRef): boolean {
  return (ref.host === undefined ||
    s.names.some((n) => n.toLowerCase() === ref.host!.toLowerCase())) &&
    (ref.port === undefined || ref.port === s.port) &&
    (ref.user === undefined || ref.user === s.user);
}

function parsePort(text: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) throw usage("--port must be 1..65535");
  return port;
}

const RATE_UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/**
 * Parses a rate like curl's `--limit-rate`: bytes per second, with an optional `K`, `M` or `G`
 * (powers of 1024; `KiB`, `MB`, `M/s` are read the same), e.g. `500K`, `10M`, `1.5M`.
 */
export function parseRate(text: string): number {
  const m = text.trim().match(/^(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?(?:\/s)?$/i);
  const rate = m === null ? NaN : Math.floor(Number(m[1]) * RATE_UNITS[m[2].toLowerCase()]);
  if (!(rate >= 1)) {
    throw usage(
      `--limit-rate ${JSON.stringify(text)}: give bytes per second, like 500K, 10M or 1G`,
    );
  }
  return rate;
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined; // not permitted: as if unset
  }
}

/** The token in `path` (trimmed); a missing or empty file is an error naming `what`. */
async function readTokenFile(path: string, what: string): Promise<string> {
  const text = await readOptional(path);
  if (text === undefined) throw new FerryError("LOCAL_IO", `token file ${path} not found`);
  const token = text.trim();
  if (token === "") throw usage(`${what} ${path} is empty`);
  return token;
}

/** The text of `path`, or `undefined` if it does not exist. */
async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw new FerryError("LOCAL_IO", `${path}: ${messageOf(err)}`, { cause: err });
  }
}
