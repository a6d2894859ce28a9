/**
 * {@linkcode ResumableSha256}: a SHA-256 whose state can be saved after some bytes and loaded
 * later, in another process or on another server, to go on hashing. `node:crypto` cannot export
 * its state (its `copy()` only clones within the process); this uses the WebAssembly SHA-256 of
 * `hash-wasm`, whose `save()`/`load()` give a 116-byte state.
 *
 * It is about 5 times slower than `node:crypto` (≈ 310 MiB/s against ≈ 1,550 MiB/s on this
 * machine, which has SHA extensions), so use it only where a state must outlive the process: for
 * a resumable upload, to keep the hash of the bytes the store holds. The saved state belongs to
 * the pinned `hash-wasm` version: a state from another version may be refused by
 * {@linkcode ResumableSha256.restore} (`BAD_ARGUMENT`), and the upload must then start over.
 *
 * @module
 */

import { createSHA256, type IHasher } from "hash-wasm";
import { FerryError, messageOf } from "../../../protocol/errors.ts";

const MAGIC = [0x46, 0x52, 0x53, 0x31]; // "FRS1": ferry resumable sha-256, format 1
const HEADER = MAGIC.length + 8; // magic, u64 bytes hashed

/** A SHA-256 that can be saved and restored between updates. */
export class ResumableSha256 {
  readonly #hasher: IHasher;
  #bytes: number;
  #done = false;

  private constructor(hasher: IHasher, bytes: number) {
    this.#hasher = hasher;
    this.#bytes = bytes;
  }

  /** Starts a hash of no bytes. */
  static async create(): Promise<ResumableSha256> {
    const hasher = await createSHA256();
    hasher.init();
    return new ResumableSha256(hasher, 0);
  }

  /** Continues a hash from a state {@linkcode save} returned. Throws `BAD_ARGUMENT` for a bad state. */
  static async restore(state: Uint8Array): Promise<ResumableSha256> {
    if (state.length <= HEADER || MAGIC.some((b, i) => state[i] !== b)) {
      throw new FerryError("BAD_ARGUMENT", "not a saved SHA-256 state");
    }
    const bytes = Number(new DataView(state.buffer, state.byteOffset).getBigUint64(4));
    const hasher = await createSHA256();
    try {
      hasher.load(state.subarray(HEADER));
    } catch (err) {
      throw new FerryError(
        "BAD_ARGUMENT",
        `saved SHA-256 state refused: ${messageOf(err)}`,
        {
          cause: err,
        },
      );
    }
    return new ResumableSha256(hasher, bytes);
  }

  /** How many bytes have been hashed. */
  get bytesHashed(): number {
    return this.#bytes;
  }

  /** Hashes `data` after the bytes before. */
  update(data: Uint8Array): void {
    this.#checkOpen();
    this.#hasher.update(data);
    this.#bytes += data.length;
  }

  /** Returns the state after the bytes hashed so far (a little over 100 bytes). */
  save(): Uint8Array {
    this.#checkOpen();
    const inner = this.#hasher.save();
    const state = new Uint8Array(HEADER + inner.length);
    state.set(MAGIC);
    new DataView(state.buffer).setBigUint64(4, BigInt(this.#bytes));
    state.set(inner, HEADER);
    return state;
  }

  /** Returns the SHA-256 of the bytes so far and goes on hashing (for UPLOAD_PARTIAL). */
  digestSoFar(): Uint8Array {
    this.#checkOpen();
    const inner = this.#hasher.save();
    const digest = this.#hasher.digest("binary");
    this.#hasher.load(inner);
    return digest;
  }

  /** Returns the SHA-256 of all bytes hashed; the hash cannot be updated after this. */
  digest(): Uint8Array {
    this.#checkOpen();
    this.#done = true;
    return this.#hasher.digest("binary");
  }

  #checkOpen(): void {
    if (this.#done) throw new FerryError("INTERNAL", "ResumableSha256: used after digest()");
  }
}
