/**
 * `ferry`: the command-line client, a thin layer over the library in `client/`. It parses the
 * command line, connects (with trust on first use), runs one command or a batch of them over
 * one connection, and decides the exit status in one place ({@linkcode exitStatus}).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type ErrorCode, FerryError } from "../protocol/errors.ts";
import { exitCodeFor } from "./exit_codes.ts";
import {
  COMMAND_OPTIONS,
  type CommandFlags,
  type Context,
  type Outcome,
  runCommand,
  SUCCEEDED,
  validateCommand,
} from "./commands.ts";
import { parseBatchLine } from "./batch.ts";
import { printable } from "./format.ts";
import { closeAllDisplays, createProgressDisplay, NO_PROGRESS } from "./progress.ts";
import { stderr, stdinLines } from "./prompt.ts";
import { createReconnector, type Reconnector } from "./reconnect.ts";
import { settings } from "./settings.ts";
import { opener } from "./trust.ts";
import { HELP, usage } from "./usage.ts";
import { withHint } from "./hints.ts";

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

/** Option names as written (`-r`, `--json`), for per-command checks. */
function optionNames(tokens: { kind: string; rawName?: string }[]): string[] {
  return tokens.filter((t) => t.kind === "option").map((t) => t.rawName!);
}

/** Parses one command's words (a batch line): its flags, positionals and option names. */
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
  return err instanceof FerryError
    ? withHint(err)
    : new FerryError("INTERNAL", err instanceof Error ? err.message : String(err));
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

/** Reads a batch's lines: a file (checked whole before any line runs) or standard input. */
async function batchLines(source: string): Promise<() => Promise<string | null>> {
  if (source === "-") {
    const lines = stdinLines();
    return () => lines.readLine();
  }
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
  return () => Promise.resolve(i < all.length ? all[i++] : null);
}

/**
 * Runs a batch over one connection, line by line. A failing line ends the batch with its
 * failure, unless it starts with `-`: then the failure is reported and the batch goes on.
 */
async function runBatch(
  source: string,
  connection: Reconnector,
  flags: CommandFlags,
  interactiveAllowed: boolean,
): Promise<Ending> {
  const nextLine = await batchLines(source);
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
      const { values, positionals, names } = parseCommandLine(words);
      const [command, ...args] = positionals;
      validateCommand(command, args, names);
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
    return { outcome: SUCCEEDED };
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
    const ctx = context(connection, flags.json ?? false, flags.quiet ?? false, interactive);
    return { outcome: await runCommand(ctx, command, args, flags) };
  } finally {
    await connection.close();
  }
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
