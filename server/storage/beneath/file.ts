/**
 * {@linkcode BeneathFile}: an open regular file, by descriptor. Reads, writes, truncation,
 * fsync and close run on Deno's blocking thread pool (`nonblocking` FFI symbols), so a slow
 * disk never stalls the event loop; measured, a 256 KiB `pread` this way is as fast as
 * `Deno.FsFile.read`. Reads and writes of at most {@linkcode SYNC_IO_MAX} bytes run on the
 * calling thread instead: a few KiB to or from the page cache take microseconds, while a pool
 * call costs 50-100 µs of CPU, which is most of what a small file costs the server.
 *
 * errno of a pool call is set on the pool thread and cannot be read from JavaScript. On a
 * failure, `pread`, `pwrite` at the same offset, and `ftruncate` are repeated synchronously
 * once to learn it: they are idempotent, and errors worth naming (ENOSPC, EDQUOT, EFBIG, EIO)
 * persist. If the repeat succeeds, its result is used. `fsync` cannot be repeated (Linux
 * reports a writeback error once), so a failed fsync is `INTERNAL` ("could not be flushed
 * to disk").
 *
 * @module
 */

import { FerryError } from "../../../protocol/errors.ts";
import { errnoError } from "./errno.ts";
import { AT, type Libc, STATX_BASIC_STATS, STATX_SIZE } from "./libc.ts";
import { decodeStatx, type FileStat } from "./statx.ts";

/** Largest read or write made on the calling thread rather than on the pool. */
export const SYNC_IO_MAX = 64 * 1024;

/** Returns a FileStat for an open descriptor, or throws with `shown` in the message. */
export function statFd(libc: Libc, fd: number, shown: string): FileStat {
  const buf = new Uint8Array(STATX_SIZE);
  const r = libc.statx(fd, "", AT.EMPTY_PATH, STATX_BASIC_STATS, buf);
  if (r < 0) throw errnoError(-r, "other", shown);
  return decodeStatx(buf);
}

/** An open file below the root. Close it exactly once. */
export class BeneathFile {
  readonly #libc: Libc;
  #fd: number;
  #position = 0;
  /** Calls on the pool not yet finished; close waits for them so the number is not reused. */
  #inFlight = new Set<Promise<unknown>>();
  /** The client path, quoted, for messages. */
  readonly shown: string;

  /** Wraps `fd` (owned from now on). `shown` is the quoted client path used in messages. */
  constructor(libc: Libc, fd: number, shown: string) {
    this.#libc = libc;
    this.#fd = fd;
    this.shown = shown;
    libc.retain();
  }

