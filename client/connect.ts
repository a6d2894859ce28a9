/**
 * Connecting: TCP with Nagle off, TLS verified against the trusted CAs or, failing that, a
 * certificate fingerprint (given, or accepted by the caller on first use), then the version
 * negotiation (HELLO) and authentication (AUTH).
 *
 * @module
 */

import { FEATURES, type Role } from "../protocol/messages/mod.ts";
import { FerryError, messageOf } from "../protocol/errors.ts";
import { type Connection, createMux, type Mux } from "./mux.ts";
import { normalizeFingerprint } from "./fingerprints.ts";
import { isNameMismatch, nameMismatch } from "./name_mismatch.ts";
import { dialTcp, handshakeFailure, hostPort } from "./dial.ts";
import { withDeadline } from "./requests.ts";
import type { ConnectOptions, FerryClient, ServerTrust } from "./types.ts";
import { createClient } from "./client.ts";
import { createThrottle } from "./throttle.ts";
import { DEFAULT_STALL_MS, type TransferSettings } from "./transfer_settings.ts";
import { HASH_ALGORITHMS } from "../common/hash_file.ts";
import { createDirectorySync } from "../common/atomic_file.ts";
import { CLIENT_AGENT, login } from "./login.ts";

export { CLIENT_AGENT };

/** Default server port. */
export const DEFAULT_PORT = 4433;

/**
 * Opens TCP with Nagle's algorithm off, then starts TLS over it. `Deno.connectTls` leaves Nagle
 * on, which costs a delayed-ACK wait (about 40 ms on Linux) on the first round trip after the
 * handshake, while the server's session tickets are in flight.
 */
async function connectTcpNoDelay(
  hostname: string,
  port: number,
  caCerts: string[] | undefined,
  timeoutMs: number,
): Promise<Deno.TlsConn> {
  const tcp = await dialTcp(hostname, port, timeoutMs);
  try {
    return await Deno.startTls(tcp, { hostname, caCerts });
  } catch (err) {
    tcp.close();
    throw err;
  }
}

/** How to make a server's certificate trusted, for error messages. */
export const TRUST_HINT =
  "pass --ca with the server's CA certificate (the server's certs/ca.pem), or set caCerts";

/**
 * Connects to a ferry server, verifies its certificate, negotiates the version and
 * authenticates.
 *
 * @example
 * ```ts ignore
 * import { connect } from "./mod.ts";
 * const client = await connect({ token: Deno.env.get("FERRY_TOKEN")!, caCerts: [await Deno.readTextFile("certs/ca.pem")] });
 * for (const entry of await client.list()) console.log(entry.name, entry.size);
 * client.close();
 * ```
 *
 * @throws {FerryError} `UNREACHABLE`, `TLS` (certificate not trusted), `UNAUTHENTICATED`.
 */
export async function connect(options: ConnectOptions): Promise<FerryClient> {
  const s = await openSession(options);
  return createClient(s.mux, s.agent, s.role, s.user, s.trust, s.transfers, s.dial);
}

/** An authenticated connection, before it is wrapped as a {@linkcode FerryClient}. */
export interface Session {
  /** Its multiplexer. */
  mux: Mux;
  /** The server's agent string. */
  agent: string;
  /** The role of the token. */
  role: Role;
  /** The user of the token. */
  user: string;
  /** How the server was trusted. */
  trust: ServerTrust;
  /** What its transfers share (rate limit, stall timeout, checksum, ranges). */
  transfers: TransferSettings;
  /**
   * Options that open another connection to the same server, trusting the same certificate and
   * insisting on the same checksum, without callbacks (they can be posted to a worker).
   */
  dial: DialOptions;
}

/** {@linkcode ConnectOptions} without callbacks, as a worker can receive them. */
export type DialOptions = Omit<ConnectOptions, "onUnknownCertificate">;

/**
 * Connects, verifies and authenticates like {@linkcode connect}, and returns the parts of the
 * client (internal: the streams of one download use it in workers).
 */
