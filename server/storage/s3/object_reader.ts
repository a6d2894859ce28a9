/**
 * {@linkcode ObjectReader}: reads an object sequentially into buffers the caller owns, the way a
 * file is read, over one streaming GET. Each `read` copies from the reply's chunks into the
 * caller's buffer (no buffer is transferred or detached, so a frame buffer can be reused); a
 * `seek` elsewhere starts a new ranged GET pinned to the same ETag, so all bytes come from one
 * version of the object. A body that breaks off mid-way is picked up once with a new ranged GET.
 *
 * A reply body that is a byte stream (`fetch`'s is) is read in BYOB mode into one scratch buffer
 * of {@linkcode READ_CHUNK} bytes per reader, reused for every read: the default mode hands out
 * each chunk in a new buffer, and under load (many downloads at once) those garbage buffers were
 * the largest part of the server's peak memory. Another stream is read in the default mode.
 *
 * @module
 */

import { FerryError } from "../../../protocol/errors.ts";
import type { S3Client } from "./client.ts";
import { isS3Error, S3Error } from "./errors.ts";
import { getObject } from "./get_object.ts";
import { headObject } from "./head_object.ts";
import type { ObjectInfo } from "./object_info.ts";

/** Bytes of the scratch buffer a BYOB read fills. */
export const READ_CHUNK = 64 * 1024;

/** The reader of a reply body: BYOB when the body is a byte stream. */
type BodyReader = ReadableStreamBYOBReader | ReadableStreamDefaultReader<Uint8Array>;

/** A reader of `body`: BYOB when it is a byte stream, the default one otherwise. */
function bodyReader(body: ReadableStream<Uint8Array>): BodyReader {
  try {
    return body.getReader({ mode: "byob" });
  } catch {
    return body.getReader(); // not a byte stream
  }
}

/** Options of {@linkcode ObjectReader.open}. */
export interface ObjectReaderOptions {
  /** Where to start (default 0); the object's size is allowed (nothing to read). */
  readonly offset?: number;
  /** Read only this version: fail with `PreconditionFailed` if the ETag differs. */
  readonly ifMatch?: string;
  /** Aborts the requests and reads. */
  readonly signal?: AbortSignal;
}

/** Reads one version of an object sequentially into caller buffers. */
export class ObjectReader {
  /** The object being read (its ETag pins every further request). */
  readonly info: ObjectInfo;
  readonly #client: S3Client;
  readonly #signal?: AbortSignal;
  #position: number;
  #reader?: BodyReader;
  #chunk: Uint8Array = new Uint8Array(0);
  /** What a BYOB read fills; `#chunk` is a view of it until it is used up. */
  #scratch: Uint8Array | undefined;
  #closed = false;

  private constructor(
    client: S3Client,
    info: ObjectInfo,
    position: number,
    reader: BodyReader | undefined,
    signal: AbortSignal | undefined,
  ) {
    this.#client = client;
    this.info = info;
    this.#position = position;
    this.#reader = reader;
    this.#signal = signal;
  }

  /**
   * Opens `key` for reading from `offset`. Throws {@linkcode S3Error} `NoSuchKey` when it does not
   * exist, `BAD_ARGUMENT` for an offset past its end.
   */
  static async open(
    client: S3Client,
    key: string,
    options: ObjectReaderOptions = {},
  ): Promise<ObjectReader> {
    const offset = options.offset ?? 0;
    try {
      const got = await getObject(client, key, {
        offset,
        ifMatch: options.ifMatch,
        signal: options.signal,
      });
      return new ObjectReader(client, got.info, offset, bodyReader(got.body), options.signal);
    } catch (err) {
      if (!isS3Error(err, "InvalidRange")) throw err;
      // at or past the end: fine when exactly at the end (an empty rest)
      const info = await headObject(client, key, options);
      if (offset !== info.size) {
        throw new FerryError("BAD_ARGUMENT", `offset ${offset} is past the end (${info.size})`);
      }
      return new ObjectReader(client, info, offset, undefined, options.signal);
    }
  }

