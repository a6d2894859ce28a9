/**
 * The CLI's commands (`ls`, `get`, `put`, `mkdir`, `mv`, `stat`, `rm`, `shutdown`): their
 * options, argument checks (done before connecting) and what each prints, as text or as one
 * JSON document.
 *
 * @module
 */

import { basename } from "node:path";
import { type ErrorCode, FerryError, messageOf } from "../protocol/errors.ts";
import type { Entry } from "../protocol/messages/mod.ts";
import type { FerryClient } from "../client/types.ts";
import {
  formatLong,
  formatRate,
  formatSize,
  formatTime,
  nameLines,
  printable,
  toJson,
} from "./format.ts";
import { globMatcher, splitGlob, unquote } from "./glob.ts";
import { NameList } from "./name_list.ts";
import type { ProgressDisplay } from "./progress.ts";
import { confirm, stderr } from "./prompt.ts";
import { outputStream } from "./std_streams.ts";
import type { Reconnector } from "./reconnect.ts";
import { CONCURRENCY, expandRemote, joinRemote, walkRemote } from "./remote_tree.ts";
import { type TransferFailure, transferFiles, type TransferReport } from "./transfer.ts";
import { usage } from "./usage.ts";

/** What a command needs from the program around it. */
export interface Context {
  /** The connection. */
  connection: Reconnector;
  /** Print JSON instead of text. */
  json: boolean;
  /** No progress, summaries or notices. */
  quiet: boolean;
  /** Whether questions may be asked (standard input is a terminal and not a batch). */
  interactive: boolean;
  /** Writes one line of data to standard output. */
  print(text: string): void;
  /** Writes lines of data to standard output, in large writes (a long listing). */
  printLines(lines: Iterable<string>): void;
  /** Writes a notice to standard error (not with `quiet`). */
  notice(text: string): void;
  /**
   * A progress display for a transfer (disabled when not on a terminal or `quiet`); with
   * `dataOnStdout`, drawn while standard error is a terminal and standard output is not.
   */
  progress(options?: { dataOnStdout?: boolean }): ProgressDisplay;
}

/** Options a command was given (from `node:util` parseArgs). */
export interface CommandFlags {
  /** `-r`: whole directory trees (get, put, rm). */
  recursive?: boolean;
  /** `-p`: keep modification times (get, put); for mkdir, `--parents`. */
  preserve?: boolean;
  /** `--parents`: mkdir creates missing parents and succeeds if the directory exists. */
  parents?: boolean;
  /** `--resume`: continue an interrupted transfer (get, put). */
  resume?: boolean;
  /** `-f`: mv replaces an existing file. */
  force?: boolean;
  /** `-y`: rm -r does not ask. */
  yes?: boolean;
  /** `-l`: ls shows kind, size and modification time. */
  long?: boolean;
  /** `-h` after `ls` (`ls -lh`): sizes as 1.5 KiB. */
  "human-readable"?: boolean;
  /** `-U`: ls prints entries in the server's order, as they arrive, unsorted. */
  unsorted?: boolean;
  /** `-u`: get/put skip files the destination already has unchanged (size and time). */
  update?: boolean;
  /** `-c`: with `--update` (or alone), compare checksums instead of the time. */
  checksum?: boolean;
  /** `--streams N`: get each large file over N connections at once. */
  streams?: string;
  /** `--json`: print one JSON document. */
  json?: boolean;
  /** `-q`: no progress bars, summaries or notices. */
  quiet?: boolean;
}

/**
 * How a command ended when it did not throw. `code` is `null` when it succeeded; when some files
 * of a `get` or `put` could not be moved it is the first failure's code, and `message` says what
 * failed. The exit status is decided from it, with thrown errors, in `main.ts`.
 */
export interface Outcome {
  /** The files a `get` or `put` could not move; empty for every other command. */
  readonly failed: readonly TransferFailure[];
  /** The error code the command ended with, or `null` if it succeeded. */
  readonly code: ErrorCode | null;
  /** What failed, in one line (empty if nothing did). */
  readonly message: string;
}

/** The outcome of a command that did everything it was asked. */
export const SUCCEEDED: Outcome = { failed: [], code: null, message: "" };

