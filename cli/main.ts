/**
 * `ferry`: the command-line client, a thin layer over the library in `client/`. It parses the
 * command line, connects (with trust on first use), runs one command or a batch of them over
 * one connection, and decides the exit status in one place ({@linkcode exitStatus}).
 *
 * @module
 */

import { type ErrorCode, FerryError, messageOf } from "../protocol/errors.ts";
import { VERSION } from "../common/version.ts";
import { exitCodeFor } from "./exit_codes.ts";
import {
  type CommandFlags,
  type Context,
  type Outcome,
  runCommand,
  SUCCEEDED,
  validateCommand,
} from "./commands.ts";
import { parseBatchWords, parseCommandLine } from "./args.ts";
import { parseHostOption, type ServerRef, splitServers } from "./address.ts";
import { completionScript } from "./completions.ts";
import { parseBatchLine } from "./batch.ts";
import { printable } from "./format.ts";
import { writeLines } from "./line_output.ts";
import { closeAllDisplays, createProgressDisplay, NO_PROGRESS } from "./progress.ts";
import { stderr, stdinLines } from "./prompt.ts";
import { createReconnector, type Reconnector } from "./reconnect.ts";
import { sameServer, type Settings, settings } from "./settings.ts";
import { opener } from "./trust.ts";
import { HELP, usage } from "./usage.ts";
import { withHint } from "./hints.ts";

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
    printLines: (lines) => writeLines(lines),
    notice: (text) => {
      if (!quiet) stderr(text);
    },
    progress: (options) =>
      quiet ? { ...NO_PROGRESS, message() {} } : createProgressDisplay(
        options?.dataOnStdout
          ? { enabled: Deno.stderr.isTerminal() && !Deno.stdout.isTerminal() }
          : {},
      ),
  };
}

/** How a run ended: a command's outcome or an error thrown, and the batch line it was on. */
type Ending = ({ outcome: Outcome } | { thrown: unknown }) & { where?: string };

/** Runs `command` and turns a throw into an ending. */
async function settle(command: () => Promise<Outcome>): Promise<Ending> {
  try {
    return { outcome: await command() };
  } catch (thrown) {
    return { thrown };
  }
}

/** The failure an ending amounts to, or `null` when everything succeeded. */
function failureOf(ending: Ending): { code: ErrorCode; message: string } | null {
  if ("outcome" in ending) {
    const { code, message } = ending.outcome;
    return code === null ? null : { code, message };
  }
  const err = ending.thrown;
  return err instanceof FerryError ? withHint(err) : new FerryError("INTERNAL", messageOf(err));
}

/** Prints a failure the way every failure is reported: one line on standard error. */
function report(failure: { code: ErrorCode; message: string }, prefix = ""): void {
  // Server-supplied text (names, messages) could hold terminal escapes.
  stderr(`ferry: ${prefix}${printable(failure.message)} [${failure.code}]`);
}

/**
 * The exit status of a run, decided here and nowhere else: 0 when it succeeded, else the status
 * `exit_codes.ts` gives the failure's code, once the failure has been reported.
 */
function exitStatus(ending: Ending): number {
  const failure = failureOf(ending);
  if (failure === null) return 0;
  report(failure, ending.where === undefined ? "" : `${ending.where}: `);
  return exitCodeFor(failure.code);
}

/**
 * Parses a batch line's words into its command, arguments (servers taken out of remote paths,
 * which must be the batch's own server) and options.
 */
function batchCommand(words: string[], s: Settings) {
  const { values, positionals, names } = parseBatchWords(words);
  const [command, ...rest] = positionals;
  validateCommand(command, rest, names);
  const { args, server } = splitServers(command, rest);
  if (!sameServer(s, server)) {
    throw usage("a batch runs over one connection: its lines cannot name another server");
  }
  return { values, command, args };
}

/** Reads a batch's lines: a file (checked whole before any line runs) or standard input. */
async function batchLines(source: string, s: Settings): Promise<() => Promise<string | null>> {
  if (source === "-") {
    const lines = stdinLines();
    return () => lines.readLine();
  }
  let text: string;
  try {
    text = await Deno.readTextFile(source);
  } catch (err) {
    throw new FerryError("LOCAL_IO", `batch file ${source}: ${messageOf(err)}`);
  }
  const all = text.split("\n");
  // Check every line before running any.
  all.forEach((line, i) => {
    try {
      const parsed = parseBatchLine(line);
      if (parsed === null) return;
      batchCommand(parsed.words, s);
    } catch (err) {
      const e = err as FerryError;
      throw new FerryError(e.code ?? "USAGE", `${source}:${i + 1}: ${e.message}`);
    }
  });
  let i = 0;
  return () => Promise.resolve(i < all.length ? all[i++] : null);
}