  /** The offset in the object of the next byte `read` returns. */
  get position(): number {
    return this.#position;
  }

  /**
   * Copies the next bytes into `target` and returns how many (at least 1 when `target` is not
   * empty), or null at the end of the object.
   */
  async read(target: Uint8Array): Promise<number | null> {
    if (this.#closed) throw new FerryError("INTERNAL", "ObjectReader: read after close");
    if (this.#position >= this.info.size) return null;
    if (target.length === 0) return 0;
    while (this.#chunk.length === 0) {
      this.#chunk = await this.#nextChunk();
    }
    const n = Math.min(target.length, this.#chunk.length);
    target.set(this.#chunk.subarray(0, n));
    this.#chunk = this.#chunk.subarray(n);
    this.#position += n;
    return n;
  }

  /** Fills `target` and returns its length, or fewer bytes at the end of the object (0 at the end). */
  async readFull(target: Uint8Array): Promise<number> {
    let filled = 0;
    while (filled < target.length) {
      const n = await this.read(target.subarray(filled));
      if (n === null) break;
      filled += n;
    }
    return filled;
  }

  /** Moves to `position` (0..size); the next `read` starts there. */
  async seek(position: number): Promise<void> {
    if (!Number.isSafeInteger(position) || position < 0 || position > this.info.size) {
      throw new FerryError("BAD_ARGUMENT", `seek to ${position}: outside 0..${this.info.size}`);
    }
    if (position === this.#position) return;
    await this.#drop();
    this.#position = position;
  }

  /** Ends the GET in flight, if any. Reading after this throws. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#drop();
  }

  async #drop(): Promise<void> {
    const reader = this.#reader;
    this.#reader = undefined;
    this.#chunk = new Uint8Array(0);
    await reader?.cancel().catch(() => {});
  }

  /** Reads the next chunk: into the scratch buffer (BYOB), or a new one (default mode). */
  async #readBody(reader: BodyReader): Promise<ReadableStreamReadResult<Uint8Array>> {
    if (!(reader instanceof ReadableStreamBYOBReader)) return await reader.read();
    // a buffer lent to a read that was cancelled is not given back: take a new one then
    const scratch = this.#scratch?.byteLength ? this.#scratch : new Uint8Array(READ_CHUNK);
    this.#scratch = undefined;
    const result = await reader.read(scratch);
    if (result.value !== undefined) {
      // the read moved the bytes to a new ArrayBuffer over the same memory: keep all of it
      this.#scratch = new Uint8Array(result.value.buffer);
    }
    return result;
  }

  /** The next chunk of the body; (re)opens the GET at the current position when needed. */
  async #nextChunk(): Promise<Uint8Array> {
    for (let attempt = 0;; attempt++) {
      if (!this.#reader) {
        const got = await getObject(this.#client, this.info.key, {
          offset: this.#position,
          ifMatch: this.info.etag,
          signal: this.#signal,
        });
        this.#reader = bodyReader(got.body);
      }
      try {
        const { done, value } = await this.#readBody(this.#reader);
        if (!done && value !== undefined) return value;
        // the body ended before the object did
        throw new S3Error(
          { s3Code: "IncompleteBody", status: 0, method: "GET", key: this.info.key },
          `GET ${this.info.key}: the body ended at ${this.#position} of ${this.info.size}`,
        );
      } catch (err) {
        await this.#drop();
        if (this.#signal?.aborted) throw this.#signal.reason;
        if (attempt >= 1) {
          if (err instanceof S3Error) throw err;
          throw new S3Error(
            { s3Code: "NetworkError", status: 0, method: "GET", key: this.info.key },
            `GET ${this.info.key}: ${err instanceof Error ? err.message : err}`,
            { cause: err },
          );
        }
      }
    }
  }
}
