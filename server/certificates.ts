/**
 * TLS material for the server: a local certificate authority and a server certificate it signs,
 * made with WebCrypto (ECDSA P-256, SHA-256), kept as PEM files in a certs directory. What a
 * certificate covers is read in `certificate_names.ts`.
 *
 * The CA and the server certificate are separate on purpose: rustls (under `Deno.listenTls`)
 * refuses a CA certificate used as the server's own certificate. The npm library that makes
 * certificates (`@peculiar/x509`) is loaded only when one is made, so a server that starts with
 * the certificates it has loads no npm package.
 *
 * @module
 */

import type * as X509 from "@peculiar/x509";
import { writeFileAtomic } from "../common/atomic_file.ts";
import { isIssuedBy } from "./certificate_names.ts";

/** PEM material for a CA and a server certificate it signed. */
export interface CertificateSet {
  /** The CA certificate (PEM `CERTIFICATE`); clients trust it. Empty when not known. */
  caCert: string;
  /** The CA private key (PKCS#8 PEM `PRIVATE KEY`). Empty for a certificate brought by the user. */
  caKey: string;
  /** The server certificate (PEM `CERTIFICATE`). */
  cert: string;
  /** The server private key (PKCS#8 PEM `PRIVATE KEY`). */
  key: string;
}

/** Names the default server certificate covers. */
export const DEFAULT_NAMES: readonly string[] = ["localhost", "127.0.0.1", "::1"];

/** File names inside a certs directory. */
export const CERT_FILES = {
  caCert: "ca.pem",
  caKey: "ca-key.pem",
  cert: "server.pem",
  key: "server-key.pem",
} as const;

const KEY_ALGORITHM: EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const SIGNING_ALGORITHM: EcdsaParams = { name: "ECDSA", hash: "SHA-256" };
const DAY_MS = 24 * 60 * 60 * 1000;
const CA_DAYS = 3650;
const LEAF_DAYS = 825;
const BACKDATE_MS = 60 * 1000;

/**
 * Makes a new P-256 CA and a server certificate it signs for `names`.
 *
 * The CA: CN "ferry local CA <hostname or random>", basicConstraints CA:true (path length 0,
 * critical), keyUsage keyCertSign|cRLSign, valid 10 years. The server certificate: subject CN
 * the first name, subjectAltName with each name as an IP address when it looks like one (IPv4
 * dotted quad, or IPv6 with `:`, optionally in brackets) and as a DNS name otherwise,
 * basicConstraints CA:false, keyUsage digitalSignature, extKeyUsage serverAuth, valid 825 days.
 * Both have random positive 128-bit serials and a notBefore one minute in the past.
 *
 * @param names Host names and IP addresses to cover; {@linkcode DEFAULT_NAMES} when omitted.
 * @returns The PEM strings; keys are PKCS#8.
 * @throws {TypeError} If `names` is empty or holds a name that is neither an IP nor a host name.
 */
export async function generateCertificates(
  names: readonly string[] = DEFAULT_NAMES,
): Promise<CertificateSet> {
  if (names.length === 0) throw new TypeError("at least one name is needed");
  const altNames = names.map(toGeneralName);
  const x509 = await loadX509();

  const notBefore = new Date(Date.now() - BACKDATE_MS);
  const caKeys = await generateKeyPair();
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [`ferry local CA ${caSuffix()}`] }],
    notBefore,
    notAfter: new Date(notBefore.getTime() + CA_DAYS * DAY_MS),
    keys: caKeys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const leaf = await makeLeaf(x509, caCert, caKeys.privateKey, altNames, notBefore);
  return {
    caCert: certificatePem(caCert),
    caKey: await privateKeyPem(x509, caKeys.privateKey),
    ...leaf,
  };
}

/**
 * Makes a new server certificate for `names`, signed by an existing CA (one that
 * {@linkcode generateCertificates} made: its key is P-256), with the same fields as a
 * generated one. Clients that trust the CA trust the new certificate too; its fingerprint is new.
 *
 * @param ca The CA certificate and its PKCS#8 private key, PEM.
 * @param names Host names and IP addresses to cover.
 * @returns The set: the CA as given, the new certificate and its new key.
 * @throws {TypeError} If `names` is empty or invalid, or the CA key is not a P-256 PKCS#8 key
 * that signs for the CA certificate.
 */
