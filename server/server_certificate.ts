/**
 * Which certificate the server starts with, and which names it covers: the one in the certs
 * directory (made on first start for this machine's names), re-issued by the same local CA when
 * a name asked for with `--name` is missing, or the user's own (`--cert`/`--key`), never changed.
 *
 * @module
 */

import { FerryError, messageOf } from "../protocol/errors.ts";
import {
  CERT_FILES,
  type CertificateSet,
  DEFAULT_NAMES,
  ensureCertificates,
  reissueServerCertificate,
  validateName,
  writeCertificates,
} from "./certificates.ts";
import { certificateNames, isIssuedBy, namesCover } from "./certificate_names.ts";
import type { MachineNames } from "./host_names.ts";

/** What {@linkcode prepareCertificates} is asked for. */
export interface CertificateRequest {
  /** Names given with `--name`: a certificate that lacks one is re-issued (or refused). */
  requested: readonly string[];
  /** This machine's names and addresses (`machineNames()`). */
  machine: MachineNames;
  /**
   * Also re-issue when one of this machine's names is missing (the `certs` command does;
   * `serve` only reports them in {@linkcode PreparedCertificate.uncovered}).
   */
  coverMachine: boolean;
  /** Make a new CA and certificate whatever is there (`certs --force`). */
  force: boolean;
}

/** The certificate the server is to use, and what was done to get it. */
export interface PreparedCertificate {
  /** The certificate set (CA members empty when not in the directory). */
  set: CertificateSet;
  /** Made now (new CA), loaded as it was, or re-issued now by the CA that was there. */
  action: "created" | "loaded" | "reissued";
  /** The names the certificate covers. */
  names: string[];
  /** Names a re-issue added. */
  added: string[];
  /** This machine's names the certificate does not cover. */
  uncovered: string[];
}

/**
 * The names a new certificate covers: those asked for, this machine's host names, `localhost`,
 * `127.0.0.1`, `::1`, then this machine's addresses, each once.
 */
export function wantedNames(requested: readonly string[], machine: MachineNames): string[] {
  return unique([...requested, ...machine.hostNames, ...DEFAULT_NAMES, ...machine.addresses]);
}

/**
 * Loads the certificate of the certs directory `dir`, or makes one (and its CA) when there is
 * none or `force` is set. A certificate that lacks a name of `requested` (or, with
 * `coverMachine`, of this machine's) is re-issued for its old names and all those wanted, by
 * the CA beside it, when that CA signed it (it is then ferry's own): clients that trust
 * `ca.pem` keep trusting it; its fingerprint changes.
 *
 * @throws {FerryError} `USAGE` for a `--name` that is neither a host name nor an IP address;
 * `TLS` when a requested name is missing from a certificate ferry did not make (it is never
 * changed), or when the certificate cannot be read.
 */
export async function prepareCertificates(
  dir: string,
  request: CertificateRequest,
): Promise<PreparedCertificate> {
  checkNames(request.requested);
  const wanted = wantedNames(request.requested, request.machine);
  const machineList = [...request.machine.hostNames, ...request.machine.addresses];
  const { set, created } = await ensureCertificates(dir, { force: request.force, names: wanted });
  const names = readNames(set.cert, `${dir}/${CERT_FILES.cert}`);
  const result = (s: CertificateSet, action: PreparedCertificate["action"], n: string[]) => ({
    set: s,
    action,
    names: n,
    added: action === "reissued" ? n.filter((name) => !namesCover(names, name)) : [],
    uncovered: machineList.filter((name) => !namesCover(n, name)),
  });
  if (created) return result(set, "created", names);

  const missing = request.requested.filter((name) => !namesCover(names, name));
  const missingMachine = machineList.filter((name) => !namesCover(names, name));
  if (missing.length === 0 && (!request.coverMachine || missingMachine.length === 0)) {
    return result(set, "loaded", names);
  }
  const ours = set.caCert !== "" && set.caKey !== "" && isIssuedBy(set.cert, set.caCert);
  if (!ours) {
    if (missing.length === 0) return result(set, "loaded", names);
    throw new FerryError(
      "TLS",
      `${dir}/${CERT_FILES.cert} does not cover ${missing.join(", ")} (it covers ${
        names.join(", ")
      }) and ferry did not make it (no ${CERT_FILES.caKey} of the CA that signed it), so it is ` +
        `left as it is; add the name to that certificate yourself, or replace it and its CA ` +
        `with \`ferry-server certs --force --name ${missing[0]}\` (clients then need the new ` +
        `${CERT_FILES.caCert})`,
    );
  }
  const reissued = await reissueServerCertificate(set, unique([...names, ...wanted]));
  await writeCertificates(dir, { caCert: "", caKey: "", cert: reissued.cert, key: reissued.key });
  return result(reissued, "reissued", certificateNames(reissued.cert));
}

/**
 * Checks a certificate the user gave with `--cert` against the names asked for with `--name`;
 * the certificate itself is never changed.
 *
 * @returns The names it covers.
 * @throws {FerryError} `TLS` when a requested name is missing or the certificate cannot be
 * read; `USAGE` for a `--name` that is neither a host name nor an IP address.
 */
export function checkOwnCertificate(
  cert: string,
  path: string,
  requested: readonly string[],
): string[] {
  checkNames(requested);
  const names = readNames(cert, `--cert ${path}`);
  const missing = requested.filter((name) => !namesCover(names, name));
  if (missing.length > 0) {
    throw new FerryError(
      "TLS",
      `--cert ${path} does not cover ${missing.join(", ")} (it covers ${names.join(", ")}); ` +
        `add the name to that certificate, or leave out --name (ferry never changes a ` +
        `certificate you give it)`,
    );
  }
  return names;
}

function checkNames(requested: readonly string[]): void {
  for (const name of requested) {
    try {
      validateName(name);
    } catch {
      throw new FerryError(
        "USAGE",
        `--name ${JSON.stringify(name)} is neither a host name nor an IP address; ` +
          `give one name per --name, such as --name files.example.org or --name 192.0.2.10`,
      );
    }
  }
}

function readNames(cert: string, what: string): string[] {
  try {
    return certificateNames(cert);
  } catch (err) {
    throw new FerryError(
      "TLS",
      `${what} cannot be read as a certificate (${messageOf(err)}); ` +
        "give a PEM certificate, or make new ones with `ferry-server certs --force`",
    );
  }
}

/** `names` without repeats (compared as {@linkcode namesCover} compares them), in order. */
function unique(names: readonly string[]): string[] {
  const out: string[] = [];
  for (const name of names) if (!out.some((have) => namesCover([have], name))) out.push(name);
  return out;
}
