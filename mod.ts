/**
 * ferry: a secure client/server file service over TLS.
 *
 * The client library: {@linkcode connect} to a server, then list, download, upload and delete
 * files. Every error is a {@linkcode FerryError} with a stable `code`.
 *
 * ```ts ignore
 * import { connect } from "./mod.ts";
 *
 * const client = await connect({
 *   hostname: "localhost",
 *   token: Deno.env.get("FERRY_TOKEN")!,
 *   caCerts: [await Deno.readTextFile("certs/ca.pem")],
 * });
 * await client.upload("report.pdf", "reports/2026.pdf");
 * for (const e of await client.list("reports")) console.log(e.kind, e.size, e.name);
 * await client.download("reports/2026.pdf", "/tmp/copy.pdf");
 * client.close();
 * ```
 *
 * Transfers also go to and from streams, report progress and stop on an abort signal; a server
 * without a CA-signed certificate can be trusted by its certificate's fingerprint:
 *
 * ```ts ignore
 * const client = await connect({ token, trustedFingerprint: "21:EA:60:…:74:BE" });
 * const controller = new AbortController();
 * await client.download("big.iso", Deno.stdout.writable, {
 *   signal: controller.signal,
 *   onProgress: ({ bytes, total }) => console.error(bytes, total),
 * });
 * await client.upload(ReadableStream.from([new Uint8Array([1, 2, 3])]), "three.bin");
 * ```
 *
 * This module is the client library. The server runs as a program (`deno task serve`, or the
 * compiled `ferry-server`); to start one in-process, use `serve` from the `./server` entry
 * (`server/mod.ts`).
 *
 * @module
 */

export { connect, DEFAULT_PORT } from "./client/connect.ts";
export { CertificateNameError } from "./client/name_mismatch.ts";
export type {
  ConnectOptions,
  DownloadOptions,
  FerryClient,
  HashAlgorithm,
  ListOptions,
  Progress,
  ServerTrust,
  TransferOptions,
  TransferResult,
  UploadOptions,
} from "./client/types.ts";
export { isInterruption } from "./protocol/errors.ts";
export { UnreachableError, type UnreachableReason } from "./client/dial.ts";
export { normalizeFingerprint, type ServerCertificate } from "./client/fingerprints.ts";
export type { Entry, EntryKind, Role } from "./protocol/messages/mod.ts";
export { ERROR_CODES, type ErrorCode, FerryError, isFerryError } from "./protocol/errors.ts";
