/**
 * Small tables in shared memory that every isolate of one server reads and writes
 * synchronously: a {@linkcode SharedLock} (a spin lock over one `Int32`, held only for a few
 * arithmetic operations) and a {@linkcode SharedCounts} map from string keys to counts (an
 * open-addressing hash table keyed by a 64-bit hash of the key, with backward-shift deletion, so
 * it never fills up with tombstones). The connection caps, the quota and the set of temporaries
 * being written are built on them (`server/workers/shared_state.ts`).
 *
 * Keys are stored as their 64-bit FNV-1a hash, not as text: two keys whose hashes collide count
 * as one (a chance of about n²/2⁶⁵ for n keys), which can only make a limit stricter.
 *
 * @module
 */

/** A lock over one `Int32` of a `SharedArrayBuffer`: 0 free, 1 held. */
export class SharedLock {
  readonly #cell: Int32Array;

  /** The lock whose state is the `Int32` at byte `offset` of `buffer`. */
  constructor(buffer: SharedArrayBuffer, offset = 0) {
    this.#cell = new Int32Array(buffer, offset, 1);
  }

  /** Runs `body` (which must be short and synchronous) holding the lock. */
  hold<T>(body: () => T): T {
    while (Atomics.compareExchange(this.#cell, 0, 0, 1) !== 0) {
      // Held by another isolate for a few instructions: spin.
    }
    try {
      return body();
    } finally {
      Atomics.store(this.#cell, 0, 0);
    }
  }
}

/** Two 32-bit FNV-1a hashes of `key` (different offsets), never both 0. */
export function hashKey(key: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  a >>>= 0;
  b >>>= 0;
  return a === 0 && b === 0 ? [1, 0] : [a, b];
}

/** Words per slot: hash high, hash low, count. */
const SLOT = 3;

/**
 * Counts per string key, in shared memory. Every operation takes the table's lock; a slot is
 * free when its hash is (0, 0).
 */
export class SharedCounts {
  readonly #lock: SharedLock;
  readonly #words: Int32Array;
  readonly #slots: number;

  /** Bytes of shared memory a table of `slots` slots needs. */
  static bytes(slots: number): number {
    return 4 + slots * SLOT * 4;
  }

  /** The table of `slots` slots laid out in `buffer` (of {@linkcode SharedCounts.bytes}). */
  constructor(buffer: SharedArrayBuffer, slots: number) {
    this.#slots = slots;
    this.#lock = new SharedLock(buffer, 0);
    this.#words = new Int32Array(buffer, 4, slots * SLOT);
  }

  /** Number of slots. */
  get capacity(): number {
    return this.#slots;
  }

  /** The count of `key` (0 when absent). */
  get(key: string): number {
    const [hi, lo] = hashKey(key);
    return this.#lock.hold(() => {
      const at = this.#find(hi, lo);
      return at < 0 ? 0 : this.#words[at * SLOT + 2];
    });
  }

  /**
   * Adds 1 to the count of `key` if it is below `max`; false (nothing changed) when it is at
   * `max` or the table is full.
   */
  increment(key: string, max: number): boolean {
    const [hi, lo] = hashKey(key);
    return this.#lock.hold(() => {
      const words = this.#words;
      let at = this.#find(hi, lo);
      if (at < 0) {
        if (max < 1) return false;
        at = this.#freeSlot(hi);
        if (at < 0) return false;
        words[at * SLOT] = hi;
        words[at * SLOT + 1] = lo;
        words[at * SLOT + 2] = 1;
        return true;
      }
      if (words[at * SLOT + 2] >= max) return false;
      words[at * SLOT + 2]++;
      return true;
    });
  }

  /** Takes 1 from the count of `key`; a key whose count reaches 0 is removed. */
  decrement(key: string): void {
    const [hi, lo] = hashKey(key);
    this.#lock.hold(() => {
      const at = this.#find(hi, lo);
      if (at < 0) return;
      if (--this.#words[at * SLOT + 2] <= 0) this.#remove(at);
    });
  }

  #home(hi: number): number {
    return (hi >>> 0) % this.#slots;
  }

  #empty(at: number): boolean {
    return this.#words[at * SLOT] === 0 && this.#words[at * SLOT + 1] === 0;
  }

  /** The slot holding hash (hi, lo), or -1. */
  #find(hi: number, lo: number): number {
    const words = this.#words;
    let at = this.#home(hi);
    for (let n = 0; n < this.#slots; n++) {
      if (this.#empty(at)) return -1;
      if ((words[at * SLOT] >>> 0) === hi && (words[at * SLOT + 1] >>> 0) === lo) return at;
      at = (at + 1) % this.#slots;
    }
    return -1;
  }

  /** The first free slot on the probe path of `hi`, or -1 when the table is full. */
  #freeSlot(hi: number): number {
    let at = this.#home(hi);
    for (let n = 0; n < this.#slots; n++) {
      if (this.#empty(at)) return at;
      at = (at + 1) % this.#slots;
    }
    return -1;
  }

  /** Frees slot `hole`, moving later entries of its probe run back so lookups still find them. */
  #remove(hole: number): void {
    const words = this.#words;
    const n = this.#slots;
    words.fill(0, hole * SLOT, hole * SLOT + SLOT);
    // The scan ends at an empty slot: at the latest the hole itself, once it wraps around.
    let at = (hole + 1) % n;
    while (!this.#empty(at)) {
      const home = this.#home(words[at * SLOT]);
      // The entry at `at` may move to `hole` when its home is not cyclically in (hole, at].
      const between = hole <= at ? home > hole && home <= at : home > hole || home <= at;
      if (!between) {
        words.copyWithin(hole * SLOT, at * SLOT, at * SLOT + SLOT);
        words.fill(0, at * SLOT, at * SLOT + SLOT);
        hole = at;
      }
      at = (at + 1) % n;
    }
  }
}
