/**
 * The administrative subcommands of `ferry-server`: `certs` (make or complete the certificate
 * and token), `adduser` and `deluser` (edit the users file a running server watches).
 *
 * @module
 */

import { join } from "node:path";
import { addUser, ensureAdminToken, removeUser, TOKEN_FILE } from "./auth.ts";
import { certificateLines } from "./banner.ts";
import { CERT_FILES, fingerprint } from "./certificates.ts";
import { machineNames } from "./host_names.ts";
import { prepareCertificates } from "./server_certificate.ts";

/**
 * `ferry-server certs`: makes or completes the certificate (and token), prints what it did.
 *
 * @returns The exit status (0).
 */
export async function certsCommand(
  certsDir: string,
  requested: string[],
  force: boolean,
): Promise<number> {
  const machine = await machineNames();
  const prepared = await prepareCertificates(certsDir, {
    requested,
    machine,
    coverMachine: true,
    force,
  });
  const { created: tokenCreated } = await ensureAdminToken(certsDir);
  const lines = certificateLines({
    source: certsDir,
    own: false,
    ...prepared,
    fingerprint: await fingerprint(prepared.set.cert),
    machine,
  });
  if (prepared.action === "loaded") {
    lines.unshift(`kept ${join(certsDir, CERT_FILES.cert)}: it covers every name asked for`);
  }
  for (const line of lines) console.log(line);
  console.log(`${tokenCreated ? "created" : "kept"} ${join(certsDir, TOKEN_FILE)}`);
  return 0;
}

/**
 * `ferry-server adduser`: adds (or replaces) a user in the users file and prints their new token.
 *
 * @returns The exit status (0).
 */
export async function addUserCommand(
  file: string,
  user: string | undefined,
  role: string,
): Promise<number> {
  const token = await addUser(file, user, role);
  console.error(
    `added ${user} (${role}) to ${file}; their token (shown once, stored only as a hash):`,
  );
  console.log(token);
  return 0;
}

/**
 * `ferry-server deluser`: removes a user from the users file.
 *
 * @returns The exit status (0).
 */
export async function delUserCommand(file: string, user: string | undefined): Promise<number> {
  await removeUser(file, user);
  console.error(`removed ${user} from ${file}; a running server refuses their next login`);
  return 0;
}
