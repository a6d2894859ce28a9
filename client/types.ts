/**
 * The types of the client library: {@linkcode FerryClient}, its options and results.
 *
 * @module
 */

import type { Entry, Role } from "../protocol/messages/mod.ts";
import type { HashAlgorithm } from "../common/hash_file.ts";
import type { ServerCertificate } from "./fingerprints.ts";

export type { HashAlgorithm };

/** Options for {@linkcode connect}. */
export interface ConnectOptions {
  /** Server host name or address (default `localhost`). */
  hostname?: string;
  /** Server port (default 4433). */
  port?: number;
  /** PEM certificates of the CAs to trust, in addition to the system's. */
  caCerts?: string[];
  /** Access token. */
  token: string;
  /** Deadline for connecting, the TLS handshake and authentication, in ms (default 15 s). */
  timeoutMs?: number;
  /**
   * Trust a server whose certificate no trusted CA signed if the certificate's SHA-256
   * fingerprint is this one (`AB:01:…`, as the server prints at start-up; case and `:` are
   * free). The fingerprint is checked before anything, the token included, is sent.
   */
  trustedFingerprint?: string;
  /**
   * Called when the server's certificate is signed by no trusted CA and does not match
   * {@linkcode ConnectOptions.trustedFingerprint}: resolve `true` to trust it for this
   * connection (trust on first use; remembering it is up to the caller). Without this callback
   * such a server is refused with `TLS`.
   */
  onUnknownCertificate?: (certificate: ServerCertificate) => boolean | Promise<boolean>;
  /**
   * Limit the data of all downloads and uploads of this connection together to this many bytes
   * per second (like curl's `--limit-rate`); unlimited when absent.
   */
  limitRate?: number;
  /**
   * How long, in ms, a download may wait for its next data frame, or an upload for the server to
   * take its next one, before the connection counts as lost (`TIMEOUT`, an interruption a transfer
   * can resume from); default 60 s. Waits that are the server's work (hashing a file, committing
   * an upload) are not counted.
   */
  stallTimeoutMs?: number;
  /**
   * The checksum algorithms this client accepts for the end-to-end check of its transfers, most
   * preferred first (default `["xxh128", "sha256"]`: XXH3-128 where the server has it). The
   * server picks one ({@linkcode FerryClient.checksum}); a server that predates the choice uses
   * SHA-256. When it picks one not listed here, `connect` fails with `UNSUPPORTED`.
   */
  checksums?: HashAlgorithm[];
}

/** How the server's identity was established. */
export interface ServerTrust {
  /** `ca`: its certificate chains to a trusted CA; `fingerprint`: its fingerprint was trusted. */
  readonly method: "ca" | "fingerprint";
  /** The certificate's SHA-256 fingerprint (known only for `fingerprint`; `null` for `ca`). */
  readonly fingerprint: string | null;
}

/** Progress of a transfer, for {@linkcode TransferOptions.onProgress}. */
export interface Progress {
  /** Bytes transferred so far by this operation. */
  bytes: number;
  /** Bytes this operation will transfer, or `null` when unknown. */
  total: number | null;
  /**
   * True while a resumed transfer checks that the bytes already in place match (hashing the
   * partial file on both sides) before any data moves.
   */
  verifying?: boolean;
}

/** Options common to downloads and uploads. */
export interface TransferOptions {
  /** Aborts the transfer: the server is told to cancel and the call rejects with `CANCELLED`. */
  signal?: AbortSignal;
  /** Called as data moves (at most once per 256 KiB). */
  onProgress?: (progress: Progress) => void;
}

/** Options for {@linkcode FerryClient.download}. */
export interface DownloadOptions extends TransferOptions {
  /** Start at this byte offset instead of 0. */
  offset?: number;
  /**
   * Download only this many bytes from `offset`: a range of the file, to a writable stream
   * (a path always receives a whole file). Needs a server with ranges (`UNSUPPORTED` otherwise).
   */
  length?: number;
  /**
   * Download a file to a path over this many connections at once (this client's and
   * `streams − 1` more, each in a worker), each moving one range of it: for links or machines
   * where one TLS stream is CPU-bound (like rclone's multi-thread streams). A file smaller than
   * 16 MiB per stream uses fewer; a server without ranges, `offset` or a resumed download use
   * one. Each range is checked by its own digest (PROTOCOL.md §4.4); the result has no
   * whole-file `checksum`.
   */
  streams?: number;
  /** When downloading to a path, give it the remote modification time (like `scp -p`). */
  preserveTimes?: boolean;
  /**
   * When downloading to a path, continue from the hidden partial file an interrupted download
   * left (`.<name>.ferry-partial`), after checking with the server that its bytes still match;
   * if they do not, start over.
   */
  resume?: boolean;
}

