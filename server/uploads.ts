/**
 * The uploads in flight on one connection: which request id each has, where each stands
 * (receiving data, or committing after its EOF), which rejected ids have data frames still on
 * their way (dropped silently), and what happens to them when one fails, is cancelled, or the
 * connection ends. The bytes themselves are the storage's ({@linkcode StagedUpload}); the
 * protocol around them is `server/handlers/upload.ts`.
 *
 * @module
 */

import { FerryError } from "../protocol/errors.ts";
import type { StagedUpload } from "./storage/storage.ts";
import type { Quota } from "./quota.ts";
import type { LogFields } from "./log.ts";
import type { HashAlgorithm } from "../common/hash_file.ts";

/** Rejected upload ids remembered per connection so their data frames are dropped silently. */
const MAX_DISCARDING = 1024;

/** One upload in flight. */
export interface UploadState {
  /** Request id. */
  readonly id: number;
  /** Target path, as the client sent it. */
  readonly path: string;
  /** The bytes, staged in the storage. */
  readonly staged: StagedUpload;
  /** The checksum algorithm of its EOF: the connection's when the upload opened. */
  readonly algorithm: HashAlgorithm;
  /** Declared size, or `UNKNOWN_SIZE`. */
  readonly expected: number;
  /** Bytes reserved in the quota for this upload (its declared size). */
  readonly reserved: number;
  /** When it started (`performance.now()`), for the log. */
  readonly started: number;
  /** Bytes received, a resumed upload's kept ones included. */
  received: number;
  /** True once the quota reservation was given back. */
  released: boolean;
}

/** What the uploads of a connection need from it. */
export interface UploadHost {
  /** The server's quota. */
  readonly quota: Quota;
  /** Logs a line for this connection. */
  log(fields: LogFields): void;
  /** Answers request `id` with an ERROR frame; never throws. */
  sendError(id: number, err: FerryError): Promise<void>;
}

/** The uploads in flight on one connection. */
export interface Uploads {
  /** Uploads in flight: receiving data or committing. */
  readonly size: number;
  /** True when `id` belongs to an upload in flight or to a rejected one still being dropped. */
  has(id: number): boolean;
  /** True when `id` is a rejected upload whose data frames and EOF are being dropped. */
  dropping(id: number): boolean;
  /** The upload receiving data under `id`, if any. */
  get(id: number): UploadState | undefined;
  /**
   * The upload a data or EOF frame with `id` belongs to; `undefined` means the frame belongs
   * to a rejected upload and is dropped silently.
   *
   * @throws {FerryError} `UNKNOWN_REQUEST` when no upload has that id.
   */
  forFrame(id: number): UploadState | undefined;
  /**
   * Registers an upload that starts receiving, reserving its declared size in the quota.
   *
   * @throws {FerryError} `NO_SPACE` when the quota cannot take it (then nothing is registered).
   */
  open(state: UploadState): void;
  /** The upload's EOF arrived: it takes no more data, but stays in flight until it ends. */
  committing(state: UploadState): void;
  /** The upload ended (committed): it is no longer in flight, its reservation is given back. */
  finish(state: UploadState): void;
  /**
   * Fails an upload: removes its temporary, drops its later frames (unless its EOF was seen),
   * logs and answers ERROR.
   */
  fail(state: UploadState, err: FerryError, eofSeen: boolean): Promise<void>;
  /**
   * CANCEL of `id`: an upload receiving data fails with CANCELLED; one already committing
   * goes on (its OK or ERROR answers the client).
   *
   * @returns false when `id` is no upload in flight.
   */
  cancel(id: number): Promise<boolean>;
  /** Request `id` was refused before any data: drop the data frames already on their way. */
  reject(id: number): void;
  /** An EOF with `id` arrived: a rejected upload's frames have all been dropped. */
  endRejected(id: number): void;
  /**
   * The connection ended: every upload still receiving gives its quota reservation back and
   * keeps its bytes when resumable (removes them otherwise).
   */
  interruptAll(): Promise<void>;
}

/** The uploads of one connection. */
export function createUploads(host: UploadHost): Uploads {
  const receiving = new Map<number, UploadState>();
  const committing = new Set<number>();
  const discarding = new Set<number>();

  function reject(id: number): void {
    if (discarding.size >= MAX_DISCARDING) {
      const oldest = discarding.values().next().value;
      if (oldest !== undefined) discarding.delete(oldest);
    }
    discarding.add(id);
  }

  function finish(state: UploadState): void {
    receiving.delete(state.id);
    committing.delete(state.id);
    if (!state.released) {
      state.released = true;
      host.quota.release(state.reserved);
    }
  }

  async function fail(state: UploadState, err: FerryError, eofSeen: boolean): Promise<void> {
    finish(state);
    await state.staged.discard();
    if (!eofSeen) reject(state.id);
    host.log({ op: "put", path: state.path, bytes: state.received, result: err.code });
    await host.sendError(state.id, err);
  }

  return {
    get size() {
      return receiving.size + committing.size;
    },
    has(id) {
      return receiving.has(id) || committing.has(id) || discarding.has(id);
    },
    dropping(id) {
      return discarding.has(id);
    },
    get(id) {
      return receiving.get(id);
    },
    forFrame(id) {
      const state = receiving.get(id);
      if (state !== undefined || discarding.has(id)) return state;
      throw new FerryError("UNKNOWN_REQUEST", `no upload ${id} is in flight`);
    },
    open(state) {
      host.quota.reserve(state.reserved, state.staged.replacing);
      receiving.set(state.id, state);
    },
    committing(state) {
      receiving.delete(state.id);
      committing.add(state.id);
    },
    finish,
    fail,
    async cancel(id) {
      if (committing.has(id)) return true;
      const state = receiving.get(id);
      if (state === undefined) return false;
      await fail(state, new FerryError("CANCELLED", "upload cancelled by the client"), false);
      return true;
    },
    reject,
    endRejected(id) {
      discarding.delete(id);
    },
    async interruptAll() {
      const left = [...receiving.values()];
      for (const state of left) finish(state); // their reservations are given back
      discarding.clear();
      await Promise.allSettled(left.map((state) => state.staged.interrupted()));
    },
  };
}
