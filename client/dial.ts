/**
 * Opening the TCP connection under TLS, with Nagle's algorithm off, and the one-line errors a
 * failed connection becomes: a refused port, a host name that does not resolve, a server that
 * does not answer, and a server that does not speak TLS at all.
 *
 * @module
 */

import { FerryError, messageOf } from "../protocol/errors.ts";
import { withDeadline } from "./requests.ts";

/** Why no connection could be made; {@linkcode UnreachableError.reason}. */
export type UnreachableReason =
  | "refused"
  | "unknown-host"
  | "no-answer"
  | "not-tls"
  | "hung-up"
  | "other";

/**
 * An `UNREACHABLE` failure to connect, with its reason as data, so a caller can say what to
 * check (the CLI names its `--port` and `--host` flags).
 */
export class UnreachableError extends FerryError {
  /** Why the connection failed. */
  readonly reason: UnreachableReason;

  /** Creates an `UNREACHABLE` error for `reason`. */
  constructor(reason: UnreachableReason, message: string, options?: ErrorOptions) {
    super("UNREACHABLE", message, options);
    this.name = "UnreachableError";
    this.reason = reason;
  }
}

/** `host:port` as error messages show it (IPv6 addresses in brackets). */
export function hostPort(hostname: string, port: number): string {
  return hostname.includes(":") && !hostname.startsWith("[")
    ? `[${hostname}]:${port}`
    : `${hostname}:${port}`;
}

/**
 * Opens TCP to `hostname:port` with Nagle's algorithm off, within `timeoutMs`.
 *
 * @throws {FerryError} `UNREACHABLE`, saying why: refused, unknown host, no answer, other.
 */
export async function dialTcp(
  hostname: string,
  port: number,
  timeoutMs: number,
): Promise<Deno.TcpConn> {
  const where = hostPort(hostname, port);
  let pending: Promise<Deno.TcpConn> | undefined;
  try {
    pending = Deno.connect({ hostname, port });
    const tcp = await withDeadline(pending, timeoutMs, () => {});
    tcp.setNoDelay(true);
    return tcp;
  } catch (err) {
    // A connection that completes after the deadline is closed at once.
    pending?.then((late) => late.close(), () => {});
    throw dialError(where, err, timeoutMs);
  }
}

/** The `UNREACHABLE` error a failed TCP connect to `where` becomes. */
function dialError(where: string, err: unknown, timeoutMs: number): UnreachableError {
  const message = messageOf(err);
  if (err instanceof FerryError) {
    return new UnreachableError(
      "no-answer",
      `no answer from ${where} within ${timeoutMs / 1000} s (a firewall, or the wrong host?)`,
      { cause: err },
    );
  }
  if (err instanceof Deno.errors.ConnectionRefused) {
    return new UnreachableError("refused", `no ferry server at ${where} (connection refused)`, {
      cause: err,
    });
  }
  if (
    /lookup address|Name or service not known|nodename nor servname|No such host/i.test(message)
  ) {
    return new UnreachableError("unknown-host", `cannot find the host of ${where}: ${message}`, {
      cause: err,
    });
  }
  return new UnreachableError("other", `cannot connect to ${where}: ${message}`, { cause: err });
}

/**
 * What a failed TLS handshake means when the certificate is not the reason: a peer that does not
 * speak TLS (an HTTP or SSH server on that port) or that hung up. `null` for other failures.
 */
export function handshakeFailure(where: string, message: string): UnreachableError | null {
  if (
    /corrupt message|InvalidContentType|InvalidMessage|wrong version number|packet length/i.test(
      message,
    )
  ) {
    return new UnreachableError(
      "not-tls",
      `${where} is not a ferry server: it does not speak TLS (${message})`,
    );
  }
  if (
    /close_notify|UnexpectedEof|unexpected eof|unexpected end of file|socket hang up|ECONNRESET|reset by peer/i
      .test(message)
  ) {
    return new UnreachableError(
      "hung-up",
      `${where} closed the connection during the TLS handshake (a server at its connection ` +
        `limit, or not a ferry server)`,
    );
  }
  return null;
}
