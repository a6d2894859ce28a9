/**
 * `ferry completions bash|zsh|fish`: shell completion scripts for the commands and options,
 * generated from the same tables the command line is parsed with, so they cannot drift. Remote
 * paths are not completed (that would need a connection); local ones complete as files.
 *
 * @module
 */

import { COMMAND_OPTIONS, COMMANDS } from "./commands.ts";
import { GLOBAL_OPTIONS } from "./args.ts";
import { usage } from "./usage.ts";

/** What each option does, in a few words, by its long name. */
export const OPTION_HELP: Readonly<Record<string, string>> = {
  host: "server host (HOST or HOST:PORT)",
  port: "server port",
  profile: "connection profile from profiles.json",
  certs: "directory with ca.pem and token",
  ca: "CA certificate to trust",
  token: "access token (shows in ps; prefer --token-file)",
  "token-file": "file holding the access token",
  trust: "trust a server by its certificate fingerprint",
  "limit-rate": "bandwidth limit, bytes per second (500K, 10M)",
  "checksum-choice": "transfer checksum: auto, xxh128 or sha256",
  batch: "run the commands in FILE",
  help: "show the help",
  version: "show the version",
  recursive: "whole directory trees",
  preserve: "keep modification times",
  parents: "create missing parents",
  resume: "continue an interrupted transfer",
  force: "replace an existing file",
  yes: "do not ask",
  long: "kind, size and modification time",
  "human-readable": "sizes as 1.5 KiB",
  unsorted: "in the server's order, as it arrives",
  update: "skip files the destination has unchanged",
  checksum: "compare checksums, not times",
  streams: "connections per large file of a get",
  json: "print one JSON document",
  quiet: "no progress, summaries or notices",
};

/** Options that take a file name as their value. */
const FILE_VALUED = new Set(["certs", "ca", "token-file", "batch"]);

/** The commands, with `completions` itself. */
function commands(): [string, string][] {
  return [
    ...Object.entries(COMMANDS).map(([name, spec]): [string, string] => [name, spec.summary]),
    ["completions", "print a shell completion script"],
  ];
}

type Option = { type: string; short?: string };

/** Every global option as `[long, short | undefined, takes a value]`. */
function globals(): [string, string | undefined, boolean][] {
  return Object.entries(GLOBAL_OPTIONS as Record<string, Option>).map((
    [name, o],
  ) => [name, o.short, o.type === "string"]);
}

/** The options of `command` as written (`-l`, `--long`), with `--json` and `-q`. */
function commandWords(command: string): string[] {
  return [...COMMANDS[command].options, "--json", "-q", "--quiet"];
}

/** The long name an option word of `command` stands for. */
function longName(command: string, word: string): string {
  if (word.startsWith("--")) return word.slice(2);
  if (command === "mkdir" && word === "-p") return "parents";
  if (command === "ls" && word === "-h") return "human-readable";
  const entry = Object.entries(COMMAND_OPTIONS as Record<string, Option>)
    .find(([, o]) => o.short === word.slice(1));
  return entry?.[0] ?? word;
}

function quoteSingle(text: string): string {
  return text.replaceAll("'", `'\\''`);
}

function bash(): string {
  const valued = globals().filter(([, , v]) => v).flatMap((
    [long, short],
  ) => [`--${long}`, ...short ? [`-${short}`] : []]);
  const fileValued = globals().filter(([long]) => FILE_VALUED.has(long)).flatMap((
    [long, short],
  ) => [`--${long}`, ...short ? [`-${short}`] : []]);
  const otherValued = valued.filter((w) => !fileValued.includes(w));
  const globalWords = globals().flatMap((
    [long, short],
  ) => [`--${long}`, ...short ? [`-${short}`] : []]);
  const cases = Object.keys(COMMANDS).map((c) =>
    `      ${c}) opts='${commandWords(c).join(" ")}' ;;`
  ).join("\n");
  return `# bash completion for ferry: source it, or save it as
# /etc/bash_completion.d/ferry (ferry completions bash > ...)
_ferry() {
  local cur prev cmd i w opts
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  case "$prev" in
    ${fileValued.join("|")})
      COMPREPLY=($(compgen -f -- "$cur"))
      return ;;
    ${otherValued.join("|")})
      COMPREPLY=()
      return ;;
  esac
  cmd=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in
      ${valued.join("|")}) i=$((i + 1)) ;;
      -*) ;;
      *) cmd="$w"; break ;;
    esac
  done
  if [[ -z "$cmd" ]]; then
    if [[ "$cur" == -* ]]; then
      COMPREPLY=($(compgen -W '${globalWords.join(" ")}' -- "$cur"))
    else
      COMPREPLY=($(compgen -W '${commands().map(([c]) => c).join(" ")}' -- "$cur"))
    fi
    return
  fi
  case "$cmd" in
${cases}
      completions)
        COMPREPLY=($(compgen -W 'bash zsh fish' -- "$cur"))
        return ;;
      *) opts='' ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -o filenames -F _ferry ferry
`;
}

