/**
 * A certificate made for other names than the one connected to: the error that says so, with
 * the names the certificate has (read over a fingerprint connection closed at once) and how to
 * add one.
 *
 * @module
 */

import { FerryError } from "../protocol/errors.ts";
import { hostPort } from "./dial.ts";

/**
 * A `TLS` failure: the server's certificate is signed by a trusted CA but made for other names
 * than the one connected to (`names` lists those it has).
 */
export class CertificateNameError extends FerryError {
  /** The name connected to. */
  readonly hostname: string;
  /** The names the certificate is valid for (empty when they could not be read). */
  readonly names: readonly string[];

  /** Creates the error for a connection to `hostname:port`. */
  constructor(hostname: string, port: number, names: readonly string[]) {
    const has = names.length > 0
      ? `it is only valid for ${names.join(", ")}`
      : "it is for other names";
    super(
      "TLS",
      `the certificate of ${hostPort(hostname, port)} is not valid for the name ${hostname} ` +
        `(${has}); connect with one of its names, restart the server with --name ${hostname}, ` +
        `or regenerate it with \`ferry-server certs --name ${hostname}\``,
    );
    this.name = "CertificateNameError";
    this.hostname = hostname;
    this.names = names;
  }
}

/** True when a verification error says the certificate is for other names (its chain was fine). */
export function isNameMismatch(reason: string): boolean {
  return /NotValidForName|not valid for name/i.test(reason);
}

/**
 * The `TLS` error for a certificate a trusted CA signed for other names than `hostname`: the
 * names it has (read from the certificate over a connection closed at once) and how to add one.
 */
export async function nameMismatch(
  hostname: string,
  port: number,
  timeoutMs: number,
  reason: string,
): Promise<CertificateNameError> {
  let names: string[] = [];
  try {
    const { connectPinned } = await import("./pinned_tls.ts"); // node:tls, only when needed
    const { conn, certificate } = await connectPinned(hostname, port, timeoutMs, reason);
    conn.close();
    names = certificate.names;
  } catch {
    // The names stay unknown; the error still says what is wrong.
  }
  return new CertificateNameError(hostname, port, names);
}
