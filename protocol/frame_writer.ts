/**
 * Serialises frames from many concurrent producers onto one byte sink, merging small frames
 * into large writes (per-call overhead dominates TLS throughput) and applying backpressure:
 * `send` resolves only once its bytes were handed to the sink.
 *
 * @module
 */

import { FerryError, messageOf } from "./errors.ts";

/** Anything with a `write` like `Deno.Conn`. */
export interface ByteSink {
  /** Writes some of `p`, returning how many bytes were written. */
  write(p: Uint8Array): Promise<number>;
}

/** A queue of encoded frames in front of a {@linkcode ByteSink}. */
export interface FrameWriter {
  /** Queues encoded frame bytes; resolves once written, rejects if the sink failed. */
  send(bytes: Uint8Array): Promise<void>;
  /**
   * Queues a small frame without starting a write: it goes out with the next `send` or
   * `flush`, merged into one write (so answers to pipelined requests share a TCP segment).
   */
  defer(bytes: Uint8Array): void;
  /** Starts writing whatever is queued. */
  flush(): void;
  /** Bytes queued and not yet written. */
  readonly queued: number;
}

/** Writes all of `bytes` to `sink`, looping over short writes. */
export async function writeAll(sink: ByteSink, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await sink.write(bytes.subarray(offset));
}

interface Pending {
  bytes: Uint8Array;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Frames smaller than this are merged with their neighbours into one write. */
const MERGE_LIMIT = 64 * 1024;
/** Largest write built by merging. */
const MERGED_WRITE = 256 * 1024;

/** Creates a {@linkcode FrameWriter} over `sink`. */
export function createFrameWriter(sink: ByteSink): FrameWriter {
  let queue: Pending[] = [];
  let queued = 0;
  let flushing = false;
  let failure: Error | null = null;

  function fail(err: unknown, batch: Pending[]): void {
    failure = err instanceof FerryError ? err : new FerryError(
      "CONNECTION_CLOSED",
      `connection write failed: ${messageOf(err)}`,
      { cause: err },
    );
    for (const p of [...batch, ...queue]) p.reject(failure);
    queue = [];
    queued = 0;
  }

  async function flush(): Promise<void> {
    flushing = true;
    while (queue.length > 0 && failure === null) {
      // Take a run of small frames (or one large one) and write it in one call.
      const batch: Pending[] = [queue[0]];
      let size = queue[0].bytes.length;
      let i = 1;
      if (size < MERGE_LIMIT) {
        while (
          i < queue.length && queue[i].bytes.length < MERGE_LIMIT &&
          size + queue[i].bytes.length <= MERGED_WRITE
        ) {
          size += queue[i].bytes.length;
          batch.push(queue[i++]);
        }
      }
      queue = queue.slice(i);
      let data = batch[0].bytes;
      if (batch.length > 1) {
        data = new Uint8Array(size);
        let offset = 0;
        for (const p of batch) {
          data.set(p.bytes, offset);
          offset += p.bytes.length;
        }
      }
      try {
        await writeAll(sink, data);
      } catch (err) {
        fail(err, batch);
        break;
      }
      queued -= size;
      for (const p of batch) p.resolve();
    }
    flushing = false;
  }

  function send(bytes: Uint8Array): Promise<void> {
    if (failure !== null) return Promise.reject(failure);
    return new Promise<void>((resolve, reject) => {
      queue.push({ bytes, resolve, reject });
      queued += bytes.length;
      if (!flushing) void flush();
    });
  }

  function defer(bytes: Uint8Array): void {
    if (failure !== null) return;
    queue.push({ bytes, resolve: () => {}, reject: () => {} });
    queued += bytes.length;
  }

  return {
    send,
    defer,
    flush: () => {
      if (!flushing && queue.length > 0) void flush();
    },
    get queued() {
      return queued;
    },
  };
}
