/**
 * TLS connections whose server is trusted by its certificate's fingerprint rather than by a CA
 * ("trust on first use"). `Deno.TlsConn` does not expose the peer's certificate, so the TLS of
 * these goes through `node:tls`, which does. The TCP connection under it stays a `Deno.TcpConn`
 * read by this module ({@linkcode tcpTransport}): so the end of the connection is always seen
 * (a paused `node:tls` socket in Deno can miss it and wait forever), and reading stops while the
 * multiplexer is behind (backpressure). The TLS socket is wrapped in the small
 * {@linkcode Connection} interface the multiplexer reads and writes.
 *
 * @module
 */

import tls from "node:tls";
import { isIP } from "node:net";
import { Duplex } from "node:stream";
import { FerryError } from "../protocol/errors.ts";
import type { Connection } from "./mux.ts";
import { dialTcp, handshakeFailure, hostPort } from "./dial.ts";

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

/** Decrypted bytes buffered before the TCP connection is no longer read (backpressure). */
const HIGH_WATER = 1024 * 1024;

/** Time `node:tls` gets to report the end of the stream once TCP ended, in ms. */
const END_GRACE_MS = 1000;

/** A TCP connection as the `Duplex` that `node:tls` runs over, read only while there is room. */
interface TcpTransport {
  /** The stream `tls.connect({ socket })` reads from and writes to. */
  readonly duplex: Duplex;
  /** Resolves once TCP ended: `null` at a clean end of stream, else the error. */
  readonly ended: Promise<Error | null>;
  /** Stops (`false`) or resumes (`true`) reading from TCP. */
  setFlowing(flowing: boolean): void;
  /** Closes the TCP connection. */
  close(): void;
}

/**
 * Wraps `tcp` as a `Duplex` for `node:tls`. This module reads TCP itself, so its end is always
 * seen, and reads only while the consumer has room ({@linkcode TcpTransport.setFlowing}).
 */
function tcpTransport(tcp: Deno.TcpConn): TcpTransport {
  let flowing = true;
  let wakeReader: (() => void) | null = null;
  let closed = false;
  const closeTcp = () => {
    if (closed) return;
    closed = true;
    try {
      tcp.close();
    } catch {
      // already closed
    }
  };
  const duplex = new Duplex({
    read() {},
    write(chunk: Uint8Array, _encoding, callback) {
      writeAll(tcp, chunk).then(() => callback(), (err) => callback(err));
    },
    final(callback) {
      tcp.closeWrite().then(() => callback(), () => callback());
    },
    destroy(err, callback) {
      closeTcp();
      callback(err);
    },
  });
  const ended = (async (): Promise<Error | null> => {
    const buf = new Uint8Array(64 * 1024);
    try {
      while (true) {
        while (!flowing && !closed) await new Promise<void>((r) => wakeReader = r);
        if (closed) return new Error("the connection is closed");
        const n = await tcp.read(buf);
        if (n === null) break;
        duplex.push(buf.slice(0, n));
      }
      duplex.push(null);
      return null;
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      duplex.destroy(error);
      return error;
    }
  })();
  return {
    duplex,
    ended,
    setFlowing(value) {
      flowing = value;
      if (value) {
        const wake = wakeReader;
        wakeReader = null;
        wake?.();
      }
    },
    close() {
      closeTcp();
      const wake = wakeReader;
      wakeReader = null;
      wake?.();
    },
  };
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let o = 0; o < bytes.length;) o += await conn.write(bytes.subarray(o));
}

/** Wraps a connected TLS socket over `transport` as a {@linkcode Connection}. */
function socketConnection(socket: tls.TLSSocket, transport: TcpTransport): Connection {
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
  const release = () => {
    const d = drained;
    drained = null;
    d?.();
  };
  socket.setNoDelay(true);
  socket.on("data", (data: Uint8Array) => {
    chunks.push(data);
    buffered += data.length;
    if (buffered >= HIGH_WATER) transport.setFlowing(false);
    notify();
  });
  socket.on("end", () => {
    ended = true;
    notify();
  });
  socket.on("close", () => {
    ended = true;
    notify();
    release();
  });
  socket.on("error", (err: Error) => {
    failure ??= err;
    notify();
    release();
  });
  socket.on("drain", release);
  // Once TCP ended, node:tls has a moment to deliver the last bytes and say so; after that the
  // connection counts as ended whatever it said, so no read waits forever.
  transport.ended.then((err) => {
    const timer = setTimeout(() => {
      if (err !== null) failure ??= err;
      ended = true;
      notify();
      release();
    }, END_GRACE_MS);
    Deno.unrefTimer(timer);
  });

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
      if (buffered < HIGH_WATER) transport.setFlowing(true);
      return n;
    },
    async write(p) {
      if (failure !== null) throw failure;
      if (socket.destroyed) throw new Error("the connection is closed");
      // A copy: callers reuse their buffers once write resolves, node may still hold them.
      if (!socket.write(p.slice())) {
        await new Promise<void>((r) => drained = r);
        if (failure !== null) throw failure;
        if (socket.destroyed) throw new Error("the connection closed");
      }
      return p.length;
    },
    close() {
      socket.destroy();
      transport.close();
      ended = true;
      notify();
      release();
    },
  };
}