export async function reissueServerCertificate(
  ca: { caCert: string; caKey: string },
  names: readonly string[],
): Promise<CertificateSet> {
  if (names.length === 0) throw new TypeError("at least one name is needed");
  const altNames = names.map(toGeneralName);
  const x509 = await loadX509();
  const caCert = new x509.X509Certificate(ca.caCert);
  let caPrivateKey: CryptoKey;
  try {
    caPrivateKey = await crypto.subtle.importKey(
      "pkcs8",
      x509.PemConverter.decodeFirst(ca.caKey),
      KEY_ALGORITHM,
      false,
      ["sign"],
    );
  } catch {
    throw new TypeError("the CA key is not a P-256 private key (PKCS#8 PEM)");
  }
  const notBefore = new Date(Date.now() - BACKDATE_MS);
  const leaf = await makeLeaf(x509, caCert, caPrivateKey, altNames, notBefore);
  if (!isIssuedBy(leaf.cert, ca.caCert)) {
    throw new TypeError("the CA key does not belong to the CA certificate");
  }
  return { caCert: ca.caCert, caKey: ca.caKey, ...leaf };
}

/** A server certificate for `altNames` signed by `caCert`'s key, and its own new key. */
async function makeLeaf(
  x509: typeof X509,
  caCert: X509.X509Certificate,
  caPrivateKey: CryptoKey,
  altNames: { type: "dns" | "ip"; value: string }[],
  notBefore: Date,
): Promise<{ cert: string; key: string }> {
  const leafKeys = await generateKeyPair();
  const leafCert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [altNames[0].value] }],
    issuer: caCert.subjectName,
    notBefore,
    notAfter: new Date(notBefore.getTime() + LEAF_DAYS * DAY_MS),
    publicKey: leafKeys.publicKey,
    signingKey: caPrivateKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(altNames),
      await x509.SubjectKeyIdentifierExtension.create(leafKeys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  return {
    cert: certificatePem(leafCert),
    key: await privateKeyPem(x509, leafKeys.privateKey),
  };
}

/** The certificate library, loaded on first use (it needs the Reflect metadata polyfill first). */
async function loadX509(): Promise<typeof X509> {
  // @peculiar/x509 2.x loads tsyringe, which throws at import time unless a Reflect metadata
  // polyfill is already installed.
  await import("reflect-metadata");
  const x509 = await import("@peculiar/x509");
  x509.cryptoProvider.set(crypto);
  return x509;
}

/**
 * Writes the set into `dir`, creating it if missing: certificates with mode 0644, keys with
 * mode 0600. Each file is written atomically (`writeFileAtomic` of `common/atomic_file.ts`:
 * a temporary file beside it, synced, given its mode, renamed over the old one, the directory
 * synced), so a crash never leaves a half-written file under the real name.
 * Empty members of the set (such as `caKey` of a user's own certificate) are not written.
 * The server certificate is written last, so its presence means the others are in place.
 *
 * @param dir The certs directory.
 * @param set The material to write.
 */
export async function writeCertificates(dir: string, set: CertificateSet): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const order: [keyof CertificateSet, number][] = [
    ["caKey", 0o600],
    ["caCert", 0o644],
    ["key", 0o600],
    ["cert", 0o644],
  ];
  for (const [member, mode] of order) {
    if (set[member] !== "") {
      await writeFileAtomic(join(dir, CERT_FILES[member]), set[member], { mode });
    }
  }
}

/**
 * Loads the certificate set from `dir`, or generates and writes a new one when `server.pem` or
 * `server-key.pem` is missing (or `force` is true).
 *
 * A server certificate and key found without the CA files are taken as the user's own
 * certificate: they are loaded as they are, with `caCert` and/or `caKey` left empty, and never
 * overwritten unless `force` is true.
 *
 * @param dir The certs directory.
 * @param options `force`: always make and write a new set. `names`: the names a new server
 * certificate covers ({@linkcode DEFAULT_NAMES} when omitted); unused when loading.
 * @returns The set, and whether it was created by this call.
 * @throws {Error} If a file found does not hold the PEM block expected.
 */
