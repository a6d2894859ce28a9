/**
 * {@linkcode Limiter}: at most N tasks at once, the others wait their turn in order. The S3
 * storage runs the requests a listing makes for its entries through one, so that many listings
 * at once still send a bounded number of requests to the store.
 *
 * @module
 */

/** Runs at most `limit` tasks at a time. */
export class Limiter {
  readonly #limit: number;
  #running = 0;
  readonly #waiting: (() => void)[] = [];

  /** A limiter of `limit` (at least 1) tasks at once. */
  constructor(limit: number) {
    this.#limit = Math.max(1, limit);
  }

  /** Runs `task` once fewer than the limit run, and returns what it returns. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#limit) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#running++;
    }
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next !== undefined) next(); // the slot passes on
      else this.#running--;
    }
  }
}
