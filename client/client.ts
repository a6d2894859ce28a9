/**
 * The ferry client library: {@linkcode connect} opens a verified TLS connection, authenticates,
 * and returns a {@linkcode FerryClient} whose operations may run concurrently over it.
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import {
  dataFramesSize,
  decodeAuthOk,
  decodeData,
  decodeDigest,
  decodeEof,
  decodeFileInfo,
  decodeListEntries,
  decodeStatResult,
  decodeWelcome,
  encodeAuth,
  encodeDataFrames,
  encodeDownload,
  encodeEof,
  encodeHashRequest,
  encodeHello,
  encodeIdOnly,
  encodeMkdir,
  encodePathRequest,
  encodeRename,
  encodeUpload,
  encodeUploadResume,
  encodeUploadStatus,
  type Entry,
  type Role,
} from "../protocol/messages.ts";
import { MAX_VERSION, MIN_VERSION, SERVICES } from "../protocol/services.ts";
import { UNKNOWN_SIZE } from "../protocol/bytes.ts";
import { FerryError } from "../protocol/errors.ts";
import type { Frame } from "../protocol/frame.ts";
import { type Connection, createMux, type Mux } from "./mux.ts";
import { connectPinned, normalizeFingerprint, type ServerCertificate } from "./pinned_tls.ts";
import { type AtomicFile, createAtomicFile, localError } from "./local_files.ts";
import { hex, is, request, unexpected, withDeadline } from "./requests.ts";
import { bytesChunks, CHUNK, equalBytes, fileChunks, hashFromFile, streamSink } from "./sources.ts";
import { safeLocalName } from "./local_names.ts";

export { safeEntryName, safeLocalName } from "./local_names.ts";

export type { Entry, EntryKind, Role } from "../protocol/messages.ts";
export type { ServerCertificate } from "./pinned_tls.ts";
export { normalizeFingerprint } from "./pinned_tls.ts";

/** Version string sent to servers in HELLO. */
export const CLIENT_AGENT = "ferry/0.1.0";

/** Default server port. */
export const DEFAULT_PORT = 4433;

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
  /** Hex SHA-256 of those bytes, verified by both sides. */
  sha256: string;
  /** Where the data went: the local path (download) or remote path (upload). */
  path: string;
  /** Bytes that were already in place from an interrupted transfer and were not sent again. */
  resumed: number;
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
  /** Lists a remote directory (default: the root), or describes one remote file. */
  list(path?: string, options?: { signal?: AbortSignal }): Promise<Entry[]>;
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
  /** Hex SHA-256 of a remote file, computed by the server. */
  hash(path: string): Promise<string>;
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

/**
 * Opens TCP with Nagle's algorithm off, then starts TLS over it. `Deno.connectTls` leaves Nagle
 * on, which costs a delayed-ACK wait (about 40 ms on Linux) on the first round trip after the
 * handshake, while the server's session tickets are in flight.
 */
