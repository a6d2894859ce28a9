/**
 * Access tokens: generation, storage with owner-only permissions, and constant-time checks.
 * Tokens are compared as SHA-256 digests with `timingSafeEqual`, so neither their content nor
 * their length leaks through timing.
 *
 * @module
 */

import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { dirname } from "node:path";
import type { Role } from "../protocol/messages/mod.ts";
import { FerryError } from "../protocol/errors.ts";
import { writeFileAtomic } from "../common/atomic_file.ts";

/** A user the server accepts: the SHA-256 of their token and what it allows. */
export interface Account {
  /** User name, for logs. */
  user: string;
  /** What the token allows. */
  role: Role;
  /** SHA-256 of the token's UTF-8 bytes. */
  tokenHash: Uint8Array;
}

/** File name of the admin token inside the certs directory. */
export const TOKEN_FILE = "token";

const ROLE_RANK: Record<Role, number> = { read: 1, write: 2, admin: 3 };

/** True when `role` includes the rights of `needed` (admin ⊃ write ⊃ read). */
export function roleAllows(role: Role, needed: Role): boolean {
  return ROLE_RANK[role] >= ROLE_RANK[needed];
}

/** SHA-256 of a token's UTF-8 bytes. */
export function hashToken(token: string): Uint8Array {
  return new Uint8Array(createHash("sha256").update(token, "utf8").digest());
}

/**
 * A new random token: 32 random bytes as base64url (43 characters of `A-Za-z0-9-_`), never
 * beginning with `-`, so that no token can be taken for an option (`--token -x…` would be).
 * A draw that begins with `-` (one in 64) is thrown away and drawn again: the tokens left are
 * uniform over the other 63/64 of the space, about 255.98 bits of entropy.
 */
export function generateToken(): string {
  while (true) {
    const token = randomBytes(32).toString("base64url");
    if (!token.startsWith("-")) return token;
  }
}

/**
 * Finds the account whose token is `token`. Every account is compared, in constant time, so
 * the time taken does not depend on which (if any) matched.
 */
export function authenticate(accounts: readonly Account[], token: string): Account | undefined {
  const presented = hashToken(token);
  let found: Account | undefined;
  for (const account of accounts) {
    if (timingSafeEqual(presented, account.tokenHash) && found === undefined) found = account;
  }
  return found;
}

/** An account for `token` with `role`. */
export function accountFor(user: string, role: Role, token: string): Account {
  return { user, role, tokenHash: hashToken(token) };
}

/**
 * Reads the admin token from `dir/token`, creating it (mode 0600) when missing. An existing
 * file readable by group or others is tightened to 0600.
 */
