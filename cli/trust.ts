/**
 * Trust on first use for the `ferry` command: a server is trusted by a CA, else by the
 * fingerprint given with `--trust` or remembered in `known_servers`, else by asking. A changed
 * certificate is refused with a loud warning; a newly trusted one is remembered.
 *
 * @module
 */

import { FerryError, messageOf } from "../protocol/errors.ts";
import { connect } from "../client/connect.ts";
import type { FerryClient } from "../client/types.ts";
import type { ServerCertificate } from "../client/fingerprints.ts";
import { configDir, knownServers } from "./config.ts";
import { printable } from "./format.ts";
import { confirm, stderr } from "./prompt.ts";
import type { Settings } from "./settings.ts";

/** The loud warning shown when a remembered server presents another certificate. */
function changedWarning(where: string, cert: ServerCertificate, known: string, file: string) {
  const bar = "@".repeat(63);
  stderr(
    [
      bar,
      "@    WARNING: THE SERVER'S CERTIFICATE HAS CHANGED!               @",
      bar,
      "IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!",
      "Someone could be intercepting your connection right now (a man-in-the-middle attack).",
      "It is also possible that the server's certificate was simply replaced.",
      `The certificate of ${where} now has the SHA-256 fingerprint`,
      `    ${cert.fingerprint}`,
      "but the one you trusted, remembered in",
      `    ${file}`,
      "is",
      `    ${known}`,
      "If you know the change is expected (compare with the fingerprint the server prints at",
      `start-up), run again with --trust ${cert.fingerprint}`,
    ].join("\n"),
  );
}

/** Connects with trust on first use: CA, else a remembered or given fingerprint, else ask. */
export function opener(
  s: Settings,
  options: { interactive: boolean; quiet: boolean },
): () => Promise<FerryClient> {
  const where = `${s.host}:${s.port}`;
  // Once a connection is made, reconnections expect the same certificate.
  let pinned: string | undefined;
  return async () => {
    let known: ReturnType<typeof knownServers> | undefined;
    let remembered: string | undefined;
    try {
      known = knownServers(configDir());
      remembered = await known.get(s.host, s.port);
    } catch {
      known = undefined; // no configuration directory: nothing remembered
    }
    let changed = false;
    let client: FerryClient;
    try {
      client = await connect({
        hostname: s.host,
        port: s.port,
        token: s.token,
        caCerts: s.ca === undefined ? undefined : [s.ca],
        trustedFingerprint: pinned ?? s.trust ?? remembered,
        limitRate: s.limitRate,
        checksums: s.checksums,
        onUnknownCertificate: async (cert) => {
          if (pinned !== undefined) return false;
          if (s.trust !== undefined) {
            stderr(
              `ferry: the certificate of ${where} has SHA-256 fingerprint\n    ${cert.fingerprint}\n` +
                `which is not the one given with --trust:\n    ${s.trust}`,
            );
            return false;
          }
          if (remembered !== undefined) {
            changed = true;
            changedWarning(where, cert, remembered, known!.file);
            return false;
          }
          return await askFirstUse(where, cert, options.interactive);
        },
      });
    } catch (err) {
      if (changed && err instanceof FerryError && err.code === "TLS") {
        throw new FerryError(
          "TLS",
          `the certificate of ${where} does not match the one remembered in ${
            known!.file
          }; refusing to connect`,
        );
      }
      throw err;
    }
    if (s.user !== undefined && client.user !== s.user) {
      client.close();
      throw new FerryError(
        "UNAUTHENTICATED",
        `the token is ${client.user}'s, not ${s.user}'s: ferry knows users by their tokens; ` +
          `give ${s.user}'s with --token-file or FERRY_TOKEN, or keep it in a profile named ` +
          `${s.user}@${s.host}`,
      );
    }
    const fp = client.trust.fingerprint;
    if (client.trust.method === "fingerprint" && fp !== null) {
      pinned = fp;
      if (fp !== remembered) await remember(s, fp, remembered === undefined, options.quiet);
    }
    return client;
  };
}

/**
 * Shows a server's certificate the first time it is met; at a terminal asks whether to trust
 * it, elsewhere says how to.
 */
async function askFirstUse(
  where: string,
  cert: ServerCertificate,
  interactive: boolean,
): Promise<boolean> {
  stderr(
    [
      `ferry: the certificate of ${where} is not signed by a CA you trust (${
        printable(cert.reason)
      }).`,
      `Its SHA-256 fingerprint is`,
      `    ${cert.fingerprint}`,
      `Compare it with the fingerprint the server printed at start-up.`,
    ].join("\n"),
  );
  if (!interactive) {
    stderr(
      `To trust it, run again with --trust ${cert.fingerprint} (or pass --ca with the server's CA certificate).`,
    );
    return false;
  }
  return await confirm("Trust this server and remember its certificate?");
}

/** Remembers the fingerprint of the server at `s` in `known_servers` (failing only with a notice). */
async function remember(s: Settings, fp: string, first: boolean, quiet: boolean): Promise<void> {
  try {
    const known = knownServers(configDir());
    await known.set(s.host, s.port, fp);
    if (!quiet) {
      stderr(
        `ferry: ${
          first ? "remembered" : "replaced"
        } the certificate of ${s.host}:${s.port} in ${known.file}`,
      );
    }
  } catch (err) {
    stderr(`ferry: could not remember the certificate: ${messageOf(err)}`);
  }
}
