/**
 * Web streams for transfers: a source from chunks, a source the test feeds by hand, and a sink
 * that keeps what it receives.
 *
 * @module
 */

import { concat } from "./bytes.ts";
import { sleep } from "./net.ts";

/**
 * A ReadableStream of `chunks` in order; given one array, of that array cut into pieces of
 * `chunkSize` bytes.
 */
export function streamOf(
  chunks: Uint8Array[] | Uint8Array,
  chunkSize = 64 * 1024,
): ReadableStream<Uint8Array> {
  const parts = Array.isArray(chunks) ? chunks : Array.from(
    { length: Math.ceil(chunks.length / chunkSize) },
    (_, i) => chunks.slice(i * chunkSize, (i + 1) * chunkSize),
  );
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (i < parts.length) c.enqueue(parts[i++]);
      else c.close();
    },
  });
}

/** A ReadableStream the test feeds by hand, from {@linkcode handFedStream}. */
export interface HandFed {
  /** The stream. */
  stream: ReadableStream<Uint8Array>;
  /** Enqueues a chunk. */
  push(chunk: Uint8Array): void;
  /** Closes the stream. */
  end(): void;
  /** Errors the stream. */
  fail(reason: unknown): void;
}

/** A ReadableStream the test feeds by hand: `push` a chunk, `end` it, or `fail` it. */
export function handFedStream(): HandFed {
  let ctrl!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      ctrl = c;
    },
  });
  return {
    stream,
    push: (b) => ctrl.enqueue(b),
    end: () => ctrl.close(),
    fail: (e) => ctrl.error(e),
  };
}

/**
 * Starts a transfer from a stream fed by hand (`start`), runs `fn` while it is in flight, and
 * returns the transfer's result. If `fn` throws, the stream fails first, so the transfer ends
 * too; either way the transfer has settled when this returns.
 */
export async function feeding<T>(
  start: (stream: ReadableStream<Uint8Array>) => Promise<T>,
  fn: (feed: HandFed) => Promise<void>,
): Promise<T> {
  const feed = handFedStream();
  const transfer = start(feed.stream);
  transfer.catch(() => {}); // may reject while fn awaits something else
  try {
    await fn(feed);
  } catch (err) {
    feed.fail(err);
    throw err;
  } finally {
    await transfer.catch(() => {});
  }
  return await transfer;
}

/** A sink made by {@linkcode collector}. */
export interface Collector {
  /** The stream to write to. */
  stream: WritableStream<Uint8Array>;
  /** Everything received so far, concatenated. */
  bytes(): Uint8Array;
  /** Whether the stream was closed. */
  readonly closed: boolean;
  /** The abort reason, once the stream was aborted. */
  readonly aborted: unknown;
}

/** A WritableStream that keeps what it receives; `delayMs` slows every write. */
export function collector(delayMs = 0): Collector {
  const chunks: Uint8Array[] = [];
  let closed = false;
  let aborted: unknown = undefined;
  const stream = new WritableStream<Uint8Array>({
    async write(chunk) {
      if (delayMs > 0) await sleep(delayMs);
      chunks.push(chunk);
    },
    close() {
      closed = true;
    },
    abort(reason) {
      aborted = reason ?? "aborted";
    },
  });
  return {
    stream,
    bytes: () => concat(chunks),
    get closed() {
      return closed;
    },
    get aborted() {
      return aborted;
    },
  };
}