async function connectTcpNoDelay(
  hostname: string,
  port: number,
  caCerts: string[] | undefined,
): Promise<Deno.TlsConn> {
  const tcp = await Deno.connect({ hostname, port });
  try {
    tcp.setNoDelay(true);
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
  const hostname = options.hostname ?? "localhost";
  const port = options.port ?? DEFAULT_PORT;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const where = `${hostname}:${port}`;
  const pinned = options.trustedFingerprint === undefined
    ? undefined
    : normalizeFingerprint(options.trustedFingerprint);
  let conn: Connection;
  let trust: ServerTrust = { method: "ca", fingerprint: null };
  const tlsConn = await openVerified(hostname, port, options.caCerts, timeoutMs);
  if (!("reason" in tlsConn)) {
    conn = tlsConn;
  } else if (pinned === undefined && options.onUnknownCertificate === undefined) {
    throw new FerryError(
      "TLS",
      `the certificate of ${where} is not trusted (${tlsConn.reason}); ${TRUST_HINT}`,
    );
  } else {
    let opened = await connectPinned(hostname, port, timeoutMs, tlsConn.reason);
    let accepted = opened.certificate.fingerprint === pinned;
    if (!accepted && options.onUnknownCertificate !== undefined) {
      const seen = opened.certificate.fingerprint;
      // The user may take a while to decide; the server would time the connection out meanwhile,
      // so it is dropped now and a fresh one must present the same certificate.
      opened.conn.close();
      if (await options.onUnknownCertificate(opened.certificate)) {
        opened = await connectPinned(hostname, port, timeoutMs, tlsConn.reason);
        accepted = opened.certificate.fingerprint === seen;
        if (!accepted) {
          opened.conn.close();
          throw new FerryError("TLS", `the certificate of ${where} changed while connecting`);
        }
      } else {
        throw new FerryError(
          "TLS",
          `the certificate of ${where} (SHA-256 ${seen}) is not trusted`,
        );
      }
    } else if (!accepted) {
      opened.conn.close();
      throw new FerryError(
        "TLS",
        `the certificate of ${where} has SHA-256 fingerprint ${opened.certificate.fingerprint}, ` +
          `not the trusted ${pinned}`,
      );
    }
    conn = opened.conn;
    trust = { method: "fingerprint", fingerprint: opened.certificate.fingerprint };
  }

  // Let the server's post-handshake TLS 1.3 session tickets arrive first, so that the HELLO
  // below acknowledges them. Otherwise the server's first answer waits behind the unacknowledged
  // tickets (Nagle's algorithm, which Deno's server side cannot turn off) for this side's
  // delayed ACK: about 40 ms per connection on Linux. One macrotask is enough on loopback.
  await new Promise((resolve) => setTimeout(resolve, 0));
  const mux = createMux(conn);
  const helloId = mux.nextId();
  const authId = mux.nextId();
  const welcome = request(
    mux,
    helloId,
    encodeHello({
      id: helloId,
      minVersion: MIN_VERSION,
      maxVersion: MAX_VERSION,
      agent: CLIENT_AGENT,
    }),
    (f) =>
      is(f, SERVICES.WELCOME)
        ? decodeWelcome(f.payload)
        : Promise.reject(unexpected(f, "greeting")),
  );
  const authOk = request(
    mux,
    authId,
    encodeAuth({ id: authId, token: options.token }),
    (f) =>
      is(f, SERVICES.AUTH_OK)
        ? decodeAuthOk(f.payload)
        : Promise.reject(unexpected(f, "authenticating")),
  );
  let session: [Awaited<typeof welcome>, Awaited<typeof authOk>];
  try {
    session = await withDeadline(Promise.all([welcome, authOk]), timeoutMs, () => mux.close());
  } catch (err) {
    mux.close();
    await mux.closed;
    throw err;
  }
  return createClient(mux, session[0].agent, session[1].role, session[1].user, trust);
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
  const where = `${hostname}:${port}`;
  let conn: Deno.TlsConn;
  try {
    conn = await withDeadline(connectTcpNoDelay(hostname, port, caCerts), timeoutMs, () => {});
  } catch (err) {
    if (err instanceof FerryError) throw err;
    throw new FerryError("UNREACHABLE", `cannot connect to ${where}: ${(err as Error).message}`, {
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
    const message = err instanceof Error ? err.message : String(err);
    if (/certificate|UnknownIssuer|BadSignature|NotValidForName|Expired/i.test(message)) {
      return { reason: message };
    }
    throw new FerryError("TLS", `TLS handshake with ${where} failed: ${message}`, { cause: err });
  }
}

function createClient(
  mux: Mux,
  serverAgent: string,
  role: Role,
  user: string,
  trust: ServerTrust,
): FerryClient {
  function list(path = ".", options: { signal?: AbortSignal } = {}): Promise<Entry[]> {
    const id = mux.nextId();
    const entries: Entry[] = [];
    const done = request(mux, id, encodePathRequest(SERVICES.LIST, { id, path }), (f) => {
      if (!is(f, SERVICES.LIST_ENTRIES)) throw unexpected(f, "listing");
      const batch = decodeListEntries(f.payload);
      entries.push(...batch.entries);
      return batch.last ? entries : undefined;
    });
    return withAbort(done, id, options.signal);
  }

  function withAbort<T>(done: Promise<T>, id: number, signal?: AbortSignal): Promise<T> {
    if (signal === undefined) return done;
    const onAbort = () => mux.abort(id, new FerryError("CANCELLED", "cancelled"));
    if (signal.aborted) onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    return done.finally(() => signal.removeEventListener("abort", onAbort));
  }

  async function download(
    remote: string,
    destination: string | WritableStream<Uint8Array>,
    options: DownloadOptions = {},
  ): Promise<TransferResult> {
    let offset = options.offset ?? 0;
    let target = destination;
    if (typeof destination === "string") {
      const info = await Deno.stat(destination).catch(() => null);
      if (info?.isDirectory) target = `${destination}/${safeLocalName(remote)}`;
    }
    let file: AtomicFile | null = null;
    let sink: { write(data: Uint8Array): Promise<void> };
    if (typeof target === "string") {
      file = await createAtomicFile(target, { resume: options.resume });
      if (file.existing > 0) {
        offset = await matchingPrefix(remote, file);
        if (offset === 0) await file.restart();
      }
      sink = file;
    } else {
      sink = streamSink(target.getWriter());
    }
    const id = mux.nextId();
    // A fresh download to a path is hashed once, by the partial file; the suffix hash is needed
    // only when the EOF's digest covers fewer bytes than the file (a resumed or offset download).
    const suffixHash = file !== null && offset === 0 ? null : createHash("sha256");
    let total: number | null = null;
    let mtime: number | null = null;
    let bytes = 0;
    let reported = 0;
    try {
      const done = request(mux, id, encodeDownload({ id, offset, path: remote }), async (f) => {
        if (is(f, SERVICES.FILE_INFO)) {
          const info = decodeFileInfo(f.payload);
          total = info.size - offset;
          mtime = info.mtime;
          options.onProgress?.({ bytes, total });
          return undefined;
        }
        if (is(f, SERVICES.DOWNLOAD_DATA)) {
          const { data } = decodeData(f.payload);
          bytes += data.length;
          if (total === null || bytes > total) {
            throw new FerryError(
              "BAD_FRAME",
              `server sent more than the ${total} bytes it announced`,
            );
          }
          suffixHash?.update(data);
          await sink.write(data);
          if (options.onProgress && bytes - reported >= 256 * 1024) {
            reported = bytes;
            options.onProgress({ bytes, total });
          }
          return undefined;
        }
        if (is(f, SERVICES.EOF)) {
          return verifyEof(f, suffixHash ?? (file as AtomicFile).hash.copy(), bytes, total);
        }
        throw unexpected(f, "downloading");
      });
      let sha256 = await withAbort(done, id, options.signal);
      options.onProgress?.({ bytes, total });
      if (file !== null) {
        sha256 = file.hash.copy().digest("hex");
        await file.commit(options.preserveTimes && mtime !== null ? new Date(mtime) : null);
      } else {
        await (sink as ReturnType<typeof streamSink>).commit();
      }
      return {
        bytes,
        sha256,
        path: typeof target === "string" ? target : remote,
        resumed: offset,
      };
    } catch (err) {
      if (file !== null) await file.discard(isInterruption(err));
      else await (sink as ReturnType<typeof streamSink>).discard(err);
      throw err;
    }
  }

  /** The length of the local partial file if the server's file starts with the same bytes, else 0. */
  async function matchingPrefix(remote: string, file: AtomicFile): Promise<number> {
    const id = mux.nextId();
    const digest = await request(
      mux,
      id,
      encodeHashRequest({ id, length: file.existing, path: remote }),
      (f) => {
        if (is(f, SERVICES.HASH_RESULT)) return decodeDigest(f.payload);
        throw unexpected(f, "hashing");
      },
    ).catch((err) => {
      if (err instanceof FerryError && err.code === "BAD_ARGUMENT") return null; // remote is shorter
      throw err;
    });
    if (digest === null || digest.length !== file.existing) return 0;
    const local = new Uint8Array(file.hash.copy().digest());
    return equalBytes(local, digest.sha256) ? file.existing : 0;
  }

  /** What the server kept of an interrupted upload: its length and SHA-256. */
  function uploadStatus(remote: string, size: number, mtime: number | null) {
    const id = mux.nextId();
    return request(mux, id, encodeUploadStatus({ id, size, mtime, path: remote }), (f) => {
      if (is(f, SERVICES.UPLOAD_PARTIAL)) return decodeDigest(f.payload);
      throw unexpected(f, "asking for an upload's status");
    });
  }

  async function upload(
    source: string | Uint8Array | ReadableStream<Uint8Array>,
    remote: string,
    options: UploadOptions = {},
  ): Promise<TransferResult> {
    let size = options.size ?? UNKNOWN_SIZE;
    let mtime = options.mtime?.getTime() ?? null;
    let chunks: AsyncIterable<Uint8Array>;
    let file: Deno.FsFile | null = null;
    if (typeof source === "string") {
      try {
        file = await Deno.open(source, { read: true });
        const info = await file.stat();
        if (info.isDirectory) throw new FerryError("IS_A_DIRECTORY", `${source} is a directory`);
        size = info.size;
        if (options.mtime === undefined) mtime = info.mtime?.getTime() ?? null;
      } catch (err) {
        file?.close();
        throw localError(err, source);
      }
      chunks = fileChunks(file, source, size);
    } else if (source instanceof Uint8Array) {
      size = source.length;
      chunks = bytesChunks(source);
    } else {
      chunks = source;
    }

    const sourceName = typeof source === "string" ? source : "upload source";
    let hash = createHash("sha256");
    let offset = 0;
    if (options.resume && size !== UNKNOWN_SIZE && !(source instanceof ReadableStream)) {
      const kept = await uploadStatus(remote, size, mtime);
      if (kept.length > 0 && kept.length <= size) {
        try {
          if (file !== null) {
            await hashFromFile(file, kept.length, hash);
          } else if (source instanceof Uint8Array) {
            hash.update(source.subarray(0, kept.length));
          }
        } catch (err) {
          file?.close();
          throw localError(err, sourceName);
        }
        if (equalBytes(new Uint8Array(hash.copy().digest()), kept.sha256)) {
          offset = kept.length;
          if (source instanceof Uint8Array) chunks = bytesChunks(source.subarray(offset));
        } else {
          hash = createHash("sha256");
          await file?.seek(0, Deno.SeekMode.Start);
        }
      }
    }
    const id = mux.nextId();
    const done = request(mux, id, null, (f) => {
      if (is(f, SERVICES.OK)) return true;
      throw unexpected(f, "uploading");
    });
    // Rejects as soon as the request fails (server error, abort, lost connection), so a source
    // that is waiting for data never keeps the upload pending.
    const failed = done.then(() => new Promise<never>(() => {}));
    failed.catch(() => {});

    const signal = options.signal;
    const onAbort = () => mux.abort(id, new FerryError("CANCELLED", "upload cancelled"));
    const iterator = chunks[Symbol.asyncIterator]();
    let bytes = 0;
    let reported = 0;
    try {
      signal?.throwIfAborted();
      signal?.addEventListener("abort", onAbort, { once: true });
      await mux.writer.send(
        offset > 0
          ? encodeUploadResume({ id, offset, size, mtime, path: remote })
          : encodeUpload({ id, size, mtime, path: remote }),
      );
      let out = new Uint8Array(
        dataFramesSize(size === UNKNOWN_SIZE ? CHUNK : Math.min(CHUNK, size - offset)),
      );
      while (true) {
        const next = iterator.next();
        next.catch(() => {});
        const { value: chunk, done: end } = await Promise.race([next, failed]);
        if (end) break;
        for (let o = 0; o < chunk.length; o += CHUNK) {
          const piece = chunk.subarray(o, o + CHUNK);
          hash.update(piece);
          bytes += piece.length;
          if (dataFramesSize(piece.length) > out.length) {
            out = new Uint8Array(dataFramesSize(piece.length));
          }
          await mux.writer.send(encodeDataFrames(SERVICES.UPLOAD_DATA, id, piece, out));
        }
        if (options.onProgress && bytes - reported >= 256 * 1024) {
          reported = bytes;
          options.onProgress({ bytes, total: size === UNKNOWN_SIZE ? null : size });
        }
      }
      signal?.throwIfAborted();
      const sha256 = new Uint8Array(hash.digest());
      await mux.writer.send(encodeEof({ id, size: offset + bytes, sha256 }));
      await done;
      options.onProgress?.({ bytes, total: bytes });
      return { bytes, sha256: hex(sha256), path: remote, resumed: offset };
    } catch (err) {
      const e = err instanceof FerryError
        ? err
        : signal?.aborted
        ? new FerryError("CANCELLED", "upload cancelled")
        : localError(err, sourceName);
      // Fails the request and tells the server, unless it already ended.
      mux.abort(id, e);
      iterator.return?.()?.catch(() => {});
      throw e;
    } finally {
      signal?.removeEventListener("abort", onAbort);
      try {
        file?.close();
      } catch {
        // closed by the chunk reader
      }
    }
  }

  /** Sends the request `encode(id)` builds and waits for its OK. */
  function simple(encode: (id: number) => Uint8Array): Promise<void> {
    const id = mux.nextId();
    return request(mux, id, encode(id), (f) => {
      if (is(f, SERVICES.OK)) return true;
      throw unexpected(f, "waiting for OK");
    }).then(() => {});
  }

  function stat(path: string): Promise<Entry> {
    const id = mux.nextId();
    return request(mux, id, encodePathRequest(SERVICES.STAT, { id, path }), (f) => {
      if (is(f, SERVICES.STAT_RESULT)) return decodeStatResult(f.payload).entry;
      throw unexpected(f, "stat");
    });
  }

  function hashRemote(path: string): Promise<string> {
    const id = mux.nextId();
    return request(
      mux,
      id,
      encodeHashRequest({ id, length: UNKNOWN_SIZE, path }),
      (f) => {
        if (is(f, SERVICES.HASH_RESULT)) return hex(decodeDigest(f.payload).sha256);
        throw unexpected(f, "hashing");
      },
    );
  }

  return {
    user,
    role,
    serverAgent,
    trust,
    list,
    download,
    upload,
    remove: (path) => simple((id) => encodePathRequest(SERVICES.DELETE, { id, path })),
    stat,
    hash: hashRemote,
    mkdir: (path, options = {}) =>
      simple((id) => encodeMkdir({ id, parents: options.parents ?? false, path })),
    rename: (from, to, options = {}) =>
      simple((id) => encodeRename({ id, replace: options.replace ?? false, from, to })),
    shutdown: () => simple((id) => encodeIdOnly(SERVICES.CLOSE_SERVER, id)),
    close: () => mux.close(),
    closed: mux.closed,
  };
}

function verifyEof(f: Frame, hash: Hash, bytes: number, total: number | null): string {
  const eof = decodeEof(f.payload);
  const digest = new Uint8Array(hash.digest());
  if (total === null) throw new FerryError("BAD_FRAME", "server sent EOF before FILE_INFO");
  if (eof.size !== bytes || bytes !== total) {
    throw new FerryError(
      "CHECKSUM_MISMATCH",
      `download incomplete: ${bytes} bytes received, ${total} announced, EOF says ${eof.size}`,
    );
  }
  if (!equalBytes(digest, eof.sha256)) {
    throw new FerryError(
      "CHECKSUM_MISMATCH",
      "SHA-256 of the received bytes does not match the server's",
    );
  }
  return hex(digest);
}

/** True for failures that leave a transfer resumable: the connection, not the data, failed. */
export function isInterruption(err: unknown): boolean {
  return err instanceof FerryError &&
    ["CONNECTION_CLOSED", "UNREACHABLE", "TIMEOUT", "SHUTTING_DOWN"].includes(err.code);
}
