/**
 * A {@linkcode FerryClient} over an authenticated connection: each operation is one function of
 * `operations.ts`, `download.ts` or `upload.ts`, bound to the connection's multiplexer. Use
 * `connect` (`connect.ts`) to get one.
 *
 * @module
 */

import type { Role } from "../protocol/messages/mod.ts";
import type { Mux } from "./mux.ts";
import type { FerryClient, ServerTrust } from "./types.ts";
import { download } from "./download.ts";
import { upload } from "./upload.ts";
import { hashRemote, list, listEach, mkdir, remove, rename, shutdown, stat } from "./operations.ts";
import type { TransferSettings } from "./transfer_settings.ts";
import type { DialOptions } from "./connect.ts";

/**
 * The client of an authenticated connection: who it is logged in as, and every operation;
 * `transfers` holds what all its downloads and uploads share (rate limit, stall timeout), and
 * `dial` how to open more connections like it (for a download over several streams).
 */
export function createClient(
  mux: Mux,
  serverAgent: string,
  role: Role,
  user: string,
  trust: ServerTrust,
  transfers: TransferSettings,
  dial?: DialOptions,
): FerryClient {
  return {
    user,
    role,
    serverAgent,
    trust,
    checksum: transfers.checksum ?? "sha256",
    list: (path, options) => list(mux, path, options, transfers.listNames ?? false),
    listEach: (path, visit, options) =>
      listEach(mux, path, visit, options, transfers.listNames ?? false),
    download: (remote, destination, options) =>
      download(mux, remote, destination, options, transfers, dial),
    upload: (source, remote, options) => upload(mux, source, remote, options, transfers),
    remove: (path) => remove(mux, path),
    stat: (path) => stat(mux, path),
    hash: (path, options) =>
      hashRemote(mux, path, options?.algorithm ?? "sha256", transfers.checksum ?? "sha256"),
    mkdir: (path, options) => mkdir(mux, path, options),
    rename: (from, to, options) => rename(mux, from, to, options),
    shutdown: () => shutdown(mux),
    close: () => mux.close(),
    closed: mux.closed,
  };
}
