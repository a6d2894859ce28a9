/**
 * What a certificate covers, read with `node:crypto` (no npm package): its names, whether it
 * covers a given host name or address, and whether a CA signed it.
 *
 * @module
 */

import { X509Certificate as NodeCertificate } from "node:crypto";

const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const IPV6 = /^[0-9A-Fa-f:.]+$/;

/**
 * The names a certificate is valid for: its subjectAltName entries (DNS names and IP
 * addresses, in order), or its subject CN when it has none.
 *
 * @param pem Text whose first `CERTIFICATE` block is the certificate.
 * @throws {TypeError} If `pem` holds no certificate `node:crypto` can read.
 */
export function certificateNames(pem: string): string[] {
  const cert = readCertificate(pem);
  const names = (cert.subjectAltName ?? "").split(",").map((part) => part.trim())
    .filter((part) => /^(?:DNS|IP Address):/.test(part))
    .map((part) => part.replace(/^(?:DNS|IP Address):/, ""));
  if (names.length > 0) return [...new Set(names)];
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject);
  return cn === null ? [] : [cn[1]];
}

/**
 * Whether a certificate valid for `names` (as {@linkcode certificateNames} lists them) covers
 * `name`: DNS names compared without case and trailing dot (`*.example.org` covers one label
 * in its place), IP addresses compared as addresses (`0:0::1` is `::1`; `[::1]` is accepted).
 */
export function namesCover(names: readonly string[], name: string): boolean {
  const wanted = canonicalName(name);
  return names.some((have) => {
    const h = canonicalName(have);
    if (h === wanted) return true;
    return h.startsWith("*.") && !isIpLiteral(wanted) &&
      wanted.slice(wanted.indexOf(".") + 1) === h.slice(2) && wanted.indexOf(".") > 0;
  });
}

/** True when `certPem`'s issuer is `caPem`'s subject and its signature verifies with its key. */
export function isIssuedBy(certPem: string, caPem: string): boolean {
  try {
    const cert = readCertificate(certPem);
    const ca = readCertificate(caPem);
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}

/** A name as compared: an IP address in canonical form, a DNS name lowercased without its dot. */
function canonicalName(name: string): string {
  const bare = name.startsWith("[") && name.endsWith("]") ? name.slice(1, -1) : name;
  if (isIpLiteral(bare)) {
    try {
      const host = new URL(`http://${bare.includes(":") ? `[${bare}]` : bare}/`).hostname;
      return host.replace(/^\[|\]$/g, "");
    } catch {
      return bare.toLowerCase();
    }
  }
  return bare.toLowerCase().replace(/\.$/, "");
}

function isIpLiteral(name: string): boolean {
  return IPV4.test(name) || (name.includes(":") && IPV6.test(name));
}

function readCertificate(pem: string): NodeCertificate {
  const block = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]*-----END CERTIFICATE-----/.exec(pem);
  if (block === null) throw new TypeError("no PEM certificate found");
  try {
    return new NodeCertificate(block[0]);
  } catch {
    throw new TypeError("the PEM certificate cannot be read");
  }
}
