/**
 * The errors `ferry-server` can stop with at start-up, each said in one line: what went wrong
 * and what to do next (a flag to fix, a file to check, a command to run).
 *
 * @module
 */

import { FerryError, messageOf } from "../protocol/errors.ts";

/**
 * The one-line `USAGE` error for a failure of `node:util`'s `parseArgs` (an unknown option, a
 * missing value), or `err` unchanged when it is something else.
 */
export function argumentError(err: unknown): unknown {
  const code = (err as { code?: unknown })?.code;
  const message = messageOf(err);
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    const option = /'([^']+)'/.exec(message)?.[1] ?? "";
    return new FerryError("USAGE", `unknown option ${option}; see ferry-server --help`);
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    const option = /'(-[^ ']+)/.exec(message)?.[1] ?? "an option";
    return new FerryError(
      "USAGE",
      `${option} needs a value (${option} VALUE); see ferry-server --help`,
    );
  }
  if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
    return new FerryError("USAGE", `${message}; see ferry-server --help`);
  }
  return err;
}

/**
 * Reads a file named on the command line (`what` is how to name it: `--cert`, `--config`...).
 *
 * @throws {FerryError} `USAGE` when it does not exist or cannot be read, in one line with the
 * path and what to check. Deno permission errors pass unchanged (they name the flag to add).
 */
export async function readNamedFile(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new FerryError("USAGE", `${what} ${path}: no such file; check the path`);
    }
    if (err instanceof Deno.errors.PermissionDenied) {
      throw new FerryError(
        "USAGE",
        `${what} ${path}: permission denied; let the user running ferry-server read it`,
      );
    }
    if (err instanceof Deno.errors.IsADirectory) {
      throw new FerryError("USAGE", `${what} ${path} is a directory; name the file itself`);
    }
    throw err;
  }
}

/** Where the certificate and key the server listens with came from, for error messages. */
export interface TlsSource {
  /** How to name the certificate (`--cert my.pem`, `certs/server.pem`). */
  cert: string;
  /** How to name the key. */
  key: string;
  /** True when they are the user's own (`--cert`/`--key`), false when ferry made them. */
  own: boolean;
}

/**
 * The one-line error for a failure to start listening on `hostname:port` with the certificate
 * and key of `tls`, or `err` unchanged when it is not one of those known.
 */
export function listenError(
  err: unknown,
  hostname: string,
  port: number,
  tls: TlsSource,
): unknown {
  const where = `cannot listen on ${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
  const message = messageOf(err);
  const remake = tls.own
    ? "pass the certificate chain with --cert and its own key with --key"
    : "make a new pair with `ferry-server certs --force` (clients then need the new ca.pem)";
  if (err instanceof Deno.errors.AddrInUse) {
    return new FerryError(
      "USAGE",
      `${where}: the port is already in use (another ferry-server?); stop that program, or ` +
        "choose another port with --port",
    );
  }
  if (err instanceof Deno.errors.AddrNotAvailable) {
    return new FerryError(
      "USAGE",
      `${where}: no network interface of this machine has the address ${hostname}; give one ` +
        "of its addresses with --host, or 0.0.0.0 (all IPv4) or :: (all)",
    );
  }
  if (err instanceof Deno.errors.PermissionDenied) {
    return new FerryError(
      "USAGE",
      port < 1024
        ? `${where}: ports below 1024 need privileges; choose --port 1024 or above (4433 is ` +
          "the default), or grant CAP_NET_BIND_SERVICE (see deploy/ferry-server.service)"
        : `${where}: ${message}; choose another --port or --host`,
    );
  }
  if (/KeyMismatch|keys may not be consistent/i.test(message)) {
    return new FerryError(
      "TLS",
      `${where}: the key ${tls.key} is not the private key of the certificate ${tls.cert}; ${remake}`,
    );
  }
  if (/No certificates found/i.test(message)) {
    return new FerryError(
      "TLS",
      `${where}: ${tls.cert} holds no PEM certificate; ${remake}`,
    );
  }
  if (/No keys found|failed to parse private key/i.test(message)) {
    return new FerryError(
      "TLS",
      `${where}: ${tls.key} holds no usable private key (PEM: PKCS#8, RSA or EC); ${remake}`,
    );
  }
  return err;
}

/**
 * `err` with a next step added when it is an operating-system refusal to read or write a file
 * (the certs directory holds keys of mode 0600, so another user cannot read them); other errors
 * are returned unchanged.
 */
export function fileAccessError(err: unknown): unknown {
  if (err instanceof Deno.errors.PermissionDenied) {
    return new FerryError(
      "LOCAL_IO",
      `${messageOf(err)}; run ferry-server as the user that owns its files (keys are mode ` +
        "0600), or give that user access",
    );
  }
  return err;
}
