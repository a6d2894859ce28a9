/**
 * A worker moving one range of a download over several streams (`streams.ts`): its own
 * connection (trusting the certificate and insisting on the checksum of the first one), its own
 * handle on the shared partial file, and its own thread, so that the streams' TLS, hashing and
 * writing run on as many cores. It receives one {@linkcode RangeJob}, reports progress, and ends
 * with one `done` or `error` message.
 *
 * @module
 */

import { FerryError, messageOf } from "../protocol/errors.ts";
import { createHasher } from "../common/hash_file.ts";
import { type DialOptions, openSession } from "./connect.ts";
import { receive } from "./receive.ts";
import type { Mux } from "./mux.ts";
import type { TransferSettings } from "./transfer_settings.ts";
import { openRangeWriter } from "./range_writer.ts";
import type { ErrorCode } from "../protocol/errors.ts";

/** One range to download, as posted to a worker. */
export interface RangeJob {
  /** How to connect. */
  dial: DialOptions;
  /** Remote path (as sent on the wire). */
  remote: string;
  /** The partial file, which exists and has the file's size. */
  path: string;
  /** How errors name the local file. */
  name: string;
  /** The range. */
  offset: number;
  /** Its length. */
  length: number;
  /** The size and time every FILE_INFO must give. */
  expect: { size: number; mtime: number | null };
}

/** What a worker posts back. */
export type RangeReply =
  | { kind: "progress"; bytes: number }
  | { kind: "done"; bytes: number; checksum: string }
  | { kind: "error"; code: ErrorCode; message: string };

interface WorkerScope {
  onmessage: ((event: MessageEvent<RangeJob>) => void) | null;
  postMessage(reply: RangeReply): void;
  close(): void;
}

/**
 * Downloads the range of `job` over `mux` into its file, reporting bytes as they come;
 * resolves with the range's verified digest.
 */
export async function downloadRange(
  mux: Mux,
  transfers: TransferSettings,
  job: Omit<RangeJob, "dial">,
  onBytes: (bytes: number) => void,
  signal?: AbortSignal,
): Promise<{ bytes: number; checksum: string }> {
  const writer = await openRangeWriter(job.path, job.offset, job.name);
  try {
    const algorithm = transfers.checksum ?? "sha256";
    const hash = createHasher(algorithm);
    const received = await receive(mux, {
      remote: job.remote,
      offset: job.offset,
      length: job.length,
      sink: writer,
      hash: () => hash,
      hashHere: true,
      expect: job.expect,
      signal,
      onProgress: ({ bytes }) => onBytes(bytes),
      transfers,
      algorithm,
    });
    await writer.flush();
    return { bytes: received.bytes, checksum: received.checksum };
  } finally {
    await writer.close();
  }
}

/** Connects as `job.dial` says and downloads the job's range, posting progress. */
async function runRangeJob(
  job: RangeJob,
  post: (reply: RangeReply) => void,
): Promise<{ bytes: number; checksum: string }> {
  const session = await openSession(job.dial);
  try {
    return await downloadRange(
      session.mux,
      session.transfers,
      job,
      (bytes) => post({ kind: "progress", bytes }),
    );
  } finally {
    session.mux.close();
  }
}

if (typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== "undefined") {
  const scope = self as unknown as WorkerScope;
  scope.onmessage = async (event) => {
    try {
      const done = await runRangeJob(event.data, (reply) => scope.postMessage(reply));
      scope.postMessage({ kind: "done", ...done });
    } catch (err) {
      const e = err instanceof FerryError ? err : new FerryError("INTERNAL", messageOf(err));
      scope.postMessage({ kind: "error", code: e.code, message: e.message });
    } finally {
      scope.close();
    }
  };
}
