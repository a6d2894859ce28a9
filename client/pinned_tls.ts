/**
 * TLS connections whose server is trusted by its certificate's fingerprint rather than by a CA
 * ("trust on first use"). `Deno.TlsConn` does not expose the peer's certificate, so the TLS of
 * these goes through `node:tls`, which does, over a `Deno.TcpConn` (see `node_tls_transport.ts`
 * for why and how). Loaded only when such a connection is made (`node:tls` costs a CLI command
 * that does not need it a tenth of its start-up); the fingerprints themselves are
 * `fingerprints.ts`.
 *
 * @module
 */

import tls from "node:tls";
import { isIP } from "node:net";
import { FerryError } from "../protocol/errors.ts";
import type { Connection } from "./mux.ts";
import { dialTcp, handshakeFailure, hostPort } from "./dial.ts";
import { socketConnection, tcpTransport } from "./node_tls_transport.ts";
import type { ServerCertificate } from "./fingerprints.ts";

function describeName(name: unknown): string {
  if (name === null || typeof name !== "object") return "";
  return Object.entries(name as Record<string, unknown>)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join("+") : String(v)}`)
    .join(", ");
}

/**
 * The names a certificate is valid for, from `node:tls`'s `subjectaltname` text
 * (`DNS:localhost, IP Address:127.0.0.1`), else its subject's common name.
 */
export function certificateNames(subjectAltName: string | undefined, subject: unknown): string[] {
  const names = (subjectAltName ?? "").split(",").map((part) => part.trim())
    .map((part) => part.replace(/^(?:DNS|IP Address|IP):/i, ""))
    .filter((name) => name !== "");
  if (names.length > 0) return [...new Set(names)];
  const cn = subject !== null && typeof subject === "object"
    ? (subject as Record<string, unknown>).CN
    : undefined;
  return typeof cn === "string" ? [cn] : Array.isArray(cn) ? cn.map(String) : [];
}

/**
 * Opens TCP + TLS to `hostname:port` without verifying the certificate, and returns the
 * connection together with the certificate it presented. Nothing is sent over the connection
 * yet: the caller decides whether to trust the certificate first.
 *
 * @throws {FerryError} `UNREACHABLE` (no connection, no TLS within `timeoutMs`, not a TLS server)
 * or `TLS` (the handshake failed).
 */
export async function connectPinned(
  hostname: string,
  port: number,
  timeoutMs: number,
  reason: string,
): Promise<{ conn: Connection; certificate: ServerCertificate }> {
  const where = hostPort(hostname, port);
  const tcp = await dialTcp(hostname, port, timeoutMs);
  const transport = tcpTransport(tcp);
  return await new Promise((resolve, reject) => {
    const socket = tls.connect({
      socket: transport.duplex,
      // SNI carries host names only, never addresses.
      ...(isIP(hostname.replace(/^\[|\]$/g, "")) === 0 ? { servername: hostname } : {}),
      rejectUnauthorized: false,
    });
    let settled = false;
    const fail = (err: FerryError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      transport.close();
      reject(err);
    };
    const timer = setTimeout(() => {
      fail(new FerryError("UNREACHABLE", `no TLS handshake with ${where} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onError = (err: Error) => {
      fail(
        handshakeFailure(where, err.message) ??
          new FerryError("TLS", `TLS connection to ${where} failed: ${err.message}`, {
            cause: err,
          }),
      );
    };
    // The transport ending before the handshake did is a hang-up, whatever node:tls makes of it.
    transport.ended.then((err) => onError(err ?? new Error("unexpected eof")));
    socket.once("error", onError);
    socket.once("secureConnect", () => {
      if (settled) return;
      clearTimeout(timer);
      socket.off("error", onError);
      const peer = socket.getPeerCertificate(true);
      if (!peer || !peer.fingerprint256) {
        fail(new FerryError("TLS", `${where} presented no certificate`));
        return;
      }
      settled = true;
      resolve({
        conn: socketConnection(socket, transport),
        certificate: {
          hostname,
          port,
          fingerprint: peer.fingerprint256.toUpperCase(),
          subject: describeName(peer.subject),
          issuer: describeName(peer.issuer),
          validFrom: peer.valid_from ?? "",
          validTo: peer.valid_to ?? "",
          names: certificateNames(peer.subjectaltname, peer.subject),
          reason,
        },
      });
    });
  });
}
