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
import { join } from "node:path";
import { FerryError, messageOf } from "../protocol/errors.ts";
import { accountFor, addUser, ensureAdminToken, loadUsers, TOKEN_FILE } from "./auth.ts";
import { CERT_FILES, ensureCertificates, fingerprint } from "./certificates.ts";
import { stderrLogger } from "./log.ts";
import {
  intOption,
  LIMIT_FLAGS,
  LIMITS_HELP,
  limitsFromFlags,
  mergeSettings,
  parseConfigFile,
  SETTINGS,
} from "./config.ts";
import { type FerryServer, serve } from "./server.ts";
import { parseWorkers, serveWorkers } from "./workers/coordinator.ts";
import { parseStorageChoice } from "./storage/open.ts";

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
  --storage KIND     auto, race-free or path                  (default auto)
                     race-free: every file access relative to the root's descriptor
                     (Linux 5.6+, needs --allow-ffi); path: portable, but a local user who
                     can write in the root can race it with symlinks (see SECURITY.md).
                     auto takes race-free where it can run and says which it took.
  --workers N        isolates serving connections, one per core with "auto" (Linux,
                     SO_REUSEPORT); limits, quota, logins and shutdown hold across them
                     (default 1)

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

/** Adds (or replaces) a user in the users file and prints their new token. */
async function addUserCommand(file: string, user: string | undefined, role: string) {
  const token = await addUser(file, user, role);
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
      storage: { type: "string" },
      workers: { type: "string" },
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
    return await addUserCommand(
      values.users ?? join(certsDir, "users.json"),
      positionals[1],
      values.role,
    );
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
  const workers = parseWorkers(values.workers);
  const serveOptions = {
    hostname: values.host ?? "0.0.0.0",
    port: intOption(values.port, "port", 4433),
    root: rootDir,
    storage: parseStorageChoice(values.storage ?? "auto"),
    cert,
    key,
    accounts,
    limits: limitsFromFlags(values),
    log: stderrLogger(),
  };
  const server: FerryServer = workers > 1
    ? await serveWorkers({ ...serveOptions, workers })
    : await serve(serveOptions);
  console.error(
    `ferry-server listening on ${server.addr.hostname}:${server.addr.port}, serving ${rootDir}`,
  );
  console.error(`storage: ${server.storage.kind} (${server.storage.reason})`);
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
    const message = messageOf(err);
    console.error(`ferry-server: ${message}`);
    Deno.exit(err instanceof FerryError && err.code === "USAGE" ? 2 : 1);
  }
}
