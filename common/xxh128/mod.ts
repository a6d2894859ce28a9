/**
 * XXH3-128 (xxHash's 128-bit XXH3, seed 0) over the WebAssembly module of `wasm.ts`: about
 * three times the speed of SHA-256 here, for the end-to-end check of transfers, where TLS
 * already authenticates every byte on the wire and the check guards against bugs and disks.
 *
 * Every hasher of a process shares one instance of the module, compiled on first use (a
 * process that never hashes with XXH3-128 never compiles it): the module holds one hash state
 * in its memory, so each hasher keeps its own 576-byte state and swaps it in when it is used
 * after another one was. JavaScript runs one call at a time, so a swap never interleaves with
 * another hasher's call. The instance is the one thing kept in a module variable: it is a
 * process-wide cache of compiled code, like the runtime's own crypto, and holds no data beyond
 * the state of the hasher used last.
 *
 * A digest is the canonical form of the 128-bit value, big-endian (high 64 bits first), as
 * `xxhsum -H2` prints it.
 *
 * @module
 */

import { XXH128_WASM_BASE64 } from "./wasm.ts";

/** Bytes of an XXH3-128 digest. */
export const XXH128_SIZE = 16;

/** What the module exports. */
interface Exports {
  memory: WebAssembly.Memory;
  Hash_GetBuffer(): number;
  Hash_Init(): void;
  Hash_Update(length: number): void;
  Hash_Final(): void;
  Hash_GetState(): number;
  STATE_SIZE: WebAssembly.Global;
}

/** Bytes the module's input buffer holds: updates are fed through it in slices of this size. */
const INPUT_SIZE = 16 * 1024;

/** One instance of the module and the hasher whose state its memory holds. */
class Machine {
  readonly #exports: Exports;
  readonly #input: Uint8Array;
  readonly #state: Uint8Array;
  /** The hasher whose state is in the module's memory, if any. */
  active: Xxh128 | null = null;

  constructor() {
    const bytes = Uint8Array.from(atob(XXH128_WASM_BASE64), (c) => c.charCodeAt(0));
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
    this.#exports = instance.exports as unknown as Exports;
    const buffer = this.#exports.memory.buffer;
    const stateSize = new DataView(buffer).getUint32(this.#exports.STATE_SIZE.value, true);
    this.#input = new Uint8Array(buffer, this.#exports.Hash_GetBuffer(), INPUT_SIZE);
    this.#state = new Uint8Array(buffer, this.#exports.Hash_GetState(), stateSize);
  }

  /** Bytes of one saved state. */
  get stateSize(): number {
    return this.#state.length;
  }

  /** Makes `hasher`'s state the module's, saving the previous owner's. */
  use(hasher: Xxh128): void {
    if (this.active === hasher) return;
    this.active?.saved.set(this.#state);
    this.#state.set(hasher.saved);
    this.active = hasher;
  }

  /** A fresh state (seed 0), written into `into`. */
  fresh(into: Uint8Array): void {
    this.active?.saved.set(this.#state);
    this.active = null;
    this.#input.fill(0, 0, 8); // Hash_Init reads the 64-bit seed from the input buffer
    this.#exports.Hash_Init();
    into.set(this.#state);
  }

  /** Hashes `data` into the active state. */
  update(data: Uint8Array): void {
    for (let offset = 0; offset < data.length; offset += INPUT_SIZE) {
      const n = Math.min(INPUT_SIZE, data.length - offset);
      this.#input.set(n === data.length ? data : data.subarray(offset, offset + n));
      this.#exports.Hash_Update(n);
    }
  }

  /** The digest of the active state (which stays as it was). */
  digest(): Uint8Array {
    this.#exports.Hash_Final();
    return this.#input.slice(0, XXH128_SIZE);
  }

  /** A copy of the active state. */
  snapshot(): Uint8Array {
    return this.#state.slice();
  }
}

let machine: Machine | null = null;

/** The process's instance of the module, compiled on first use. */
function shared(): Machine {
  machine ??= new Machine();
  return machine;
}

/** A running XXH3-128 hash. */
export class Xxh128 {
  /** This hasher's state while another one's is in the module. */
  readonly saved: Uint8Array;
  readonly #machine: Machine;
  #done = false;

  /** A hasher over no bytes yet, or in the state `from` (a copy). */
  constructor(from?: Uint8Array) {
    this.#machine = shared();
    this.saved = new Uint8Array(this.#machine.stateSize);
    if (from === undefined) this.#machine.fresh(this.saved);
    else this.saved.set(from);
  }

  /** Adds bytes. */
  update(data: Uint8Array): void {
    this.#check();
    this.#machine.use(this);
    this.#machine.update(data);
  }

  /** The 16-byte digest of every byte added; the hasher cannot be used afterwards. */
  digest(): Uint8Array {
    this.#check();
    this.#machine.use(this);
    this.#done = true;
    return this.#machine.digest();
  }

  /** An independent hasher in the same state. */
  copy(): Xxh128 {
    this.#check();
    this.#machine.use(this);
    return new Xxh128(this.#machine.snapshot());
  }

  #check(): void {
    if (this.#done) throw new Error("XXH3-128 hasher used after digest()");
  }
}