export async function ensureCertificates(
  dir: string,
  options: { force?: boolean; names?: readonly string[] } = {},
): Promise<{ set: CertificateSet; created: boolean }> {
  if (!options.force) {
    const cert = await readIfExists(join(dir, CERT_FILES.cert));
    const key = await readIfExists(join(dir, CERT_FILES.key));
    if (cert !== null && key !== null) {
      const set: CertificateSet = {
        caCert: await readIfExists(join(dir, CERT_FILES.caCert)) ?? "",
        caKey: await readIfExists(join(dir, CERT_FILES.caKey)) ?? "",
        cert,
        key,
      };
      checkPem(set.cert, /-----BEGIN CERTIFICATE-----/, join(dir, CERT_FILES.cert));
      checkPem(set.key, /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/, join(dir, CERT_FILES.key));
      if (set.caCert !== "") {
        checkPem(set.caCert, /-----BEGIN CERTIFICATE-----/, join(dir, CERT_FILES.caCert));
      }
      return { set, created: false };
    }
  }
  const set = await generateCertificates(options.names);
  await writeCertificates(dir, set);
  return { set, created: true };
}

/**
 * SHA-256 fingerprint of the first certificate in a PEM string, as uppercase hex pairs joined
 * by `:` (like `openssl x509 -fingerprint -sha256`).
 *
 * @param pem Text holding at least one `CERTIFICATE` PEM block.
 * @returns For example `"AB:01:…"` (95 characters).
 * @throws {TypeError} If `pem` holds no certificate block or its base64 is invalid.
 */
export async function fingerprint(pem: string): Promise<string> {
  const match = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]*)-----END CERTIFICATE-----/.exec(
    pem,
  );
  if (match === null) throw new TypeError("no PEM certificate found");
  let binary: string;
  try {
    binary = atob(match[1].replace(/\s+/g, ""));
  } catch {
    throw new TypeError("invalid base64 in PEM certificate");
  }
  const der = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  return digest.toHex().toUpperCase().replace(/(..)(?!$)/g, "$1:");
}

function generateKeyPair(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"]);
}

/** 16 random bytes as hex, first byte 0x01..0x7f: positive and minimally DER-encoded. */
function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] & 0x7f) || 0x01;
  return bytes.toHex();
}

/** The host name if reading it is already allowed (never prompts), else random hex. */
function caSuffix(): string {
  try {
    if (Deno.permissions.querySync({ name: "sys", kind: "hostname" }).state === "granted") {
      const host = Deno.hostname().trim();
      if (host !== "") return host;
    }
  } catch {
    // Fall through to a random suffix.
  }
  return crypto.getRandomValues(new Uint8Array(4)).toHex();
}

const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const IPV6 = /^[0-9A-Fa-f:]+$/;
const DNS_NAME =
  /^(?:\*\.)?[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/;

/**
 * Checks that `name` can go in a certificate: an IPv4 or IPv6 address (IPv6 optionally in
 * brackets), or a DNS host name (a leading `*.` allowed).
 *
 * @throws {TypeError} If it is neither.
 */
export function validateName(name: string): void {
  toGeneralName(name);
}

function toGeneralName(name: string): { type: "dns" | "ip"; value: string } {
  const bare = name.startsWith("[") && name.endsWith("]") ? name.slice(1, -1) : name;
  if (IPV4.test(bare)) return { type: "ip", value: bare };
  if (bare.includes(":")) {
    const groups = bare.split(":");
    const compressed = bare.split("::").length - 1;
    if (
      IPV6.test(bare) && compressed <= 1 && groups.every((g) => g.length <= 4) &&
      (compressed === 1 ? groups.length <= 9 : groups.length === 8)
    ) {
      return { type: "ip", value: bare };
    }
    throw new TypeError(`not a valid IPv6 address: ${JSON.stringify(name)}`);
  }
  if (name.length > 253 || !DNS_NAME.test(name)) {
    throw new TypeError(`not a valid host name: ${JSON.stringify(name)}`);
  }
  return { type: "dns", value: name };
}

function certificatePem(cert: X509.X509Certificate): string {
  return cert.toString("pem") + "\n";
}

async function privateKeyPem(x509: typeof X509, key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, x509.PemConverter.PrivateKeyTag) + "\n";
}

function join(dir: string, name: string): string {
  return dir.endsWith("/") || dir.endsWith("\\") ? dir + name : `${dir}/${name}`;
}

async function readIfExists(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

function checkPem(text: string, begin: RegExp, path: string): void {
  if (!begin.test(text)) throw new Error(`${path} does not hold the PEM block expected`);
}
