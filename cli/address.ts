/**
 * Where a command goes, written as scp and URLs write it: `HOST:PATH`, `USER@HOST:PATH`,
 * `[IPv6]:PATH` and `ferry://[USER@]HOST[:PORT]/PATH` in remote paths, and `HOST:PORT` in
 * `--host`. Remote paths cannot hold `:` (the server refuses it), so a `:` in a remote argument
 * always ends a host.
 *
 * @module
 */

import { usage } from "./usage.ts";
import { printable } from "./format.ts";

/** A server named on the command line; every part optional. */
export interface ServerRef {
  /** Host name or address (IPv6 without brackets). */
  host?: string;
  /** Port. */
  port?: number;
  /** The user written before `@`. */
  user?: string;
}

/** A remote argument: the path on the server, and the server when it names one. */
export interface RemoteArg extends ServerRef {
  /** The path on the server (`.` for its root). */
  path: string;
}

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9_-]+)*\.?$/;

function port(text: string, where: string): number {
  const n = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= 65535)) throw usage(`${printable(where)}: the port must be 1..65535`);
  return n;
}

/** `[user@]host` (host maybe `[IPv6]`), checked. */
function userHost(text: string, where: string): { host: string; user?: string } {
  const at = text.lastIndexOf("@");
  const user = at >= 0 ? text.slice(0, at) : undefined;
  let host = at >= 0 ? text.slice(at + 1) : text;
  if (user === "") throw usage(`${printable(where)}: nothing before @`);
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  else if (!HOST.test(host)) {
    throw usage(`${printable(where)}: ${JSON.stringify(host)} is not a host name or address`);
  }
  if (host === "") throw usage(`${printable(where)}: no host`);
  return user === undefined ? { host } : { host, user };
}

/** Parses `ferry://[user@]host[:port][/path]`. */
function parseUrl(arg: string): RemoteArg {
  const rest = arg.slice("ferry://".length);
  const slash = rest.indexOf("/");
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  let path = slash < 0 ? "" : rest.slice(slash + 1);
  try {
    path = decodeURIComponent(path);
  } catch {
    throw usage(`${printable(arg)}: a bad %-escape in the path`);
  }
  const m = authority.match(/^(.*?)(?::(\d+))?$/)!;
  let hostText = m[1];
  let portText = m[2];
  // [v6]:port, or a bare [v6]
  const v6 = authority.match(/^(.*\[[^\]]*\])(?::(\d+))?$/);
  if (v6 !== null) [hostText, portText] = [v6[1], v6[2]];
  const ref: RemoteArg = { ...userHost(hostText, arg), path: path === "" ? "." : path };
  if (portText !== undefined) ref.port = port(portText, arg);
  return ref;
}

/**
 * Splits a remote argument into server and path: `host:path`, `user@host:path`, `[::1]:path`,
 * `ferry://host:port/path`, or a plain path (returned as it is).
 */
export function parseRemote(arg: string): RemoteArg {
  if (/^ferry:\/\//i.test(arg)) return parseUrl(arg);
  let colon: number;
  if (/^(?:[^@/]*@)?\[/.test(arg)) {
    const close = arg.indexOf("]");
    if (close < 0 || arg[close + 1] !== ":") return { path: arg };
    colon = close + 1;
  } else {
    colon = arg.indexOf(":");
    // A "/" before the ":" makes it a path (as scp has it); the server then refuses the ":".
    if (colon < 0 || arg.slice(0, colon).includes("/")) return { path: arg };
  }
  const path = arg.slice(colon + 1);
  return { ...userHost(arg.slice(0, colon), arg), path: path === "" ? "." : path };
}

/** Parses the value of `--host`: `host`, `host:port`, `user@host`, `[IPv6]:port` or an IPv6 address. */
export function parseHostOption(value: string): ServerRef {
  const where = `--host ${value}`;
  const bracketed = value.match(/^(.*\[[^\]]*\])(?::(\d+))?$/);
  if (bracketed !== null) {
    const ref: ServerRef = userHost(bracketed[1], where);
    if (bracketed[2] !== undefined) ref.port = port(bracketed[2], where);
    return ref;
  }
  const at = value.lastIndexOf("@");
  const hostPart = value.slice(at + 1);
  const colons = hostPart.split(":").length - 1;
  if (colons > 1) return { ...userHost(`${value.slice(0, at + 1)}[${hostPart}]`, where) };
  if (colons === 1) {
    const i = value.lastIndexOf(":");
    return { ...userHost(value.slice(0, i), where), port: port(value.slice(i + 1), where) };
  }
  return userHost(value, where);
}

/** `host:port` for messages, IPv6 in brackets. */
function show(ref: ServerRef): string {
  const host = ref.host?.includes(":") ? `[${ref.host}]` : ref.host ?? "";
  return `${ref.user === undefined ? "" : `${ref.user}@`}${host}${
    ref.port === undefined ? "" : `:${ref.port}`
  }`;
}

/**
 * Merges the servers named by a command's arguments and options into one: a command talks to
 * one server, so two that differ are a usage error. Parts left out by one are taken from another.
 */
export function mergeServers(refs: ServerRef[]): ServerRef {
  const out: ServerRef = {};
  for (const ref of refs) {
    for (const key of ["host", "port", "user"] as const) {
      const value = ref[key];
      if (value === undefined) continue;
      const seen = out[key];
      const same = key === "host"
        ? String(seen).toLowerCase() === String(value).toLowerCase()
        : seen === value;
      if (seen !== undefined && !same) {
        throw usage(
          `one command talks to one server, but ${show(out)} and ${show(ref)} differ`,
        );
      }
      if (seen === undefined) (out as Record<string, unknown>)[key] = value;
    }
  }
  return out;
}

/** Which of a command's arguments are remote paths (the others are local). */
export function remoteArgIndexes(command: string, args: readonly string[]): number[] {
  const all = args.map((_, i) => i);
  switch (command) {
    case "get":
      return args.length === 1 ? [0] : all.slice(0, -1);
    case "put":
      return args.length === 1 ? [] : [args.length - 1];
    case "ls":
    case "stat":
    case "mkdir":
    case "rm":
    case "mv":
      return all;
    default:
      return [];
  }
}

/**
 * A command's arguments with the servers taken out of its remote paths, and the one server they
 * name (empty when none does).
 */
export function splitServers(
  command: string,
  args: readonly string[],
): { args: string[]; server: ServerRef } {
  const out = [...args];
  const refs: ServerRef[] = [];
  for (const i of remoteArgIndexes(command, args)) {
    const { path, ...ref } = parseRemote(args[i]);
    out[i] = path;
    refs.push(ref);
  }
  return { args: out, server: mergeServers(refs) };
}
