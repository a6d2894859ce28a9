/**
 * `ferry`: the command-line client, a thin layer over the library in `client/`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { FerryError } from "../protocol/errors.ts";
import { connect, DEFAULT_PORT } from "../client/connect.ts";
import type { FerryClient } from "../client/types.ts";
import { normalizeFingerprint } from "../client/pinned_tls.ts";
import { exitCodeFor } from "./exit_codes.ts";
import {
  COMMAND_OPTIONS,
  type CommandFlags,
  type Context,
  runCommand,
  validateCommand,
} from "./commands.ts";
import { configDir, knownServers, loadProfile, type Profile } from "./config.ts";
import { parseBatchLine } from "./batch.ts";
import { printable } from "./format.ts";
import { closeAllDisplays, createProgressDisplay, NO_PROGRESS } from "./progress.ts";
import { confirm, stdinLines } from "./prompt.ts";
import { createReconnector, type Reconnector } from "./reconnect.ts";
import type { ServerCertificate } from "../client/pinned_tls.ts";

const HELP = `ferry: copy files to and from a ferry server over TLS

Usage:
  ferry [options] ls [-l] [PATH]             list a remote directory (default: the root)
  ferry [options] get [-r] [-p] [--resume] REMOTE... [LOCAL]
                                             download (LOCAL defaults to here)
  ferry [options] put [-r] [-p] [--resume] LOCAL... [REMOTE]
                                             upload (REMOTE defaults to the root)
  ferry [options] mkdir [-p] DIR...          create remote directories
  ferry [options] mv [-f] FROM TO            rename or move a remote path
  ferry [options] stat PATH                  kind, size, modification time and SHA-256
  ferry [options] rm [-r] [-y] PATH...       delete remote files (-r: directory trees)
  ferry [options] shutdown                   stop the server (admin token only)
  ferry [options] -b FILE                    run the commands in FILE (- for standard input)
                                             over one connection

Remote paths may hold wildcards in their last component: * ? [abc] [a-z] [!a] (quote them
for your shell: ferry get 'logs/*.txt' out/).

Command options:
  -r, --recursive  get/put/rm: whole directory trees
  -p, --preserve   get/put: keep modification times (like scp -p); mkdir: --parents
  --parents        mkdir: create missing parents, succeed if it exists
  --resume         get/put: continue an interrupted transfer
  -f, --force      mv: replace an existing file
  -y, --yes        rm -r: do not ask
  -l, --long       ls: kind, size and modification time too
  --json           print one JSON document (ls, stat, get, put)
  -q, --quiet      no progress bars, summaries or notices

Connection options:
  --host HOST      server                          (default localhost)
  --port N         port                            (default ${DEFAULT_PORT})
  --profile NAME   host, port, ca, token from NAME in <config>/profiles.json
  --certs DIR      where ca.pem and token are found by default   (default ./certs)
  --ca FILE        CA certificate to trust         (default <certs>/ca.pem when present)
  --token TOKEN    access token                    (default $FERRY_TOKEN, then <certs>/token)
  --trust SHA256   trust a server whose certificate has this fingerprint (and remember it)
  -b, --batch FILE commands, one per line; a line starting with - may fail
  -h, --help       show this help

A server whose certificate no trusted CA signed is shown with its SHA-256 fingerprint; trust it
with --trust or by answering yes, and it is remembered in <config>/known_servers. <config> is
$FERRY_CONFIG_DIR, else $XDG_CONFIG_HOME/ferry, else ~/.config/ferry.

Exit status: 0 success; 2 usage; 3 connection; 4 TLS; 5 authentication; 6 not found or wrong
kind; 7 bad path; 8 checksum; 9 space or size; 10 local file; 11 protocol; 12 cancelled; 1 other.`;

const GLOBAL_OPTIONS = {
  host: { type: "string" },
  port: { type: "string" },
  profile: { type: "string" },
  certs: { type: "string", default: "./certs" },
  ca: { type: "string" },
  token: { type: "string" },
  trust: { type: "string" },
  batch: { type: "string", short: "b" },
  help: { type: "boolean", short: "h", default: false },
} as const;

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw new FerryError("LOCAL_IO", `${path}: ${(err as Error).message}`, { cause: err });
  }
}

function usage(message: string): FerryError {
  return new FerryError("USAGE", `${message} (see ferry --help)`);
}

/** Option names as written (`-r`, `--json`), for per-command checks. */
function optionNames(tokens: { kind: string; rawName?: string }[]): string[] {
  return tokens.filter((t) => t.kind === "option").map((t) => t.rawName!);
}

