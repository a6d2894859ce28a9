/**
 * The messages between the coordinator of a server running several isolates and its workers
 * (`postMessage`, structured clone). Requests that need an answer carry an `id` the answer
 * repeats.
 *
 * @module
 */

import type { LoginOutcome } from "../logins.ts";
import type { Limits } from "../limits.ts";
import type { LogFields } from "../log.ts";
import type { StorageChoice, StorageKind } from "../storage/open.ts";
import type { SharedBuffers } from "./shared_state.ts";

/** What a worker needs to serve: the coordinator's first message to it. */
export interface WorkerStart {
  readonly type: "start";
  /** The worker's number, 1..N, in its log lines. */
  readonly worker: number;
  /** Address to listen on. */
  readonly hostname: string;
  /** Port to listen on (the first worker's, once it is bound). */
  readonly port: number;
  /** The data root. */
  readonly root: string;
  /** Which storage serves it. */
  readonly storage: StorageChoice;
  /** Certificate chain, PEM. */
  readonly cert: string;
  /** Private key, PEM. */
  readonly key: string;
  /** Limits, complete. */
  readonly limits: Limits;
  /** The server's shared memory. */
  readonly buffers: SharedBuffers;
  /** True for the one worker that runs the cleanup of stale temporaries. */
  readonly cleanup: boolean;
}

/** Coordinator to worker. */
export type ToWorker =
  | WorkerStart
  /** The answer to a `login`. */
  | { readonly type: "login-result"; readonly id: number; readonly outcome: LoginOutcome }
  /** The commit lock asked for by `lock` is held for the worker until its `unlock`. */
  | { readonly type: "locked"; readonly id: number }
  /** Stop accepting and drain, then say `stopped`. */
  | { readonly type: "shutdown"; readonly reason: string };

/** Worker to coordinator. */
export type FromWorker =
  /** The worker listens (on `port`). */
  | {
    readonly type: "listening";
    readonly port: number;
    readonly kind: StorageKind;
    readonly reason: string;
    readonly root: string;
  }
  /** The worker could not start. */
  | {
    readonly type: "failed";
    readonly error: string;
    /** The `FerryError` code, if it was one. */
    readonly code?: string;
    /** The error's class name (`AddrInUse`...), to rebuild one of `Deno.errors`. */
    readonly name?: string;
  }
  /** Checks a token from a client address. */
  | {
    readonly type: "login";
    readonly id: number;
    readonly address: string;
    readonly token: string;
  }
  /** Waits for the commit lock of `key`. */
  | { readonly type: "lock"; readonly id: number; readonly key: string }
  /** Gives back the commit lock taken by request `id`. */
  | { readonly type: "unlock"; readonly id: number }
  /** An admin asked for the server to close. */
  | { readonly type: "close-server"; readonly by: string }
  /** A log line (the coordinator adds `worker=N` and writes it whole). */
  | { readonly type: "log"; readonly fields: LogFields }
  /** The worker has drained and stopped. */
  | { readonly type: "stopped" };
