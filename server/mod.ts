/**
 * The ferry server as a library: start one in-process with {@linkcode serve} (tests and embedding
 * do; people run `deno task serve`, which is `server/main.ts`), or one serving from several
 * isolates on one port with {@linkcode serveWorkers} (Linux, `--unstable-net`).
 *
 * @example Serving a directory
 * ```ts ignore
 * import { hashToken, serve } from "@ferry/ferry/server";
 *
 * const server = await serve({
 *   root: "./data",
 *   cert: await Deno.readTextFile("certs/server.pem"),
 *   key: await Deno.readTextFile("certs/server-key.pem"),
 *   accounts: [{ user: "admin", role: "admin", tokenHash: hashToken(Deno.env.get("TOKEN")!) }],
 *   port: 4433,
 * });
 * await server.finished;
 * ```
 *
 * @module
 */

export { type FerryServer, serve, type ServeOptions } from "./server.ts";
export {
  parseWorkers,
  serveWorkers,
  type WorkersOptions,
  type WorkersServer,
} from "./workers/coordinator.ts";
export { type Account, hashToken } from "./auth.ts";
export { DEFAULT_LIMITS, type Limits } from "./limits.ts";
export type { LogFields, Logger } from "./log.ts";
export type { StorageChoice, StorageKind } from "./storage/open.ts";
export type { Role } from "../protocol/messages/mod.ts";
export type {
  CleanupOptions,
  CleanupResult,
  Entry,
  ExpectedContent,
  FileReader,
  HashAlgorithm,
  HashOptions,
  Listing,
  ListingOptions,
  PrefixDigest,
  ResumeRequest,
  StagedUpload,
  StageRequest,
  Storage,
} from "./storage/storage.ts";
