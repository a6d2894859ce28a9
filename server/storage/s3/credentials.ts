/**
 * Where the S3 keys come from: the environment (`FERRY_S3_ACCESS_KEY`, `FERRY_S3_SECRET_KEY`,
 * optionally `FERRY_S3_SESSION_TOKEN`) or a file of `NAME=value` lines with the same names.
 * Never the command line, where other users can read them (`ps`, `/proc/<pid>/cmdline`).
 *
 * @module
 */

import { FerryError, messageOf } from "../../../protocol/errors.ts";
import type { S3Credentials } from "./client.ts";

/** The variable that holds the access key id. */
export const ACCESS_KEY_VAR = "FERRY_S3_ACCESS_KEY";
/** The variable that holds the secret access key. */
export const SECRET_KEY_VAR = "FERRY_S3_SECRET_KEY";
/** The variable that holds a session token (temporary credentials), if any. */
export const SESSION_TOKEN_VAR = "FERRY_S3_SESSION_TOKEN";

/** Returns credentials from `vars`, or undefined when neither key variable is set. */
export function s3CredentialsFrom(
  vars: (name: string) => string | undefined,
  origin: string,
): S3Credentials | undefined {
  const accessKeyId = vars(ACCESS_KEY_VAR);
  const secretAccessKey = vars(SECRET_KEY_VAR);
  if (accessKeyId === undefined && secretAccessKey === undefined) return undefined;
  if (!accessKeyId || !secretAccessKey) {
    throw new FerryError(
      "USAGE",
      `${origin}: set both ${ACCESS_KEY_VAR} and ${SECRET_KEY_VAR}, or neither`,
    );
  }
  const sessionToken = vars(SESSION_TOKEN_VAR) || undefined;
  return { accessKeyId, secretAccessKey, sessionToken };
}

/**
 * Parses a credentials file: `NAME=value` lines (`#` comments and blank lines allowed, no
 * quoting), with the names {@linkcode ACCESS_KEY_VAR}, {@linkcode SECRET_KEY_VAR} and optionally
 * {@linkcode SESSION_TOKEN_VAR}. Throws `USAGE` on any other line or a missing key.
 */
export function parseS3CredentialsFile(text: string, path: string): S3Credentials {
  const values = new Map<string, string>();
  const known = new Set([ACCESS_KEY_VAR, SECRET_KEY_VAR, SESSION_TOKEN_VAR]);
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    const name = eq < 0 ? line : line.slice(0, eq).trim();
    if (eq < 0 || !known.has(name)) {
      throw new FerryError(
        "USAGE",
        `${path}:${i + 1}: expected ${[...known].join(", ")} as NAME=value`,
      );
    }
    values.set(name, line.slice(eq + 1).trim());
  }
  const credentials = s3CredentialsFrom((n) => values.get(n), path);
  if (!credentials) {
    throw new FerryError("USAGE", `${path}: no ${ACCESS_KEY_VAR} / ${SECRET_KEY_VAR}`);
  }
  return credentials;
}

/**
 * Reads a credentials file (see {@linkcode parseS3CredentialsFile}). On POSIX systems it must not
 * be readable by group or others (mode 0600 or stricter), like an SSH key: else `USAGE`.
 */
export async function readS3CredentialsFile(path: string): Promise<S3Credentials> {
  let text: string;
  try {
    const info = await Deno.stat(path);
    if (info.mode !== null && (info.mode & 0o077) !== 0) {
      throw new FerryError(
        "USAGE",
        `${path}: readable by others (mode ${(info.mode & 0o777).toString(8)}); chmod 600 it`,
      );
    }
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof FerryError) throw err;
    throw new FerryError("USAGE", `${path}: ${messageOf(err)}`, { cause: err });
  }
  return parseS3CredentialsFile(text, path);
}