export async function openSession(options: ConnectOptions): Promise<Session> {
  const hostname = options.hostname ?? "localhost";
  const port = options.port ?? DEFAULT_PORT;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const pinned = options.trustedFingerprint === undefined
    ? undefined
    : normalizeFingerprint(options.trustedFingerprint);
  const tlsConn = await openVerified(hostname, port, options.caCerts, timeoutMs);
  if ("reason" in tlsConn && pinned === undefined && isNameMismatch(tlsConn.reason)) {
    // A trusted CA signed it, for other names: asking to trust it by fingerprint would be the
    // wrong advice.
    throw await nameMismatch(hostname, port, timeoutMs, tlsConn.reason);
  }
  const { conn, trust }: { conn: Connection; trust: ServerTrust } = "reason" in tlsConn
    ? await openTrusted(hostname, port, timeoutMs, tlsConn.reason, pinned, options)
    : { conn: tlsConn, trust: { method: "ca", fingerprint: null } };

  // Let the server's post-handshake TLS 1.3 session tickets arrive first, so that the HELLO
  // below acknowledges them. Otherwise the server's first answer waits behind the unacknowledged
  // tickets (Nagle's algorithm, which Deno's server side cannot turn off) for this side's
  // delayed ACK: about 40 ms per connection on Linux. One macrotask is enough on loopback.
  await new Promise((resolve) => setTimeout(resolve, 0));
  const mux = createMux(conn);
  const checksums = options.checksums ?? [...HASH_ALGORITHMS];
  const { welcome, role, user } = await login(mux, options.token, checksums, timeoutMs);
  const checksum = welcome.session?.checksum ?? "sha256";
  if (!checksums.includes(checksum)) {
    mux.close();
    throw new FerryError(
      "UNSUPPORTED",
      `the server checks transfers with ${checksum}, not ${checksums.join(" or ")}`,
    );
  }
  const throttle = options.limitRate === undefined ? undefined : createThrottle(options.limitRate);
  const stallMs = options.stallTimeoutMs ?? DEFAULT_STALL_MS;
  const features = welcome.session?.features ?? 0;
  const ranges = (features & FEATURES.RANGES) !== 0;
  const listNames = (features & FEATURES.LIST_NAMES) !== 0;
  const { onUnknownCertificate: _, ...rest } = options;
  const dial: DialOptions = {
    ...rest,
    trustedFingerprint: trust.fingerprint ?? options.trustedFingerprint,
    checksums: [checksum],
  };
  return {
    mux,
    agent: welcome.agent,
    role,
    user,
    trust,
    transfers: {
      throttle,
      stallMs,
      checksum,
      ranges,
      listNames,
      directories: createDirectorySync(),
    },
    dial,
  };
}

/**
 * TLS to a server no trusted CA vouches for (`reason` says why): accepted if its certificate has
 * the `pinned` fingerprint, or if `onUnknownCertificate` accepts it; otherwise `TLS`.
 */
async function openTrusted(
  hostname: string,
  port: number,
  timeoutMs: number,
  reason: string,
  pinned: string | undefined,
  options: ConnectOptions,
): Promise<{ conn: Connection; trust: ServerTrust }> {
  const where = `${hostname}:${port}`;
  if (pinned === undefined && options.onUnknownCertificate === undefined) {
    throw new FerryError(
      "TLS",
      `the certificate of ${where} is not trusted (${reason}); ${TRUST_HINT}`,
    );
  }
  // node:tls is loaded only for a connection that needs it (see pinned_tls.ts).
  const { connectPinned } = await import("./pinned_tls.ts");
  let opened = await connectPinned(hostname, port, timeoutMs, reason);
  let accepted = opened.certificate.fingerprint === pinned;
  if (!accepted && options.onUnknownCertificate !== undefined) {
    const seen = opened.certificate.fingerprint;
    // The user may take a while to decide; the server would time the connection out meanwhile,
    // so it is dropped now and a fresh one must present the same certificate.
    opened.conn.close();
    if (await options.onUnknownCertificate(opened.certificate)) {
      opened = await connectPinned(hostname, port, timeoutMs, reason);
      accepted = opened.certificate.fingerprint === seen;
      if (!accepted) {
        opened.conn.close();
        throw new FerryError("TLS", `the certificate of ${where} changed while connecting`);
      }
    } else {
      throw new FerryError("TLS", `the certificate of ${where} (SHA-256 ${seen}) is not trusted`);
    }
  } else if (!accepted) {
    opened.conn.close();
    throw new FerryError(
      "TLS",
      `the certificate of ${where} has SHA-256 fingerprint ${opened.certificate.fingerprint}, ` +
        `not the trusted ${pinned}`,
    );
  }
  return {
    conn: opened.conn,
    trust: { method: "fingerprint", fingerprint: opened.certificate.fingerprint },
  };
}

/**
 * TCP + TLS with the certificate verified against the CAs. A certificate that does not verify
 * yields `{ reason }` (the connection is closed) so the caller can fall back to a fingerprint.
 */
async function openVerified(
  hostname: string,
  port: number,
  caCerts: string[] | undefined,
  timeoutMs: number,
): Promise<Deno.TlsConn | { reason: string }> {
  const where = hostPort(hostname, port);
  let conn: Deno.TlsConn;
  try {
    conn = await connectTcpNoDelay(hostname, port, caCerts, timeoutMs);
  } catch (err) {
    if (err instanceof FerryError) throw err;
    throw new FerryError("TLS", `cannot start TLS with ${where}: ${messageOf(err)}`, {
      cause: err,
    });
  }
  try {
    await withDeadline(conn.handshake(), timeoutMs, () => conn.close());
    return conn;
  } catch (err) {
    try {
      conn.close();
    } catch {
      // already closed
    }
    const message = messageOf(err);
    if (err instanceof FerryError) {
      throw new FerryError("UNREACHABLE", `no TLS handshake with ${where} within ${timeoutMs} ms`);
    }
    if (/certificate|UnknownIssuer|BadSignature|NotValidForName|Expired/i.test(message)) {
      return { reason: message };
    }
    throw handshakeFailure(where, message) ??
      new FerryError("TLS", `TLS handshake with ${where} failed: ${message}`, { cause: err });
  }
}
