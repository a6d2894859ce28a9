/**
 * The operations that are one request and its answer: list, stat, hash, mkdir, rename, remove
 * and shutdown.
 *
 * @module
 */

import {
  decodeDigest,
  decodeListEntries,
  decodeStatResult,
  encodeHashRequest,
  encodeIdOnly,
  encodeList,
  encodeMkdir,
  encodePathRequest,
  encodeRename,
  type Entry,
} from "../protocol/messages/mod.ts";
import { SERVICES } from "../protocol/services.ts";
import { UNKNOWN_SIZE } from "../protocol/bytes.ts";
import { FerryError } from "../protocol/errors.ts";
import type { HashAlgorithm } from "../common/hash_file.ts";
import type { Mux } from "./mux.ts";
import type { ListOptions } from "./types.ts";
import { is, request, unexpected, withAbort } from "./requests.ts";
import { wirePath } from "./wire_values.ts";

/**
 * Lists a remote directory (default: the root), or describes one remote file. `namesOnly` is
 * sent only to a server that announced `LIST_NAMES` (`listNames`), as PROTOCOL.md §8 asks.
 */
export async function list(
  mux: Mux,
  path = ".",
  options: ListOptions = {},
  listNames = false,
): Promise<Entry[]> {
  const entries: Entry[] = [];
  await listEach(
    mux,
    path,
    (batch) => {
      for (const entry of batch) entries.push(entry);
    },
    options,
    listNames,
  );
  return entries;
}

/**
 * Lists like {@linkcode list}, but hands each batch of entries to `visit` as it arrives
 * (one LIST_ENTRIES frame, a few thousand entries at most) instead of collecting them, and
 * resolves to the number of entries.
 */
export async function listEach(
  mux: Mux,
  path: string,
  visit: (entries: Entry[]) => void,
  options: ListOptions = {},
  listNames = false,
): Promise<number> {
  const id = mux.nextId();
  let count = 0;
  const wire = wirePath(path);
  const namesOnly = options.namesOnly === true && listNames ? true : undefined;
  const done = request(mux, id, encodeList({ id, path: wire, namesOnly }), (f) => {
    if (!is(f, SERVICES.LIST_ENTRIES)) throw unexpected(f, "listing");
    const batch = decodeListEntries(f.payload);
    count += batch.entries.length;
    visit(batch.entries);
    return batch.last ? count : undefined;
  });
  return await withAbort(mux, done, id, options.signal);
}

/** Describes one remote path (`name` is its last component). */
export async function stat(mux: Mux, path: string): Promise<Entry> {
  const id = mux.nextId();
  const wire = wirePath(path);
  return await request(mux, id, encodePathRequest(SERVICES.STAT, { id, path: wire }), (f) => {
    if (is(f, SERVICES.STAT_RESULT)) return decodeStatResult(f.payload).entry;
    throw unexpected(f, "stat");
  });
}

/**
 * Hex digest of a remote file in `algorithm`, computed by the server: SHA-256, or `checksum`,
 * the one the connection negotiated (the only others a server is known to have).
 */
export async function hashRemote(
  mux: Mux,
  path: string,
  algorithm: HashAlgorithm,
  checksum: HashAlgorithm,
): Promise<string> {
  if (algorithm !== "sha256" && algorithm !== checksum) {
    throw new FerryError("UNSUPPORTED", `this connection cannot hash with ${algorithm}`);
  }
  const id = mux.nextId();
  const wire = wirePath(path);
  return await request(
    mux,
    id,
    // SHA-256 is asked for as it always was: a server of any age answers it.
    encodeHashRequest({
      id,
      length: UNKNOWN_SIZE,
      path: wire,
      algorithm: algorithm === "sha256" ? undefined : algorithm,
    }),
    (f) => {
      if (is(f, SERVICES.HASH_RESULT)) return decodeDigest(f.payload, algorithm).digest.toHex();
      throw unexpected(f, "hashing");
    },
  );
}

/** Deletes a remote file, symlink or empty directory. */
export async function remove(mux: Mux, path: string): Promise<void> {
  const wire = wirePath(path);
  return await simple(mux, (id) => encodePathRequest(SERVICES.DELETE, { id, path: wire }));
}

/** Creates a remote directory; with `parents`, also missing parents, and succeeds if it exists. */
export async function mkdir(
  mux: Mux,
  path: string,
  options: { parents?: boolean } = {},
): Promise<void> {
  const wire = wirePath(path);
  return await simple(
    mux,
    (id) => encodeMkdir({ id, parents: options.parents ?? false, path: wire }),
  );
}

/** Renames or moves a remote path; an existing file at `to` is replaced only with `replace`. */
export async function rename(
  mux: Mux,
  from: string,
  to: string,
  options: { replace?: boolean } = {},
): Promise<void> {
  const [f, t] = [wirePath(from), wirePath(to)];
  return await simple(
    mux,
    (id) => encodeRename({ id, replace: options.replace ?? false, from: f, to: t }),
  );
}

/** Shuts the server down (admin only). */
export function shutdown(mux: Mux): Promise<void> {
  return simple(mux, (id) => encodeIdOnly(SERVICES.CLOSE_SERVER, id));
}

/** Sends the request `encode(id)` builds and waits for its OK. */
function simple(mux: Mux, encode: (id: number) => Uint8Array): Promise<void> {
  const id = mux.nextId();
  return request(mux, id, encode(id), (f) => {
    if (is(f, SERVICES.OK)) return true;
    throw unexpected(f, "waiting for OK");
  }).then(() => {});
}