function parseCommandLine(words: string[]) {
  try {
    const { values, positionals, tokens } = parseArgs({
      args: words,
      allowPositionals: true,
      tokens: true,
      options: COMMAND_OPTIONS,
    });
    return { values: values as CommandFlags, positionals, names: optionNames(tokens) };
  } catch (err) {
    throw usage((err as Error).message);
  }
}

/** Where and how to connect, from flags, a profile and defaults. */
interface Settings {
  host: string;
  port: number;
  token: string;
  ca: string | undefined;
  trust: string | undefined;
}

async function settings(values: Record<string, string | boolean | undefined>): Promise<Settings> {
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

const encoder = new TextEncoder();
function stderr(text: string): void {
  try {
    Deno.stderr.writeSync(encoder.encode(text + "\n"));
  } catch {
    // nowhere to report
  }
}

function changedWarning(where: string, cert: ServerCertificate, known: string, file: string) {
  const bar = "@".repeat(63);
  stderr(
    [
      bar,
      "@    WARNING: THE SERVER'S CERTIFICATE HAS CHANGED!               @",
      bar,
      "IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!",
      "Someone could be intercepting your connection right now (a man-in-the-middle attack).",
      "It is also possible that the server's certificate was simply replaced.",
      `The certificate of ${where} now has the SHA-256 fingerprint`,
      `    ${cert.fingerprint}`,
      "but the one you trusted, remembered in",
      `    ${file}`,
      "is",
      `    ${known}`,
      "If you know the change is expected (compare with the fingerprint the server prints at",
      `start-up), run again with --trust ${cert.fingerprint}`,
    ].join("\n"),
  );
}

/** Connects with trust on first use: CA, else a remembered or given fingerprint, else ask. */
function opener(
  s: Settings,
  options: { interactive: boolean; quiet: boolean },
): () => Promise<FerryClient> {
  const where = `${s.host}:${s.port}`;
  // Once a connection is made, reconnections expect the same certificate.
  let pinned: string | undefined;
  return async () => {
    let known: ReturnType<typeof knownServers> | undefined;
    let remembered: string | undefined;
    try {
      known = knownServers(configDir());
      remembered = await known.get(s.host, s.port);
    } catch {
      known = undefined; // no configuration directory: nothing remembered
    }
    let changed = false;
    let client: FerryClient;
    try {
      client = await connect({
        hostname: s.host,
        port: s.port,
        token: s.token,
        caCerts: s.ca === undefined ? undefined : [s.ca],
        trustedFingerprint: pinned ?? s.trust ?? remembered,
        onUnknownCertificate: async (cert) => {
          if (pinned !== undefined) return false;
          if (s.trust !== undefined) {
            stderr(
              `ferry: the certificate of ${where} has SHA-256 fingerprint\n    ${cert.fingerprint}\n` +
                `which is not the one given with --trust:\n    ${s.trust}`,
            );
            return false;
          }
          if (remembered !== undefined) {
            changed = true;
            changedWarning(where, cert, remembered, known!.file);
            return false;
          }
          stderr(
            [
              `ferry: the certificate of ${where} is not signed by a CA you trust (${
                printable(cert.reason)
              }).`,
              `Its SHA-256 fingerprint is`,
              `    ${cert.fingerprint}`,
              `Compare it with the fingerprint the server printed at start-up.`,
            ].join("\n"),
          );
          if (!options.interactive) {
            stderr(
              `To trust it, run again with --trust ${cert.fingerprint} (or pass --ca with the server's CA certificate).`,
            );
            return false;
          }
          return await confirm("Trust this server and remember its certificate?");
        },
      });
    } catch (err) {
      if (changed && err instanceof FerryError && err.code === "TLS") {
        throw new FerryError(
          "TLS",
          `the certificate of ${where} does not match the one remembered in ${
            known!.file
          }; refusing to connect`,
        );
      }
      throw err;
    }
    const fp = client.trust.fingerprint;
    if (client.trust.method === "fingerprint" && fp !== null) {
      pinned = fp;
      if (fp !== remembered) {
        try {
          known ??= knownServers(configDir());
          await known.set(s.host, s.port, fp);
          if (!options.quiet) {
            stderr(
              `ferry: ${
                remembered === undefined ? "remembered" : "replaced"
              } the certificate of ${where} in ${known.file}`,
            );
          }
        } catch (err) {
          stderr(`ferry: could not remember the certificate: ${(err as Error).message}`);
        }
      }
    }
    return client;
  };
}

function context(
  connection: Reconnector,
  json: boolean,
  quiet: boolean,
  interactive: boolean,
): Context {
  return {
    connection,
    json,
    quiet,
    interactive,
    print: (text) => console.log(text),
    notice: (text) => {
      if (!quiet) stderr(text);
    },
    progress: () => (quiet ? { ...NO_PROGRESS, message() {} } : createProgressDisplay()),
  };
}

/** An error already printed. */
class Reported extends Error {
  constructor(readonly error: FerryError) {
    super(error.message);
  }
}

/** Prints an error the way every failure is reported: one line on standard error. */
function report(err: unknown, prefix = ""): FerryError {
  const e = err instanceof FerryError
    ? err
    : new FerryError("INTERNAL", err instanceof Error ? err.message : String(err));
  // Server-supplied text (names, messages) could hold terminal escapes.
  stderr(`ferry: ${prefix}${printable(e.message)} [${e.code}]`);
  return e;
}

async function runBatch(
  source: string,
  connection: Reconnector,
  flags: CommandFlags,
  interactiveAllowed: boolean,
): Promise<number> {
  let nextLine: () => Promise<string | null>;
  if (source === "-") {
    const lines = stdinLines();
    nextLine = () => lines.readLine();
  } else {
    let text: string;
    try {
      text = await Deno.readTextFile(source);
    } catch (err) {
      throw new FerryError("LOCAL_IO", `batch file ${source}: ${(err as Error).message}`);
    }
    const all = text.split("\n");
    // Check every line before running any.
    all.forEach((line, i) => {
      try {
        const parsed = parseBatchLine(line);
        if (parsed === null) return;
        const { positionals, names } = parseCommandLine(parsed.words);
        validateCommand(positionals[0], positionals.slice(1), names);
      } catch (err) {
        const e = err as FerryError;
        throw new FerryError(e.code ?? "USAGE", `${source}:${i + 1}: ${e.message}`);
      }
    });
    let i = 0;
    nextLine = () => Promise.resolve(i < all.length ? all[i++] : null);
  }
  let number = 0;
  while (true) {
    const line = await nextLine();
    if (line === null) return 0;
    number++;
    const where = source === "-" ? `line ${number}` : `${source}:${number}`;
    let parsed;
    try {
      parsed = parseBatchLine(line);
    } catch (err) {
      throw new Reported(report(err, `${where}: `));
    }
    if (parsed === null) continue;
    try {
      const { values, positionals, names } = parseCommandLine(parsed.words);
      const [command, ...args] = positionals;
      validateCommand(command, args, names);
      const json = values.json || flags.json || false;
      const quiet = values.quiet || flags.quiet || false;
      await runCommand(
        context(connection, json, quiet, interactiveAllowed && source !== "-"),
        command,
        args,
        values,
      );
    } catch (err) {
      if (!parsed.ignoreFailure) throw new Reported(report(err, `${where}: `));
      report(err, `${where} (ignored): `);
    }
  }
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      tokens: true,
      options: { ...GLOBAL_OPTIONS, ...COMMAND_OPTIONS },
    });
  } catch (err) {
    throw usage((err as Error).message);
  }
  const { values, positionals, tokens } = parsed;
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const globalNames = new Set(
    Object.entries(GLOBAL_OPTIONS).flatMap((
      [k, v],
    ) => [`--${k}`, ..."short" in v ? [`-${v.short}`] : []]),
  );
  const commandNames = optionNames(tokens).filter((n) => !globalNames.has(n));
  const flags = values as CommandFlags;
  const interactive = Deno.stdin.isTerminal();

  if (values.batch !== undefined) {
    if (positionals.length > 0) {
      throw usage("-b takes its commands from the file, not the command line");
    }
    const extra = commandNames.filter((n) => !["--json", "-q", "--quiet"].includes(n));
    if (extra.length > 0) throw usage(`${extra[0]} belongs on a batch line, not with -b`);
  } else {
    const [command, ...args] = positionals;
    if (command === undefined) throw usage("no command given");
    validateCommand(command, args, commandNames);
  }

  const s = await settings(values);
  const connection = createReconnector(
    opener(s, { interactive: interactive && values.batch !== "-", quiet: flags.quiet ?? false }),
  );
  try {
    if (values.batch !== undefined) {
      return await runBatch(values.batch, connection, flags, interactive);
    }
    const [command, ...args] = positionals;
    await runCommand(
      context(connection, flags.json ?? false, flags.quiet ?? false, interactive),
      command,
      args,
      flags,
    );
    return 0;
  } finally {
    await connection.close();
  }
}

if (import.meta.main) {
  // Ctrl-C: erase the progress bars and say so. An interrupted download keeps its hidden partial
  // file and an upload its partial on the server, for --resume.
  Deno.addSignalListener("SIGINT", () => {
    closeAllDisplays();
    report(new FerryError("CANCELLED", "interrupted; --resume continues an interrupted transfer"));
    Deno.exit(exitCodeFor("CANCELLED"));
  });
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (err) {
    code = exitCodeFor(err instanceof Reported ? err.error.code : report(err).code);
  }
  Deno.exit(code);
}