/** Options for {@linkcode FerryClient.upload}. */
export interface UploadOptions extends TransferOptions {
  /** Size of a stream source; without it the server learns the size from the EOF. */
  size?: number;
  /** Modification time to give the remote file. Defaults to a path source's own time. */
  mtime?: Date | null;
  /**
   * Continue an interrupted upload of the same file (path or bytes source): the server reports
   * how much it kept and its SHA-256; if that matches the start of the source, only the rest is
   * sent. Otherwise the upload starts over.
   */
  resume?: boolean;
}

/** What a finished transfer moved. */
export interface TransferResult {
  /** Bytes transferred by this operation. */
  bytes: number;
  /**
   * Hex digest, verified by both sides, of the whole file (a resumed transfer's bytes already
   * in place included); for a download to a stream, of the bytes it wrote. `null` for a
   * download over several streams, checked range by range ({@linkcode TransferResult.ranges}).
   */
  checksum: string | null;
  /** The algorithm of the checks: the connection's. */
  algorithm: HashAlgorithm;
  /** For a download over several streams: how many ranges, each checked by its own digest. */
  ranges?: number;
  /** Where the data went: the local path (download) or remote path (upload). */
  path: string;
  /** Bytes that were already in place from an interrupted transfer and were not sent again. */
  resumed: number;
}

/** Options of {@linkcode FerryClient.list}. */
export interface ListOptions {
  /** Stops the listing; the call then rejects with `CANCELLED`. */
  signal?: AbortSignal;
  /**
   * Only names and kinds are needed: a server that can (WELCOME's `LIST_NAMES`) then skips
   * each entry's size and time, which makes large directories much cheaper to list. Entries
   * may come with size 0 and `mtime` null; with other servers they come complete.
   */
  namesOnly?: boolean;
}

/** A connected, authenticated client. Operations may run concurrently. */
export interface FerryClient {
  /** The user the token belongs to. */
  readonly user: string;
  /** What the token allows. */
  readonly role: Role;
  /** The server's name and version. */
  readonly serverAgent: string;
  /** How the server's certificate was trusted. */
  readonly trust: ServerTrust;
  /** The checksum algorithm of this connection's transfers, as the server chose it. */
  readonly checksum: HashAlgorithm;
  /** Lists a remote directory (default: the root), or describes one remote file. */
  list(path?: string, options?: ListOptions): Promise<Entry[]>;
  /**
   * Lists like {@linkcode FerryClient.list}, but hands the entries to `visit` batch by batch as
   * they arrive (a few thousand at most each) instead of collecting them; resolves to their
   * number. A caller that keeps only what it needs of each entry lists any directory in
   * bounded memory.
   */
  listEach(
    path: string,
    visit: (entries: Entry[]) => void,
    options?: ListOptions,
  ): Promise<number>;
  /**
   * Downloads a remote file to a local path (written to a temporary file, verified, then
   * renamed into place; an existing directory receives the file under its remote name) or to a
   * writable stream (aborted when verification fails).
   */
  download(
    remote: string,
    destination: string | WritableStream<Uint8Array>,
    options?: DownloadOptions,
  ): Promise<TransferResult>;
  /** Uploads a local path, bytes or a stream; the server commits it only once verified. */
  upload(
    source: string | Uint8Array | ReadableStream<Uint8Array>,
    remote: string,
    options?: UploadOptions,
  ): Promise<TransferResult>;
  /** Deletes a remote file, symlink or empty directory. */
  remove(path: string): Promise<void>;
  /** Describes one remote path (`name` is its last component). */
  stat(path: string): Promise<Entry>;
  /**
   * Hex digest of a remote file, computed by the server: SHA-256 unless `algorithm` names the
   * connection's {@linkcode FerryClient.checksum}.
   */
  hash(path: string, options?: { algorithm?: HashAlgorithm }): Promise<string>;
  /** Creates a remote directory; with `parents`, also missing parents, and succeeds if it exists. */
  mkdir(path: string, options?: { parents?: boolean }): Promise<void>;
  /** Renames or moves a remote path; an existing file at `to` is replaced only with `replace`. */
  rename(from: string, to: string, options?: { replace?: boolean }): Promise<void>;
  /** Shuts the server down (admin only). */
  shutdown(): Promise<void>;
  /** Closes the connection; operations in flight fail with `CONNECTION_CLOSED`. */
  close(): void;
  /** Resolves once the connection has closed. */
  readonly closed: Promise<void>;
}