export async function ensureAdminToken(dir: string): Promise<{ token: string; created: boolean }> {
  const path = `${dir}/${TOKEN_FILE}`;
  try {
    const token = (await Deno.readTextFile(path)).trim();
    if (token.length === 0) throw new FerryError("USAGE", `${path} is empty`);
    if (Deno.build.os !== "windows") await Deno.chmod(path, 0o600);
    return { token, created: false };
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  await Deno.mkdir(dir, { recursive: true });
  const token = generateToken();
  await writeFileAtomic(path, token + "\n", { mode: 0o600 });
  return { token, created: true };
}

/** One entry of a users file (`users.json`). */
export interface UserRecord {
  /** User name. */
  user: string;
  /** `read`, `write` or `admin`. */
  role: Role;
  /** Hex SHA-256 of the token (the token itself is never stored in this file). */
  sha256: string;
}

/**
 * Loads a users file: a JSON array of {@linkcode UserRecord}.
 *
 * @throws {FerryError} `USAGE` when the file is malformed (see {@linkcode parseUsers}).
 */
export async function loadUsers(path: string): Promise<Account[]> {
  return parseUsers(await Deno.readTextFile(path), path);
}

/**
 * Parses the text of a users file (`path` names it in errors): a JSON array of
 * {@linkcode UserRecord}.
 *
 * @throws {FerryError} `USAGE` when the text is not such an array; the message names the file,
 * the entry and what to do, in one line.
 */
export function parseUsers(text: string, path: string): Account[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new FerryError(
      "USAGE",
      `${path} is not valid JSON (${
        err instanceof Error ? err.message : String(err)
      }); fix it, or move it away and add the users again with \`ferry-server adduser NAME\``,
    );
  }
  if (!Array.isArray(raw)) {
    throw new FerryError(
      "USAGE",
      `${path} must hold a JSON array of {"user", "role", "sha256"} entries; fix it, or move ` +
        "it away and add the users again with `ferry-server adduser NAME`",
    );
  }
  return raw.map((r: unknown, i) => {
    const rec = r as Partial<UserRecord>;
    if (
      typeof rec?.user !== "string" ||
      !["read", "write", "admin"].includes(String(rec.role)) ||
      typeof rec.sha256 !== "string" || !/^[0-9a-f]{64}$/i.test(rec.sha256)
    ) {
      throw new FerryError(
        "USAGE",
        `${path}[${i}]: expected {"user": string, "role": "read"|"write"|"admin", "sha256": 64 hex digits}; ` +
          "fix or remove that entry (`ferry-server adduser NAME` writes a valid one)",
      );
    }
    const tokenHash = new Uint8Array(32);
    for (let j = 0; j < 32; j++) tokenHash[j] = parseInt(rec.sha256.slice(j * 2, j * 2 + 2), 16);
    return { user: rec.user, role: rec.role as Role, tokenHash };
  });
}

/** The {@linkcode UserRecord} for a new user, given their token. */
export function userRecord(user: string, role: Role, token: string): UserRecord {
  return {
    user,
    role,
    sha256: hashToken(token).toHex(),
  };
}

/**
 * Adds `user` with `role` to the users file `file` (creating it, mode 0600), replacing an
 * entry of the same name, and returns their new token. The file is rewritten atomically.
 *
 * @throws {FerryError} `USAGE` for a missing name, an unknown role or a malformed file.
 */
export async function addUser(
  file: string,
  user: string | undefined,
  role: string,
): Promise<string> {
  if (!user) throw new FerryError("USAGE", "adduser needs a user name");
  if (role !== "read" && role !== "write" && role !== "admin") {
    throw new FerryError("USAGE", "--role must be read, write or admin");
  }
  let records: UserRecord[] = [];
  if (await Deno.lstat(file).then(() => true, () => false)) {
    const text = await Deno.readTextFile(file);
    parseUsers(text, file); // refuses a malformed file before it is rewritten
    records = JSON.parse(text);
  }
  const token = generateToken();
  const next = records.filter((r) => r.user !== user);
  next.push(userRecord(user, role, token));
  await Deno.mkdir(dirname(file), { recursive: true });
  await writeFileAtomic(file, JSON.stringify(next, null, 2) + "\n", { mode: 0o600 });
  return token;
}

/**
 * Removes `user` from the users file `file` (rewritten atomically). A running server stops
 * accepting their token for new logins as soon as it has re-read the file.
 *
 * @throws {FerryError} `USAGE` for a missing name, a missing or malformed file, or a user the
 * file does not list.
 */
export async function removeUser(file: string, user: string | undefined): Promise<void> {
  if (!user) throw new FerryError("USAGE", "deluser needs a user name");
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new FerryError("USAGE", `${file}: no such file, so no user to remove; check --users`);
    }
    throw err;
  }
  parseUsers(text, file); // refuses a malformed file before it is rewritten
  const records: UserRecord[] = JSON.parse(text);
  const next = records.filter((r) => r.user !== user);
  if (next.length === records.length) {
    throw new FerryError(
      "USAGE",
      `${file} has no user ${JSON.stringify(user)}; its users: ${
        records.map((r) => r.user).join(", ") || "none"
      }`,
    );
  }
  await writeFileAtomic(file, JSON.stringify(next, null, 2) + "\n", { mode: 0o600 });
}
