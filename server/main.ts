/**
 * `ferry-server`: the command-line entry point of the server.
 *
 * ```sh
 * deno task serve [--host 0.0.0.0] [--port 4433] [--root ./data] [--certs ./certs] [--name NAME]
 * deno task certs            # make new certificates (keeps the token)
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { FerryError, messageOf } from "../protocol/errors.ts";
import { VERSION } from "../common/version.ts";
import { accountFor, ensureAdminToken, TOKEN_FILE } from "./auth.ts";
import { addUserCommand, certsCommand, delUserCommand } from "./admin_commands.ts";
import { fingerprint } from "./certificates.ts";
import { certificateLines } from "./banner.ts";
import { machineNames } from "./host_names.ts";
import { checkOwnCertificate, prepareCertificates } from "./server_certificate.ts";
import { argumentError, fileAccessError, listenError, readNamedFile } from "./startup_errors.ts";
import { watchUsersFile } from "./users_watch.ts";
import { LOG_FORMATS, type LogFormat, stderrLogger } from "./log.ts";
import {
  intOption,
  LIMIT_FLAGS,
  LIMITS_HELP,
  limitsFromFlags,
  mergeSettings,
  nameList,
  parseConfigFile,
  SETTINGS,
} from "./config.ts";
import { serve } from "./server.ts";
import { parseWorkers, serveWorkers } from "./workers/coordinator.ts";
import { parseStorageChoice } from "./storage/open.ts";
import { openS3Backend, S3_HELP, S3_OPTIONS } from "./s3_flags.ts";

const HELP = `ferry-server: serve a directory over TLS

Usage:
  ferry-server [options]          start the server
  ferry-server certs [--name NAME]... [--force]
                                  make (or complete) the CA, certificate and token in --certs
  ferry-server adduser NAME [--role read|write|admin]
                                  add a user to <certs>/users.json and print their new token
                                  (a running server picks it up at once)
  ferry-server deluser NAME       remove a user from <certs>/users.json (new logins refused)

Options (each also as a FERRY_* variable, e.g. FERRY_MAX_CONNECTIONS, or as a key of the
--config file, e.g. {"port": 4433, "max-connections": 64}; flags win over variables, variables
over the file):
  --config FILE      JSON settings file                (env FERRY_CONFIG)
  --host ADDR        address to listen on            (default 0.0.0.0)
  --port N           port                             (default 4433)
  --root DIR         directory to serve, created if missing   (default ./data)
  --certs DIR        certificates and token           (default ./certs)
  --name NAME        a host name or IP address the certificate must cover, besides this
                     machine's own; once per name (FERRY_NAME: a list, e.g. "a.example,192.0.2.1")
  --cert FILE        use your own certificate chain (PEM) instead of --certs/server.pem
  --key FILE         the private key (PEM, PKCS#8) for --cert
  --users FILE       extra users: JSON [{"user","role":"read|write|admin","sha256"}]
                     (default <certs>/users.json; re-read whenever it changes)
  --storage KIND     auto, race-free or path                  (default auto)
                     race-free: every file access relative to the root's descriptor
                     (Linux 5.6+, needs --allow-ffi); path: portable, but a local user who
                     can write in the root can race it with symlinks (see SECURITY.md).
                     auto takes race-free where it can run and says which it took.
${S3_HELP}
  --log-format FMT   text (key=value) or json (one object a line)   (default text)
  --workers N        isolates serving connections, one per core with "auto" (Linux,
                     SO_REUSEPORT); limits, quota, logins and shutdown hold across them
                     (default 1)

Limits, with their defaults (TIME: 500ms, 30s, 5m, 1h, or seconds; BYTES: 1048576, 512M, 10G):
${LIMITS_HELP}

  -h, --help         show this help
  --version          print the version

On first start the server creates a local CA, a certificate for this machine's host names and
addresses (and localhost, 127.0.0.1, ::1, and each --name), and an admin token (<certs>/token,
mode 0600). It prints the names the certificate covers and its SHA-256 fingerprint. When a
--name is missing from that certificate later, the same CA issues a new one (clients with
--ca ca.pem keep working); \`certs\` also adds this machine's current names; \`certs --force\`
makes a new CA. A certificate of your own (--cert/--key) is never changed.
Clients run from the same directory find ca.pem and the token by themselves.
SIGINT/SIGTERM stop it gracefully.`;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** An environment variable, or `undefined` when it is unset or not granted (never prompts). */
function readEnv(name: string): string | undefined {
  const { state } = Deno.permissions.querySync({ name: "env", variable: name });
  return state === "granted" ? Deno.env.get(name) : undefined;
}

