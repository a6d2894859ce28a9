/**
 * What `ferry-server` says about its certificate at start-up (and `ferry-server certs` after
 * making one): what was done, the names it covers, its fingerprint, and a note for each of this
 * machine's names it does not cover, with how to add it.
 *
 * @module
 */

import { join } from "node:path";
import { CERT_FILES } from "./certificates.ts";
import type { MachineNames } from "./host_names.ts";
import type { PreparedCertificate } from "./server_certificate.ts";

/** What the lines describe. */
export interface CertificateReport {
  /** The certs directory, or the `--cert` file for a certificate of the user's own. */
  source: string;
  /** True for `--cert`/`--key`. */
  own: boolean;
  /** What {@linkcode prepareCertificates} did (`loaded` for `--cert`). */
  action: PreparedCertificate["action"];
  /** Names the certificate covers. */
  names: readonly string[];
  /** Names a re-issue added. */
  added: readonly string[];
  /** This machine's names it does not cover. */
  uncovered: readonly string[];
  /** The certificate's SHA-256 fingerprint. */
  fingerprint: string;
  /** How this machine's names were found (for what could not be read). */
  machine: MachineNames;
}

/**
 * The lines about the certificate, in order: what was done (only when something was), its names,
 * its fingerprint, then a note for names of this machine it lacks or could not read.
 */
export function certificateLines(report: CertificateReport): string[] {
  const lines: string[] = [];
  const cert = report.own ? report.source : join(report.source, CERT_FILES.cert);
  const ca = join(report.source, CERT_FILES.caCert);
  if (report.action === "created") {
    lines.push(`created a local CA (${ca}) and a certificate signed by it (${cert})`);
  } else if (report.action === "reissued") {
    lines.push(
      `re-issued ${cert} by the CA in ${ca}, adding ${report.added.join(", ")}: clients ` +
        "trusting that CA (--ca) need nothing new; clients that trusted the old fingerprint " +
        "must accept the new one",
    );
  }
  lines.push(`certificate names ${report.names.join(", ")}`);
  lines.push(`certificate SHA-256 fingerprint ${report.fingerprint}`);
  if (report.uncovered.length > 0) {
    const fix = report.own
      ? "add them to your certificate to reach the server by them"
      : `add them with --name NAME (or \`ferry-server certs\` adds all of this machine's)`;
    lines.push(
      `note: the certificate does not cover ${
        report.uncovered.join(", ")
      } (names of this machine); clients connecting by one of those are refused; ${fix}`,
    );
  }
  if (report.machine.unreadable.length > 0 && report.action !== "loaded" && !report.own) {
    lines.push(
      `note: this machine's names could not be read (run with --allow-sys=${
        report.machine.unreadable.join(",")
      }), so the certificate covers only the names above; add others with --name NAME`,
    );
  }
  return lines;
}
