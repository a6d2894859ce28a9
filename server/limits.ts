/**
 * The server's limits and deadlines, with their defaults.
 *
 * @module
 */

/** Limits and deadlines; every field has a default in {@linkcode DEFAULT_LIMITS}. */
export interface Limits {
  /** Connections served at once; more are told BUSY and closed. */
  maxConnections: number;
  /** Time allowed for the TLS handshake, in ms. */
  handshakeTimeoutMs: number;
  /** Time allowed from accept to a successful AUTH, in ms. */
  authTimeoutMs: number;
  /** A connection with no frame received and nothing in flight for this long is closed, in ms. */
  idleTimeoutMs: number;
  /** Failed AUTH attempts before the connection is closed. */
  maxAuthFailures: number;
  /** Operations running at once per connection; past it the server stops reading. */
  maxInflightPerConnection: number;
  /** Largest upload accepted, in bytes. */
  maxUploadBytes: number;
  /** Time transfers in flight get to finish when the server shuts down, in ms. */
  shutdownGraceMs: number;
}

/** Default limits. */
export const DEFAULT_LIMITS: Readonly<Limits> = {
  maxConnections: 256,
  handshakeTimeoutMs: 10_000,
  authTimeoutMs: 10_000,
  idleTimeoutMs: 300_000,
  maxAuthFailures: 3,
  maxInflightPerConnection: 16,
  maxUploadBytes: Number.MAX_SAFE_INTEGER,
  shutdownGraceMs: 10_000,
};