function parseFlags(args: string[]) {
  try {
    return parseArgs({
      args,
      allowPositionals: true,
      options: {
        config: { type: "string" },
        host: { type: "string" },
        port: { type: "string" },
        root: { type: "string" },
        certs: { type: "string" },
        name: { type: "string", multiple: true },
        cert: { type: "string" },
        key: { type: "string" },
        users: { type: "string" },
        storage: { type: "string" },
        "log-format": { type: "string" },
        ...S3_OPTIONS,
        workers: { type: "string" },
        ...Object.fromEntries(LIMIT_FLAGS.map(({ flag }) => [flag, { type: "string" as const }])),
        force: { type: "boolean", default: false },
        role: { type: "string", default: "write" },
        help: { type: "boolean", short: "h", default: false },
        version: { type: "boolean", default: false },
      },
    });
  } catch (err) {
    throw argumentError(err);
  }
}

async function main(args: string[]): Promise<number> {
  const { values: flags, positionals } = parseFlags(args);
  if (flags.help) {
    console.log(HELP);
    return 0;
  }
  if (flags.version) {
    console.log(`ferry-server ${VERSION}`);
    return 0;
  }
  // Flags, then FERRY_* variables, then the config file, then defaults.
  const configPath = flags.config ?? readEnv("FERRY_CONFIG");
  const fileSettings = configPath === undefined
    ? {}
    : parseConfigFile(await readNamedFile(configPath, "--config"), configPath, SETTINGS);
  const settings = mergeSettings(SETTINGS, flags, readEnv, fileSettings);
  const values = { ...flags, ...settings };
  const certsDir = values.certs ?? "./certs";
  const rootDir = values.root ?? "./data";
  const requested = nameList(flags.name, settings.name);

  if (positionals[0] === "certs") return await certsCommand(certsDir, requested, values.force);
  if (positionals[0] === "adduser") {
    return await addUserCommand(
      values.users ?? join(certsDir, "users.json"),
      positionals[1],
      values.role,
    );
  }
  if (positionals[0] === "deluser") {
    return await delUserCommand(values.users ?? join(certsDir, "users.json"), positionals[1]);
  }
  if (positionals.length > 0) {
    throw new FerryError("USAGE", `unknown command ${JSON.stringify(positionals[0])}; see --help`);
  }

  const backend = await openS3Backend(values, readEnv); // undefined: the local disk
  const storage = backend === undefined ? parseStorageChoice(values.storage ?? "auto") : undefined;
  const workers = parseWorkers(values.workers);
  if (workers > 1 && backend !== undefined) {
    throw new FerryError(
      "USAGE",
      "--workers above 1 does not work with --storage s3 yet; run one server process per core on " +
        "the bucket instead (README: Two servers behind one name)",
    );
  }
  const logFormat = values["log-format"] ?? "text";
  if (!(LOG_FORMATS as readonly string[]).includes(logFormat)) {
    throw new FerryError("USAGE", `--log-format must be ${LOG_FORMATS.join(" or ")}`);
  }
  const log = stderrLogger(logFormat as LogFormat);
  const machine = await machineNames();
  let cert: string;
  let key: string;
  let startLines: string[];
  if (values.cert !== undefined || values.key !== undefined) {
    if (values.cert === undefined || values.key === undefined) {
      throw new FerryError("USAGE", "--cert and --key go together; give both, or neither");
    }
    cert = await readNamedFile(values.cert, "--cert");
    key = await readNamedFile(values.key, "--key");
    const names = checkOwnCertificate(cert, values.cert, requested);
    startLines = certificateLines({
      source: values.cert,
      own: true,
      action: "loaded",
      names,
      added: [],
      uncovered: [],
      fingerprint: await fingerprint(cert),
      machine,
    });
  } else {
    const prepared = await prepareCertificates(certsDir, {
      requested,
      machine,
      coverMachine: false,
      force: false,
    });
    cert = prepared.set.cert;
    key = prepared.set.key;
    startLines = certificateLines({
      source: certsDir,
      own: false,
      ...prepared,
      fingerprint: await fingerprint(cert),
      machine,
    });
  }
  const { token, created: tokenCreated } = await ensureAdminToken(certsDir);
  if (tokenCreated) {
    startLines.push(`created the admin token in ${join(certsDir, TOKEN_FILE)} (mode 0600)`);
  } else if (token.startsWith("-")) {
    startLines.push(
      `note: the admin token in ${join(certsDir, TOKEN_FILE)} begins with '-': give it as ` +
        `--token=TOKEN or --token-file, or delete the file and restart for a new one`,
    );
  }
  const admin = accountFor("admin", "admin", token);
  const usersFile = values.users ?? join(certsDir, "users.json");
  if (values.users !== undefined && !(await exists(values.users))) {
    throw new FerryError(
      "USAGE",
      `--users ${values.users}: no such file; check the path, or create it with ` +
        `\`ferry-server adduser NAME --users ${values.users}\``,
    );
  }
  await using server = await startServer();
  console.error(
    `ferry-server ${VERSION} listening on ${server.addr.hostname}:${server.addr.port}, ` +
      `serving ${backend?.location ?? rootDir}`,
  );
  console.error(`storage: ${server.storage.kind} (${server.storage.reason})`);
  for (const line of startLines) console.error(line);
  const stop = () => void server.shutdown("signal");
  Deno.addSignalListener("SIGINT", stop);
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", stop);
  await server.finished;
  Deno.removeSignalListener("SIGINT", stop);
  if (Deno.build.os !== "windows") Deno.removeSignalListener("SIGTERM", stop);
  return 0;

  /** The server, with the users file watched until it is disposed of. */
  async function startServer() {
    let running: Awaited<ReturnType<typeof serve>> | undefined;
    const users = await watchUsersFile(usersFile, {
      log,
      onChange: (accounts) => running?.setAccounts([admin, ...accounts]),
    });
    const hostname = values.host ?? "0.0.0.0";
    const port = intOption(values.port, "port", 4433);
    try {
      if (backend === undefined) await Deno.mkdir(rootDir, { recursive: true });
      const options = {
        hostname,
        port,
        root: rootDir,
        storage,
        backend,
        cert,
        key,
        accounts: [admin, ...users.accounts],
        limits: limitsFromFlags(values),
        log,
      };
      running = workers > 1 ? await serveWorkers({ ...options, workers }) : await serve(options);
    } catch (err) {
      users.close();
      const own = values.cert !== undefined;
      throw listenError(err, hostname, port, {
        cert: own ? `--cert ${values.cert}` : join(certsDir, "server.pem"),
        key: own ? `--key ${values.key}` : join(certsDir, "server-key.pem"),
        own,
      });
    }
    // A change between the first read and now was applied to `running` only if it was set.
    running.setAccounts([admin, ...users.accounts]);
    return Object.assign(running, { [Symbol.asyncDispose]: () => Promise.resolve(users.close()) });
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (caught) {
    const err = fileAccessError(caught);
    const message = messageOf(err);
    console.error(`ferry-server: ${message}`);
    Deno.exit(err instanceof FerryError && err.code === "USAGE" ? 2 : 1);
  }
}
