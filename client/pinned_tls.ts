/**
 * TLS connections whose server is trusted by its certificate's fingerprint rather than by a CA
 * ("trust on first use"). `Deno.TlsConn` does not expose the peer's certificate, so these go
 * through `node:tls`, which does; the socket is wrapped in the small {@linkcode Connection}
 * interface the multiplexer reads and writes.
 *
 * @module
 */

import tls from "node:tls";
import { isIP } from "node:net";
import { FerryError } from "../protocol/errors.ts";
import type { Connection } from "./mux.ts";

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

function describeName(name: unknown): string {
  if (name === null || typeof name !== "object") return "";
  return Object.entries(name as Record<string, unknown>)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join("+") : String(v)}`)
    .join(", ");
}

/**
 * Opens TCP + TLS to `hostname:port` without verifying the certificate, and returns the
 * connection together with the certificate it presented. Nothing is sent over the connection
 * yet: the caller decides whether to trust the certificate first.
 */
export function connectPinned(
  hostname: string,
  port: number,
  timeoutMs: number,
  reason: string,
): Promise<{ conn: Connection; certificate: ServerCertificate }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: hostname,
      port,
      // SNI carries host names only, never addresses.
      ...(isIP(hostname.replace(/^\[|\]$/g, "")) === 0 ? { servername: hostname } : {}),
      rejectUnauthorized: false,
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new FerryError(
          "UNREACHABLE",
          `no TLS handshake with ${hostname}:${port} within ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
    const onError = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(
        new FerryError("TLS", `TLS connection to ${hostname}:${port} failed: ${err.message}`, {
          cause: err,
        }),
      );
    };
    socket.once("error", onError);
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      socket.off("error", onError);
      const peer = socket.getPeerCertificate(true);
      if (!peer || !peer.fingerprint256) {
        socket.destroy();
        reject(new FerryError("TLS", `${hostname}:${port} presented no certificate`));
        return;
      }
      socket.setNoDelay(true);
      resolve({
        conn: socketConnection(socket),
        certificate: {
          hostname,
          port,
          fingerprint: peer.fingerprint256.toUpperCase(),
          subject: describeName(peer.subject),
          issuer: describeName(peer.issuer),
          validFrom: peer.valid_from ?? "",
          validTo: peer.valid_to ?? "",
          reason,
        },
      });
    });
  });
}

/** Bytes buffered from the socket before it is paused (backpressure). */
const HIGH_WATER = 1024 * 1024;

/** Wraps a connected node socket as a {@linkcode Connection}. */
function socketConnection(socket: tls.TLSSocket): Connection {
  const chunks: Uint8Array[] = [];
  let buffered = 0;
  let ended = false;
  let failure: Error | null = null;
  let wake: (() => void) | null = null;
  let drained: (() => void) | null = null;

  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  socket.on("data", (data: Uint8Array) => {
    chunks.push(data);
    buffered += data.length;
    if (buffered >= HIGH_WATER) socket.pause();
    notify();
  });
  socket.on("end", () => {
    ended = true;
    notify();
  });
  socket.on("close", () => {
    ended = true;
    notify();
    drained?.();
  });
  socket.on("error", (err: Error) => {
    failure ??= err;
    notify();
    drained?.();
  });
  socket.on("drain", () => drained?.());

  return {
    async read(p) {
      while (chunks.length === 0) {
        if (failure !== null) throw failure;
        if (ended) return null;
        await new Promise<void>((r) => wake = r);
      }
      let n = 0;
      while (chunks.length > 0 && n < p.length) {
        const chunk = chunks[0];
        const take = Math.min(chunk.length, p.length - n);
        p.set(chunk.subarray(0, take), n);
        n += take;
        if (take === chunk.length) chunks.shift();
        else chunks[0] = chunk.subarray(take);
      }
      buffered -= n;
      if (buffered < HIGH_WATER && socket.isPaused()) socket.resume();
      return n;
    },
    async write(p) {
      if (failure !== null) throw failure;
      if (socket.destroyed) throw new Error("the connection is closed");
      // A copy: callers reuse their buffers once write resolves, node may still hold them.
      if (!socket.write(p.slice())) {
        await new Promise<void>((r) => drained = r);
        drained = null;
        if (failure !== null) throw failure;
        if (socket.destroyed) throw new Error("the connection closed");
      }
      return p.length;
    },
    close() {
      socket.destroy();
      ended = true;
      notify();
    },
  };
}
