/**
 * LIST (0,0): streams a directory's entries as LIST_ENTRIES batches. Entries are read with
 * lstat, so a symlink is shown as a link and its target is never touched; the server's
 * temporary files are hidden.
 *
 * @module
 */

import {
  decodePathRequest,
  encodeListEntries,
  type Entry,
  entrySize,
  LIST_ENTRIES_OVERHEAD,
} from "../../protocol/messages.ts";
import { MAX_PAYLOAD } from "../../protocol/header.ts";
import { utf8Bytes } from "../../protocol/bytes.ts";
import { FerryError } from "../../protocol/errors.ts";
import { fsError, isTempName, resolveExisting } from "../paths.ts";
import { logOp, type Session } from "../session.ts";
import { requireRole } from "./access.ts";

/**
 * Entries stat'ed in one synchronous slice. One async lstat per entry costs a thread hand-off
 * each (about twice the time and four times the CPU for 100,000 entries); a slice of sync
 * lstats blocks the event loop for about a millisecond, and the loop runs between slices.
 */
const STAT_BATCH = 512;

/** Describes a file-system entry from its lstat result. */
export function entryOf(name: string, info: Deno.FileInfo): Entry {
  const kind = info.isSymlink
    ? "symlink"
    : info.isDirectory
    ? "dir"
    : info.isFile
    ? "file"
    : "other";
  return {
    name,
    kind,
    size: kind === "file" ? info.size : 0,
    mtime: info.mtime?.getTime() ?? null,
  };
}

async function* directoryEntries(
  absolute: string,
  clientPath: string,
  signal: AbortSignal,
): AsyncGenerator<Entry> {
  let names: string[] = [];
  const statBatch = async function* () {
    const entries: Entry[] = [];
    for (const name of names) {
      try {
        entries.push(entryOf(name, Deno.lstatSync(`${absolute}/${name}`)));
      } catch {
        // An entry removed between readDir and lstat is simply not listed.
      }
    }
    names = [];
    yield* entries;
    await new Promise((resolve) => setTimeout(resolve, 0)); // let other connections run
  };
  try {
    for await (const dirEntry of Deno.readDir(absolute)) {
      signal.throwIfAborted();
      if (isTempName(dirEntry.name)) continue;
      names.push(dirEntry.name);
      if (names.length >= STAT_BATCH) yield* statBatch();
    }
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    throw fsError(err, clientPath);
  }
  yield* statBatch();
}

/**
 * Locates an existing path inside `root` and stats it (symlinks inside the root followed);
 * `entry` describes it under its last path component (`.` for the root).
 */
export async function statPath(
  root: string,
  clientPath: string,
): Promise<{ absolute: string; info: Deno.FileInfo; entry: Entry }> {
  const { absolute, components } = await resolveExisting(root, clientPath);
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(absolute);
  } catch (err) {
    throw fsError(err, clientPath);
  }
  return { absolute, info, entry: entryOf(components.at(-1) ?? ".", info) };
}

/** LIST (0,0) handler. */
export function handleList(session: Session, payload: Uint8Array): Promise<void> {
  const req = decodePathRequest(payload);
  requireRole(session, "read", "listing");
  session.run(req.id, "ls", async (signal) => {
    const started = performance.now();
    const { absolute, info, entry } = await statPath(session.ctx.root, req.path);
    const entries: AsyncIterable<Entry> | Entry[] = info.isDirectory
      ? directoryEntries(absolute, req.path, signal)
      : [entry];

    let batch: Entry[] = [];
    let size = LIST_ENTRIES_OVERHEAD;
    let count = 0;
    for await (const entry of entries) {
      const bytes = entrySize(utf8Bytes(entry.name).length);
      if (size + bytes > MAX_PAYLOAD) {
        signal.throwIfAborted();
        await session.writer.send(encodeListEntries({ id: req.id, last: false, entries: batch }));
        batch = [];
        size = LIST_ENTRIES_OVERHEAD;
      }
      batch.push(entry);
      size += bytes;
      count++;
    }
    if (signal.aborted) throw new FerryError("CANCELLED", "listing cancelled");
    await session.writer.send(encodeListEntries({ id: req.id, last: true, entries: batch }));
    logOp(session, {
      op: "ls",
      path: req.path,
      entries: count,
      ms: Math.round(performance.now() - started),
      result: "ok",
    });
  });
  return Promise.resolve();
}
