/**
 * Parsing the `ferry` command line and batch lines: the global and command options, values that
 * begin with `-` (`--token -x…`), combined short flags (`ls -lh`, where `-h` after `ls` means
 * human-readable sizes, not help), and the names of the options given, for per-command checks.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { COMMAND_OPTIONS, type CommandFlags } from "./commands.ts";
import { usage } from "./usage.ts";
import { messageOf } from "../protocol/errors.ts";

/** Options of the whole invocation (connection, batch, help), for `parseArgs`. */
export const GLOBAL_OPTIONS = {
  host: { type: "string" },
  port: { type: "string", short: "P" },
  profile: { type: "string" },
  certs: { type: "string", default: "./certs" },
  ca: { type: "string" },
  token: { type: "string" },
  "token-file": { type: "string" },
  trust: { type: "string" },
  "limit-rate": { type: "string" },
  "checksum-choice": { type: "string" },
  batch: { type: "string", short: "b" },
  help: { type: "boolean", short: "h", default: false },
  version: { type: "boolean", default: false },
} as const;

/** Values of the global options. */
export interface GlobalValues {
  /** `--host HOST[:PORT]`. */
  host?: string;
  /** `--port N`, `-P N`. */
  port?: string;
  /** `--profile NAME`. */
  profile?: string;
  /** `--certs DIR`. */
  certs: string;
  /** `--ca FILE`. */
  ca?: string;
  /** `--token TOKEN`. */
  token?: string;
  /** `--token-file FILE`. */
  "token-file"?: string;
  /** `--trust SHA256`. */
  trust?: string;
  /** `--limit-rate RATE`. */
  "limit-rate"?: string;
  /** `--checksum-choice ALGO`. */
  "checksum-choice"?: string;
  /** `-b FILE`. */
  batch?: string;
  /** `-h`, `--help`. */
  help: boolean;
  /** `--version`. */
  version: boolean;
}

/** A parsed command line. */
export interface ParsedLine {
  /** Option values (global and command). */
  values: GlobalValues & CommandFlags;
  /** The words that are not options: the command and its arguments. */
  positionals: string[];
  /** The command options given, as written (`-r`, `--json`), for per-command checks. */
  names: string[];
}

type Options = Record<string, { type: "string" | "boolean"; short?: string }>;

/**
 * Joins each string option with the word after it (`--token -x` → `--token=-x`), so a value may
 * begin with `-`: a string option always takes the next word as its value.
 */
export function joinOptionValues(words: readonly string[], options: Options): string[] {
  const strings = new Set(
    Object.entries(options).filter(([, o]) => o.type === "string").map(([name]) => `--${name}`),
  );
  const out: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if (w === "--") {
      out.push(...words.slice(i));
      break;
    }
    if (strings.has(w) && i + 1 < words.length) out.push(`${w}=${words[++i]}`);
    else out.push(w);
  }
  return out;
}

/**
 * Parses `words` with `options`. `-h` after the command `ls` means `--human-readable` (as in
 * `ls -lh`); anywhere else it asks for help.
 */
export function parseLine(words: readonly string[], options: Options): ParsedLine {
  let parsed;
  try {
    parsed = parseArgs({
      args: joinOptionValues(words, options),
      allowPositionals: true,
      tokens: true,
      options: { ...options, help: { type: "boolean", short: "h" } },
    });
  } catch (err) {
    throw usage(messageOf(err));
  }
  const { positionals, tokens } = parsed;
  const values = parsed.values as Record<string, unknown>;
  const first = tokens.find((t) => t.kind === "positional");
  const isLs = first?.kind === "positional" && first.value === "ls";
  let help = false;
  const names: string[] = [];
  for (const t of tokens) {
    if (t.kind !== "option") continue;
    if (t.name === "help") {
      if (t.rawName === "-h" && isLs && t.index > first.index) {
        values["human-readable"] = true;
        names.push("-h");
      } else help = true;
      continue;
    }
    if (!Object.hasOwn(GLOBAL_OPTIONS, t.name)) names.push(t.rawName);
  }
  values.help = help;
  return { values: values as unknown as ParsedLine["values"], positionals, names };
}

/** Parses the command line of `ferry`: global and command options. */
export function parseCommandLine(argv: readonly string[]): ParsedLine {
  const parsed = parseLine(argv, { ...GLOBAL_OPTIONS, ...COMMAND_OPTIONS });
  parsed.values.certs ??= "./certs";
  parsed.values.version ??= false;
  return parsed;
}

/** Parses one batch line: command options only (`-h` is for `ls -h`). */
export function parseBatchWords(words: readonly string[]): ParsedLine {
  const parsed = parseLine(words, COMMAND_OPTIONS);
  if (parsed.values.help) throw usage("--help is not a batch command");
  return parsed;
}
