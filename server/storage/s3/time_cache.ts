/**
 * The modification times ferry keeps in object metadata, remembered per object version, so that
 * a listing asks the store (a HEAD per file) only for versions it has not seen. A version is
 * named by its key, ETag and Last-Modified as the listing gives them: its metadata cannot change
 * without its Last-Modified changing, so a remembered time is never stale.
 *
 * @module
 */

/** How many versions a cache remembers by default. */
export const DEFAULT_TIME_CACHE_SIZE = 100_000;

/** Remembered modification times, the oldest forgotten first. */
export class TimeCache {
  readonly #limit: number;
  readonly #times = new Map<string, number | null>();
  readonly #loading = new Map<string, Promise<number | null | undefined>>();

  /** A cache of at most `limit` versions. */
  constructor(limit = DEFAULT_TIME_CACHE_SIZE) {
    this.#limit = limit;
  }

  /** The remembered time of a version, or undefined when it is not remembered. */
  get(key: string, etag: string, lastModified: Date): number | null | undefined {
    const id = versionId(key, etag, lastModified);
    const time = this.#times.get(id);
    if (time === undefined) return undefined;
    this.#times.delete(id); // most recently used last
    this.#times.set(id, time);
    return time;
  }

  /** Remembers the time of a version. */
  set(key: string, etag: string, lastModified: Date, time: number | null): void {
    const id = versionId(key, etag, lastModified);
    this.#times.delete(id);
    this.#times.set(id, time);
    if (this.#times.size > this.#limit) {
      const oldest = this.#times.keys().next().value;
      if (oldest !== undefined) this.#times.delete(oldest);
    }
  }

  /**
   * The time of a version: remembered, or from `load` (one load at a time per version, shared
   * by every caller; a result of undefined, "not there", is not remembered).
   */
  lookup(
    key: string,
    etag: string,
    lastModified: Date,
    load: () => Promise<number | null | undefined>,
  ): Promise<number | null | undefined> {
    const known = this.get(key, etag, lastModified);
    if (known !== undefined) return Promise.resolve(known);
    const id = versionId(key, etag, lastModified);
    let loading = this.#loading.get(id);
    if (loading === undefined) {
      loading = load().then((time) => {
        if (time !== undefined) this.set(key, etag, lastModified, time);
        return time;
      }).finally(() => this.#loading.delete(id));
      this.#loading.set(id, loading);
    }
    return loading;
  }

  /** How many versions are remembered. */
  get size(): number {
    return this.#times.size;
  }
}

function versionId(key: string, etag: string, lastModified: Date): string {
  return `${lastModified.getTime()}\0${etag}\0${key}`;
}