/** The options every command and batch line may use, for `parseArgs`. */
export const COMMAND_OPTIONS = {
  recursive: { type: "boolean", short: "r" },
  preserve: { type: "boolean", short: "p" },
  parents: { type: "boolean" },
  resume: { type: "boolean" },
  force: { type: "boolean", short: "f" },
  yes: { type: "boolean", short: "y" },
  long: { type: "boolean", short: "l" },
  "human-readable": { type: "boolean" },
  unsorted: { type: "boolean", short: "U" },
  update: { type: "boolean", short: "u" },
  checksum: { type: "boolean", short: "c" },
  streams: { type: "string" },
  json: { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
} as const;

/** What a command accepts. */
export interface CommandSpec {
  /** Fewest arguments. */
  min: number;
  /** Most arguments. */
  max: number;
  /** Its synopsis, for usage errors. */
  usage: string;
  /** What it does, in a few words (shell completions show it). */
  summary: string;
  /** Options allowed, as written (`-r`, `--recursive`, …); `--json`, `-q` always are. */
  options: string[];
}

const TRANSFER_OPTIONS = [
  "-r",
  "--recursive",
  "-p",
  "--preserve",
  "--resume",
  "-u",
  "--update",
  "-c",
  "--checksum",
];

/** Every command: argument counts and options, checked before connecting. */
export const COMMANDS: Record<string, CommandSpec> = {
  ls: {
    min: 0,
    max: 1,
    usage: "ls [-l] [-h] [-U] [--json] [PATH]",
    summary: "list a remote directory",
    options: ["-l", "--long", "-h", "--human-readable", "-U", "--unsorted"],
  },
  get: {
    min: 1,
    max: Infinity,
    usage: "get [-r] [-p] [--resume] [-u [-c]] [--streams N] REMOTE... [LOCAL | -]",
    summary: "download files or trees",
    options: [...TRANSFER_OPTIONS, "--streams"],
  },
  put: {
    min: 1,
    max: Infinity,
    usage: "put [-r] [-p] [--resume] [-u [-c]] LOCAL... [REMOTE]   (LOCAL - is standard input)",
    summary: "upload files or trees",
    options: TRANSFER_OPTIONS,
  },
  mkdir: {
    min: 1,
    max: Infinity,
    usage: "mkdir [-p] DIR...",
    summary: "create remote directories",
    options: ["-p", "--parents"],
  },
  mv: {
    min: 2,
    max: 2,
    usage: "mv [-f] FROM TO",
    summary: "rename or move a remote path",
    options: ["-f", "--force"],
  },
  stat: {
    min: 1,
    max: 1,
    usage: "stat [--json] PATH",
    summary: "kind, size, time and SHA-256 of a remote path",
    options: [],
  },
  rm: {
    min: 1,
    max: Infinity,
    usage: "rm [-r] [-y] PATH...",
    summary: "delete remote files or trees",
    options: ["-r", "--recursive", "-y", "--yes"],
  },
  shutdown: {
    min: 0,
    max: 0,
    usage: "shutdown",
    summary: "stop the server (admin token only)",
    options: [],
  },
};

/** Checks a command's name, argument count and options (as written) before connecting. */
export function validateCommand(command: string, args: string[], optionNames: string[]): void {
  const spec = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (spec === undefined) throw usage(`unknown command ${JSON.stringify(command)}`);
  if (args.length < spec.min || args.length > spec.max) throw usage(`usage: ${spec.usage}`);
  for (const name of optionNames) {
    if (["--json", "-q", "--quiet"].includes(name)) continue;
    if (!spec.options.includes(name)) throw usage(`${command} does not take ${name}`);
  }
}

function byName(a: Entry, b: Entry): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

async function ls(ctx: Context, client: FerryClient, path: string, flags: CommandFlags) {
  let glob;
  try {
    glob = splitGlob(path);
  } catch (err) {
    throw usage(`${printable(path)}: ${messageOf(err)}`);
  }
  const match = glob === null ? () => true : globMatcher(glob.pattern);
  const dir = glob === null ? unquote(path) : glob.dir;
  const noMatch = () => new FerryError("NOT_FOUND", `no remote file matches ${printable(path)}`);
  if (!flags.long && !ctx.json && flags.unsorted) {
    // In the order the server reads the directory, each batch printed as it arrives: nothing
    // is kept, however large the directory.
    let matched = 0;
    await client.listEach(dir, (batch) => {
      const kept = batch.filter((e) => match(e.name));
      matched += kept.length;
      ctx.printLines(nameLines(kept));
    }, { namesOnly: true });
    if (glob !== null && matched === 0) throw noMatch();
    return;
  }
  if (!flags.long && !ctx.json) {
    // Names and kinds are all that plain `ls` prints: the server need not stat each entry, and
    // only the names are kept here until they are sorted and printed.
    const names = new NameList();
    await client.listEach(dir, (batch) => names.add(batch, match), { namesOnly: true });
    if (glob !== null && names.length === 0) throw noMatch();
    ctx.printLines(names.lines());
    return;
  }
  const entries = (await client.list(dir)).filter((e) => match(e.name));
  if (glob !== null && entries.length === 0) throw noMatch();
  if (!flags.unsorted) entries.sort(byName);
  if (ctx.json) ctx.print(toJson(entries));
  else if (entries.length > 0) {
    ctx.print(formatLong(entries, flags["human-readable"] ?? false));
  }
}

async function stat(ctx: Context, client: FerryClient, path: string) {
  const entry = await client.stat(path);
  const sha256 = entry.kind === "file" ? await client.hash(path) : null;
  if (ctx.json) {
    ctx.print(toJson({ path, ...entry, sha256 }));
    return;
  }
  const rows: [string, string][] = [
    ["path", printable(path)],
    ["kind", entry.kind],
    ["size", entry.kind === "file" ? `${entry.size} (${formatSize(entry.size)})` : "-"],
    [
      "mtime",
      entry.mtime === null
        ? "-"
        : `${formatTime(entry.mtime, true)} (${new Date(entry.mtime).toISOString()})`,
    ],
  ];
  if (sha256 !== null) rows.push(["sha256", sha256]);
  ctx.print(rows.map(([k, v]) => `${k.padStart(6)}: ${v}`).join("\n"));
}

async function mv(client: FerryClient, from: string, to: string, flags: CommandFlags) {
  let target = to;
  // Like mv(1): onto an existing directory means into it.
  const existing = await client.stat(to).catch((err) => {
    if (err instanceof FerryError && err.code === "NOT_FOUND") return null;
    throw err;
  });
  if (existing?.kind === "dir") target = joinRemote(to, basename(from.replace(/\/+$/, "")));
  try {
    await client.rename(from, target, { replace: flags.force ?? false });
  } catch (err) {
    if (err instanceof FerryError && err.code === "ALREADY_EXISTS" && !flags.force) {
      throw new FerryError("ALREADY_EXISTS", `${err.message} (use --force to replace it)`);
    }
    throw err;
  }
}

/** The kind of `path` itself (a symlink stays a symlink), from its parent's listing. */
async function lstatKind(client: FerryClient, path: string): Promise<Entry["kind"]> {
  const clean = path.replace(/\/+$/, "");
  const slash = clean.lastIndexOf("/");
  const parent = slash < 0 ? "." : clean.slice(0, slash);
  const name = clean.slice(slash + 1);
  if (name === "" || name === "." || name === "..") return (await client.stat(path)).kind;
  const entry = (await client.list(parent)).find((e) => e.name === name);
  if (entry === undefined) throw new FerryError("NOT_FOUND", `${printable(path)} does not exist`);
  return entry.kind;
}

async function rm(ctx: Context, client: FerryClient, paths: string[], flags: CommandFlags) {
  const targets: string[] = [];
  for (const p of paths) for (const m of await expandRemote(client, p)) targets.push(m.path);
  for (const target of targets) {
    if (!flags.recursive || (await lstatKind(client, target)) !== "dir") {
      await client.remove(target);
      continue;
    }
    if (/^(\.\/?)*$/.test(target.replace(/\/+$/, ""))) {
      throw usage("refusing to remove the server's root directory");
    }
    const tree = await walkRemote(client, target, (text) => ctx.notice(text));
    // Names it cannot name are said now; their directories then stay (NOT_EMPTY).
    for (const p of tree.problems) ctx.notice(`ferry: ${p.message}`);
    if (!flags.yes) {
      const question = `ferry: remove ${
        printable(target)
      } and everything in it (${tree.files.length} files, ${tree.dirs.length} directories)?`;
      if (!ctx.interactive) {
        throw usage(`rm -r ${printable(target)} needs --yes when standard input is not a terminal`);
      }
      if (!(await confirm(question))) throw new FerryError("CANCELLED", "nothing was removed");
    }
    const files = tree.files.map((f) => joinRemote(target, f.rel.join("/")));
    for (let i = 0; i < files.length; i += CONCURRENCY * 4) {
      await Promise.all(files.slice(i, i + CONCURRENCY * 4).map((f) => client.remove(f)));
    }
    // Deepest directories first.
    const dirs = tree.dirs.map((d) => d.rel).sort((a, b) => b.length - a.length);
    for (const d of dirs) await client.remove(joinRemote(target, d.join("/")));
    await client.remove(target);
  }
}

function summarize(
  verb: string,
  sources: string[],
  dest: string,
  report: TransferReport,
  recursive: boolean,
): string {
  const rate = report.seconds > 0 ? formatRate(report.bytes / report.seconds) : "";
  const secs = `${report.seconds.toFixed(2)} s`;
  const single = report.files.length + report.skipped.length === 1 && report.directories === 0 &&
    !recursive;
  if (single && report.files.length === 1) {
    const f = report.files[0];
    const from = verb === "get" ? f.remote : f.local;
    const to = verb === "get" ? f.local : f.remote;
    const resumed = f.resumed > 0 ? ` (resumed after ${formatSize(f.resumed)})` : "";
    return `${verb} ${printable(from)} -> ${printable(to)}: ${
      formatSize(f.bytes)
    }${resumed} in ${secs} ${rate}, ${f.algorithm} ${
      f.checksum ?? `checked in ${f.ranges} ranges`
    }`;
  }
  if (single) {
    const f = report.skipped[0];
    const from = verb === "get" ? f.remote : f.local;
    const to = verb === "get" ? f.local : f.remote;
    return `${verb} ${printable(from)} -> ${printable(to)}: skipped, ${
      f.reason === "complete" ? "already complete" : "unchanged"
    }`;
  }
  const what = sources.map(printable).join(" ");
  const dirs = report.directories > 0 ? `, ${report.directories} directories` : "";
  const skipped = report.skipped.length > 0 ? `, ${report.skipped.length} skipped` : "";
  return `${verb}${recursive ? " -r" : ""} ${what} -> ${
    printable(dest)
  }: ${report.files.length} files${dirs}${skipped}, ${formatSize(report.bytes)} in ${secs} ${rate}`;
}

/** Most connections `--streams` may ask for. */
const MAX_STREAMS = 32;

/** The value of `--streams` (1 when absent). */
function parseStreams(text: string | undefined): number {
  if (text === undefined) return 1;
  const n = /^\d{1,3}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= MAX_STREAMS)) {
    throw usage(`--streams takes a number of connections, 1..${MAX_STREAMS}`);
  }
  return n;
}