function zsh(): string {
  const globalSpecs = globals().map(([long, short, valued]) => {
    const help = quoteSingle(OPTION_HELP[long] ?? long);
    const value = valued ? (FILE_VALUED.has(long) ? `:${long}:_files` : `:${long}:`) : "";
    return short === undefined
      ? `    '--${long}[${help}]${value}'`
      : `    '(-${short} --${long})'{-${short},--${long}}'[${help}]${value}'`;
  }).join(" \\\n");
  const commandList = commands().map(([c, d]) => `    '${c}:${quoteSingle(d)}'`).join("\n");
  const cases = Object.keys(COMMANDS).map((c) => {
    const specs = commandWords(c).map((w) =>
      `'${w}[${quoteSingle(OPTION_HELP[longName(c, w)] ?? w)}]'`
    ).join(" ");
    return `        ${c}) _arguments ${specs} '*:file:_files' ;;`;
  }).join("\n");
  return `#compdef ferry
# zsh completion for ferry: save it as _ferry in a directory of $fpath, or source it
_ferry() {
  local curcontext="$curcontext" state line
  local -a commands
  commands=(
${commandList}
  )
  _arguments -C \\
${globalSpecs} \\
    '1: :->command' \\
    '*:: :->args'
  case $state in
    command) _describe 'command' commands ;;
    args)
      case $words[1] in
${cases}
        completions) _values 'shell' bash zsh fish ;;
      esac ;;
  esac
}
if [[ "\${funcstack[1]}" == "_ferry" ]]; then
  _ferry "$@"
else
  compdef _ferry ferry
fi
`;
}

function fish(): string {
  const lines = [
    "# fish completion for ferry: save it as ~/.config/fish/completions/ferry.fish",
    "complete -c ferry -f",
  ];
  for (const [c, d] of commands()) {
    lines.push(`complete -c ferry -n __fish_use_subcommand -a ${c} -d '${quoteSingle(d)}'`);
  }
  for (const [long, short, valued] of globals()) {
    const help = quoteSingle(OPTION_HELP[long] ?? long);
    const value = valued ? (FILE_VALUED.has(long) ? " -r -F" : " -r") : "";
    lines.push(
      `complete -c ferry${
        short === undefined ? "" : ` -s ${short}`
      } -l ${long}${value} -d '${help}'`,
    );
  }
  for (const c of Object.keys(COMMANDS)) {
    const when = `-n '__fish_seen_subcommand_from ${c}'`;
    for (const w of commandWords(c)) {
      const flag = w.startsWith("--") ? `-l ${w.slice(2)}` : `-s ${w.slice(1)}`;
      const help = quoteSingle(OPTION_HELP[longName(c, w)] ?? w);
      lines.push(`complete -c ferry ${when} ${flag} -d '${help}'`);
    }
    if (c === "get" || c === "put") lines.push(`complete -c ferry ${when} -F`);
  }
  lines.push(`complete -c ferry -n '__fish_seen_subcommand_from completions' -a 'bash zsh fish'`);
  return lines.join("\n") + "\n";
}

/** The completion script for `shell` (`bash`, `zsh` or `fish`). */
export function completionScript(shell: string): string {
  switch (shell) {
    case "bash":
      return bash();
    case "zsh":
      return zsh();
    case "fish":
      return fish();
    default:
      throw usage(`completions for ${JSON.stringify(shell)}: bash, zsh or fish`);
  }
}