  /** The descriptor; throws after {@linkcode BeneathFile.close}. */
  get fd(): number {
    if (this.#fd < 0) throw new FerryError("INTERNAL", `${this.shown}: file already closed`);
    return this.#fd;
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#inFlight.add(p);
    const done = () => this.#inFlight.delete(p);
    p.then(done, done);
    return p;
  }

  /** Metadata of the open file (kind, size, mtime, dev/ino...). */
  stat(): FileStat {
    return statFd(this.#libc, this.fd, this.shown);
  }

  /**
   * Reads into `buf` at `position`; resolves to the count read, 0 at the end of the file.
   * One system call: the count may be short. A pool thread writes into `buf` directly, so
   * leave it alone (no transfer, resize or other use) until the promise settles.
   */
  async readAt(buf: Uint8Array, position: number): Promise<number> {
    if (buf.length === 0) return 0;
    const fd = this.fd;
    const n = buf.length <= SYNC_IO_MAX
      ? this.#libc.pread(fd, buf, position)
      : await this.#track(this.#libc.preadAsync(fd, buf, position));
    if (n >= 0) return n;
    const again = this.#libc.pread(fd, buf, position);
    if (again < 0) throw errnoError(-again, "other", this.shown);
    return again;
  }

  /**
   * Reads from the file's own position into `buf`, like `Deno.FsFile.read`: the count read,
   * or null at the end of the file.
   */
  async read(buf: Uint8Array): Promise<number | null> {
    if (buf.length === 0) return 0;
    const n = await this.readAt(buf, this.#position);
    if (n === 0) return null;
    this.#position += n;
    return n;
  }

  /**
   * Writes all of `data` at `position`. A pool thread reads `data` directly: leave it alone
   * until the promise settles.
   */
  async writeAt(data: Uint8Array, position: number): Promise<void> {
    const fd = this.fd;
    let done = 0;
    while (done < data.length) {
      const part = data.subarray(done);
      let n = part.length <= SYNC_IO_MAX
        ? this.#libc.pwrite(fd, part, position + done)
        : await this.#track(this.#libc.pwriteAsync(fd, part, position + done));
      if (n < 0) {
        n = this.#libc.pwrite(fd, part, position + done);
        if (n < 0) throw errnoError(-n, "other", this.shown);
      }
      if (n === 0) throw new FerryError("INTERNAL", `${this.shown}: write made no progress`);
      done += n;
    }
  }

  /** Writes all of `data` at the file's own position and advances it. */
  async write(data: Uint8Array): Promise<void> {
    await this.writeAt(data, this.#position);
    this.#position += data.length;
  }

  /** Sets the position used by {@linkcode BeneathFile.read} and {@linkcode BeneathFile.write}. */
  seek(position: number): void {
    if (!Number.isSafeInteger(position) || position < 0) {
      throw new FerryError("BAD_ARGUMENT", `${this.shown}: bad position ${position}`);
    }
    this.#position = position;
  }

  /** Cuts or extends the file to `length` bytes. */
  async truncate(length: number): Promise<void> {
    const fd = this.fd;
    const r = await this.#track(this.#libc.ftruncateAsync(fd, length));
    if (r >= 0) return;
    const again = this.#libc.ftruncate(fd, length);
    if (again < 0) throw errnoError(-again, "other", this.shown);
  }

  /** Flushes the file's data and metadata to disk (`fsync`). */
  async sync(): Promise<void> {
    const r = await this.#track(this.#libc.fsyncAsync(this.fd));
    if (r < 0) {
      throw new FerryError(
        "INTERNAL",
        `${this.shown}: could not be flushed to disk (fsync failed)`,
      );
    }
  }

  /**
   * Writes the file's data back to disk (`fdatasync`), as a head start for a later
   * {@linkcode BeneathFile.sync}. Its failure must not be ignored: Linux reports a writeback
   * error to one fsync or fdatasync only, so a later `sync` may succeed after it.
   */
  async syncData(): Promise<void> {
    const r = await this.#track(this.#libc.fdatasyncAsync(this.fd));
    if (r < 0) {
      throw new FerryError(
        "INTERNAL",
        `${this.shown}: could not be flushed to disk (fdatasync failed)`,
      );
    }
  }

  /**
   * Sets the access and modification times, in milliseconds since the epoch; `null` leaves
   * that time as it is.
   */
  setTimes(atimeMs: number | null, mtimeMs: number | null): void {
    const ns = (ms: number | null) =>
      ms === null ? null : BigInt(Math.trunc(ms)) * 1_000_000n + BigInt(Math.round((ms % 1) * 1e6));
    const r = this.#libc.futimens(this.fd, ns(atimeMs), ns(mtimeMs));
    if (r < 0) throw errnoError(-r, "other", this.shown);
  }

  /** True when no call of this file is running on the pool. */
  get idle(): boolean {
    return this.#inFlight.size === 0;
  }

  /**
   * Closes the descriptor now, on the calling thread, for a file whose close frees nothing (it
   * still has its name: a temporary just renamed into place, a small file read). Calls still
   * in flight on the pool must have ended. Safe to call twice.
   */
  closeSync(): void {
    if (this.#fd < 0) return;
    if (this.#inFlight.size > 0) {
      throw new FerryError("INTERNAL", `${this.shown}: closed while a call is in flight`);
    }
    const fd = this.#fd;
    this.#fd = -1;
    try {
      this.#libc.close(fd);
    } finally {
      this.#libc.release();
    }
  }

  /**
   * Closes the descriptor after the calls in flight end. Runs on the pool: dropping the last
   * reference to a removed large file frees its blocks, which can take a while. Safe to call
   * twice.
   */
  async close(): Promise<void> {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    await Promise.allSettled([...this.#inFlight]);
    try {
      await this.#libc.closeAsync(fd);
    } finally {
      this.#libc.release();
    }
  }
}