async function transfer(
  ctx: Context,
  verb: "get" | "put",
  args: string[],
  flags: CommandFlags,
): Promise<Outcome> {
  const sources = args.length === 1 ? args : args.slice(0, -1);
  const dest = args.length === 1 ? "." : args[args.length - 1];
  const transferFlags = {
    recursive: flags.recursive ?? false,
    preserve: flags.preserve ?? false,
    resume: flags.resume ?? false,
    // --checksum is a way of judging --update: alone it means both.
    update: (flags.update || flags.checksum) ?? false,
    checksum: flags.checksum ?? false,
    streams: parseStreams(flags.streams),
  };
  // With the data on standard output, what the command says goes to standard error.
  const dataOnStdout = verb === "get" && outputStream(dest) !== null;
  const display = ctx.progress({ dataOnStdout });
  let report: TransferReport;
  try {
    report = await transferFiles(
      verb,
      ctx.connection,
      sources,
      dest,
      transferFlags,
      display,
      args.length > 1,
    );
  } finally {
    display.close();
  }
  const say = dataOnStdout ? (text: string) => stderr(text) : (text: string) => ctx.print(text);
  if (ctx.json) say(toJson(report));
  else if (!ctx.quiet && report.files.length + report.skipped.length + report.directories > 0) {
    say(summarize(verb, sources, dest, report, transferFlags.recursive));
  }
  if (report.failed.length === 0) return SUCCEEDED;
  const first = report.failed[0];
  const total = report.failed.length + report.files.length + report.skipped.length;
  return {
    failed: report.failed,
    code: first.code,
    message: report.failed.length === 1 && total === 1
      ? first.message
      : `${report.failed.length} of ${total} files failed; the first: ${first.message}`,
  };
}

/**
 * Runs one command. A command that fails outright throws; a `get` or `put` that moved some files
 * but not others returns an outcome naming the failures.
 */
export async function runCommand(
  ctx: Context,
  command: string,
  args: string[],
  flags: CommandFlags,
): Promise<Outcome> {
  if (command === "get" || command === "put") return await transfer(ctx, command, args, flags);
  const { client } = await ctx.connection.current();
  switch (command) {
    case "ls":
      await ls(ctx, client, args[0] ?? ".", flags);
      break;
    case "stat":
      await stat(ctx, client, args[0]);
      break;
    case "mkdir":
      // `-p` is parsed as --preserve; for mkdir it means --parents.
      for (const dir of args) {
        await client.mkdir(dir, { parents: (flags.parents || flags.preserve) ?? false });
      }
      break;
    case "mv":
      await mv(client, args[0], args[1], flags);
      break;
    case "rm":
      await rm(ctx, client, args, flags);
      break;
    case "shutdown":
      await client.shutdown();
      if (!ctx.quiet && !ctx.json) ctx.notice("server is shutting down");
      break;
    default:
      throw usage(`unknown command ${JSON.stringify(command)}`);
  }
  return SUCCEEDED;
}
