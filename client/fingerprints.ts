/**
 * Certificate fingerprints, as users give them and as a server's certificate shows them, for
 * servers trusted by fingerprint ("trust on first use"; the connections are `pinned_tls.ts`).
 *
 * @module
 */

import { FerryError } from "../protocol/errors.ts";

/** The certificate a server presented, as shown to the user before it is trusted. */
export interface ServerCertificate {
  /** The host name or address connected to. */
  hostname: string;
  /** The port connected to. */
  port: number;
  /** SHA-256 of the certificate (DER), uppercase hex pairs joined by `:`. */
  fingerprint: string;
  /** The certificate's subject, e.g. `CN=localhost`. */
  subject: string;
  /** The certificate's issuer, e.g. `CN=ferry local CA host`. */
  issuer: string;
  /** Start of validity, as the certificate states it. */
  validFrom: string;
  /** End of validity, as the certificate states it. */
  validTo: string;
  /**
   * The names the certificate is valid for: its subject alternative names (DNS names and IP
   * addresses), else its common name.
   */
  names: string[];
  /** Why no trusted CA vouches for it (the TLS library's verification error). */
  reason: string;
}

/**
 * Normalises a SHA-256 fingerprint given by a user: any case, with or without `:` separators
 * and an optional `SHA256:` prefix, to uppercase hex pairs joined by `:`.
 *
 * @throws {FerryError} `USAGE` if it is not 32 bytes of hex.
 */
export function normalizeFingerprint(text: string): string {
  const hex = text.trim().replace(/^sha-?256:?/i, "").replace(/[:\s]/g, "").toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) {
    throw new FerryError(
      "USAGE",
      `${
        JSON.stringify(text)
      } is not a SHA-256 fingerprint (64 hex digits, optionally in pairs joined by ":")`,
    );
  }
  return hex.match(/../g)!.join(":");
}
