/**
 * Where and how the `ferry` command connects: host, port, token, CA and trusted fingerprint,
 * from its flags, else a profile, else the environment and `./certs`, else defaults.
 *
 * @module
 */

import { join } from "node:path";
import { FerryError, messageOf } from "../protocol/errors.ts";
import { DEFAULT_PORT } from "../client/connect.ts";
import { normalizeFingerprint } from "../client/pinned_tls.ts";
import { loadProfile, type Profile } from "./config.ts";
import { usage } from "./usage.ts";

/** Where and how to connect, from flags, a profile and defaults. */
export interface Settings {
  /** Server host name or address. */
  host: string;
  /** Server port. */
  port: number;
  /** Access token. */
  token: string;
  /** PEM of the CA to trust, if any. */
  ca: string | undefined;
  /** Fingerprint given with `--trust` (or by the profile), normalised. */
  trust: string | undefined;
}

/** The settings the global flags `values` give, completed from a profile and defaults. */
export async function settings(
  values: Record<string, string | boolean | undefined>,
): Promise<Settings> {
  const profile: Profile = values.profile === undefined
    ? {}
    : await loadProfile(values.profile as string);
  const portText = (values.port as string | undefined) ?? String(profile.port ?? DEFAULT_PORT);
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw usage("--port must be 1..65535");
  const certs = values.certs as string;
  let token = values.token as string | undefined ?? profile.token;
  if (token === undefined && profile.tokenFile !== undefined) {
    const text = await readOptional(profile.tokenFile);
    if (text === undefined) {
      throw new FerryError("LOCAL_IO", `token file ${profile.tokenFile} not found`);
    }
    token = text.trim();
  }
  token ??= Deno.env.get("FERRY_TOKEN") ?? (await readOptional(join(certs, "token")))?.trim();
  if (!token) {
    throw usage(`no token: pass --token, set FERRY_TOKEN, or put it in ${join(certs, "token")}`);
  }
  const caPath = (values.ca as string | undefined) ?? profile.ca;
  let ca: string | undefined;
  if (caPath !== undefined) {
    ca = await readOptional(caPath);
    if (ca === undefined) throw new FerryError("LOCAL_IO", `CA file ${caPath} not found`);
  } else {
    ca = await readOptional(join(certs, "ca.pem"));
  }
  const trustText = (values.trust as string | undefined) ?? profile.trust;
  return {
    host: (values.host as string | undefined) ?? profile.host ?? "localhost",
    port,
    token,
    ca,
    trust: trustText === undefined ? undefined : normalizeFingerprint(trustText),
  };
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