/**
 * Runs a batch over one connection, line by line. A failing line ends the batch with its
 * failure, unless it starts with `-`: then the failure is reported and the batch goes on.
 */
async function runBatch(
  source: string,
  s: Settings,
  connection: Reconnector,
  flags: CommandFlags,
  interactiveAllowed: boolean,
): Promise<Ending> {
  const nextLine = await batchLines(source, s);
  let number = 0;
  while (true) {
    const line = await nextLine();
    if (line === null) return { outcome: SUCCEEDED };
    number++;
    const where = source === "-" ? `line ${number}` : `${source}:${number}`;
    let parsed;
    try {
      parsed = parseBatchLine(line);
    } catch (thrown) {
      return { thrown, where };
    }
    if (parsed === null) continue;
    const words = parsed.words;
    const ending = await settle(() => {
      const { values, command, args } = batchCommand(words, s);
      const json = values.json || flags.json || false;
      const quiet = values.quiet || flags.quiet || false;
      const interactive = interactiveAllowed && source !== "-";
      return runCommand(context(connection, json, quiet, interactive), command, args, values);
    });
    const failure = failureOf(ending);
    if (failure === null) continue;
    if (!parsed.ignoreFailure) return { ...ending, where };
    report(failure, `${where} (ignored): `);
  }
}

/** Parses the command line, connects, and runs the command or the batch. */
async function main(argv: string[]): Promise<Ending> {
  const { values, positionals, names } = parseCommandLine(argv);
  if (values.version) {
    console.log(`ferry ${VERSION}`);
    return { outcome: SUCCEEDED };
  }
  if (values.help) {
    console.log(HELP);
    return { outcome: SUCCEEDED };
  }
  const flags = values as CommandFlags;
  const interactive = Deno.stdin.isTerminal();
  const servers: ServerRef[] = [];
  if (values.host !== undefined) servers.push(parseHostOption(values.host));
  let command: string | undefined;
  let args: string[] = [];

  if (values.batch !== undefined) {
    if (positionals.length > 0) {
      throw usage("-b takes its commands from the file, not the command line");
    }
    const extra = names.filter((n) => !["--json", "-q", "--quiet"].includes(n));
    if (extra.length > 0) throw usage(`${extra[0]} belongs on a batch line, not with -b`);
  } else {
    [command, ...args] = positionals;
    if (command === undefined) throw usage("no command given");
    if (command === "completions") return completions(args, names);
    if (/^\d+$/.test(command)) {
      throw usage(
        `unknown command ${
          JSON.stringify(command)
        }: a port is -P ${command} or --port ${command} ` +
          `(-p keeps modification times)`,
      );
    }
    validateCommand(command, args, names);
    const split = splitServers(command, args);
    args = split.args;
    servers.push(split.server);
  }

  const s = await settings(values, servers);
  const connection = createReconnector(
    opener(s, { interactive: interactive && values.batch !== "-", quiet: flags.quiet ?? false }),
  );
  try {
    if (values.batch !== undefined) {
      return await runBatch(values.batch, s, connection, flags, interactive);
    }
    const ctx = context(connection, flags.json ?? false, flags.quiet ?? false, interactive);
    return { outcome: await runCommand(ctx, command!, args, flags) };
  } finally {
    await connection.close();
  }
}

/** `ferry completions bash|zsh|fish`: prints the completion script; needs no server. */
function completions(args: string[], names: string[]): Ending {
  if (names.length > 0) throw usage(`completions does not take ${names[0]}`);
  if (args.length !== 1) throw usage("usage: completions bash|zsh|fish");
  console.log(completionScript(args[0]));
  return { outcome: SUCCEEDED };
}

if (import.meta.main) {
  // Ctrl-C: erase the progress bars and say so. An interrupted download keeps its hidden partial
  // file and an upload its partial on the server, for --resume.
  Deno.addSignalListener("SIGINT", () => {
    closeAllDisplays();
    const cancelled = "interrupted; --resume continues an interrupted transfer";
    Deno.exit(exitStatus({ thrown: new FerryError("CANCELLED", cancelled) }));
  });
  const ending = await main(Deno.args).catch((thrown): Ending => ({ thrown }));
  Deno.exit(exitStatus(ending));
}
