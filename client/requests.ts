/**
 * Request plumbing over a {@linkcode Mux}: send a request, route its answer frames to a callback,
 * and turn ERROR frames into {@linkcode FerryError}s.
 *
 * @module
 */

import { decodeError } from "../protocol/messages/mod.ts";
import { serviceName, SERVICES } from "../protocol/services.ts";
import { FerryError } from "../protocol/errors.ts";
import type { Frame } from "../protocol/frame.ts";
import type { Mux } from "./mux.ts";

/** Turns an ERROR frame into a FerryError; any other unexpected frame into `BAD_FRAME`. */
export function unexpected(frame: Frame, expecting: string): FerryError {
  if (frame.type === SERVICES.ERROR.type && frame.num === SERVICES.ERROR.num) {
    const e = decodeError(frame.payload);
    return new FerryError(e.code, e.message);
  }
  const name = serviceName(frame.type, frame.num) ?? `(${frame.type},${frame.num})`;
  return new FerryError("BAD_FRAME", `server sent ${name} while ${expecting}`);
}

/** True when `frame` belongs to `service`. */
export function is(frame: Frame, service: { type: number; num: number }): boolean {
  return frame.type === service.type && frame.num === service.num;
}

/**
 * Sends `first` and resolves with the value `onFrame` returns (anything but `undefined`) for a
 * frame answering it; an ERROR frame rejects.
 */
export function request<T>(
  mux: Mux,
  id: number,
  first: Uint8Array | null,
  onFrame: (frame: Frame) => T | undefined | Promise<T | undefined>,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    mux.open(id, {
      async onFrame(frame) {
        if (is(frame, SERVICES.ERROR)) {
          mux.finish(id);
          reject(unexpected(frame, ""));
          return;
        }
        const value = await onFrame(frame);
        if (value !== undefined) {
          mux.finish(id);
          resolve(value);
        }
      },
      onError: reject,
    });
    if (first !== null) {
      mux.writer.send(first).catch((err) => {
        // A failed write means a broken connection. The read loop says why, and fails every
        // request with it: an error the server announced before closing (BUSY) explains more
        // than the write's "broken pipe". A connection whose reads do not end is closed.
        const timer = setTimeout(() => mux.close(), WRITE_FAILURE_GRACE_MS);
        mux.closed.then(() => {
          clearTimeout(timer);
          reject(err);
        });
      });
    }
  });
}

/** How long a connection whose write failed may take to end its reads, in ms. */
const WRITE_FAILURE_GRACE_MS = 1000;

/** Resolves like `promise`, or rejects `UNREACHABLE` (after calling `onTimeout`) after `ms`. */
export async function withDeadline<T>(
  promise: Promise<T>,
  ms: number,
  onTimeout: () => void,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          onTimeout();
          reject(new FerryError("UNREACHABLE", `no answer within ${ms} ms`));
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves like `done`; when `signal` aborts, request `id` fails with `CANCELLED` and the server is told. */
export function withAbort<T>(
  mux: Mux,
  done: Promise<T>,
  id: number,
  signal?: AbortSignal,
): Promise<T> {
  if (signal === undefined) return done;
  const onAbort = () => mux.abort(id, new FerryError("CANCELLED", "cancelled"));
  if (signal.aborted) onAbort();
  signal.addEventListener("abort", onAbort, { once: true });
  return done.finally(() => signal.removeEventListener("abort", onAbort));
}
