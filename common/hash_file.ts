/**
 * Hashing of file contents, shared by both ends: the hash algorithms ferry knows (SHA-256 and
 * XXH3-128, PROTOCOL.md §3.2), and one prefix hasher that reads any source of bytes, from an
 * open file to a storage reader. A HASH answer, an UPLOAD_STATUS answer, the re-hash of a kept
 * upload before it resumes, and a client's check of a partial download are all this one loop.
 *
 * @module
 */

import process from "node:process";
import type { Hash } from "node:crypto";
import type { ChecksumAlgorithm } from "../protocol/messages/common.ts";
import { Xxh128 } from "./xxh128/mod.ts";

/**
 * A hash algorithm ferry uses for end-to-end checks: `sha256` (SHA-256, node:crypto) or
 * `xxh128` (XXH3-128, `common/xxh128/`).
 */
export type HashAlgorithm = ChecksumAlgorithm;

/** The algorithm used when none is named: SHA-256, what a peer that negotiated nothing uses. */
export const DEFAULT_HASH_ALGORITHM: HashAlgorithm = "sha256";

/** Every algorithm, most preferred first: what a client offers and a server accepts. */
export const HASH_ALGORITHMS: readonly HashAlgorithm[] = ["xxh128", "sha256"];

/** How each algorithm is named to people. */
export const HASH_NAMES: Readonly<Record<HashAlgorithm, string>> = {
  sha256: "SHA-256",
  xxh128: "XXH3-128",
};

/** Whether `name` is an algorithm ferry knows. */
export function isHashAlgorithm(name: string): name is HashAlgorithm {
  return (HASH_ALGORITHMS as readonly string[]).includes(name);
}

/** A running hash over bytes. */
export interface Hasher {
  /** The algorithm. */
  readonly algorithm: HashAlgorithm;
  /** Adds bytes. */
  update(data: Uint8Array): void;
  /** The digest of every byte added; the hasher cannot be used afterwards. */
  digest(): Uint8Array;
  /** An independent hasher in the same state (to digest a prefix and go on). */
  copy(): Hasher;
}

/**
 * A new hasher for `algorithm`.
 *
 * @example Usage
 * ```ts
 * import { createHasher } from "./hash_file.ts";
 * const hasher = createHasher("sha256");
 * hasher.update(new TextEncoder().encode("abc"));
 * hasher.digest().length; // => 32
 * ```
 */
export function createHasher(algorithm: HashAlgorithm = DEFAULT_HASH_ALGORITHM): Hasher {
  return algorithm === "xxh128" ? wrapXxh128(new Xxh128()) : wrap(algorithm, sha(algorithm));
}

/**
 * A node:crypto hash, the module loaded on first use rather than imported: loading it is about
 * a quarter of a CLI command's start-up, and a transfer checked in XXH3-128 never needs it.
 */
function sha(algorithm: string): Hash {
  const crypto = process.getBuiltinModule("node:crypto") as typeof import("node:crypto");
  return crypto.createHash(algorithm);
}

function wrapXxh128(hash: Xxh128): Hasher {
  return {
    algorithm: "xxh128",
    update(data) {
      hash.update(data);
    },
    digest() {
      return hash.digest();
    },
    copy() {
      return wrapXxh128(hash.copy());
    },
  };
}

function wrap(algorithm: HashAlgorithm, hash: Hash): Hasher {
  return {
    algorithm,
    update(data) {
      hash.update(data);
    },
    digest() {
      return new Uint8Array(hash.digest());
    },
    copy() {
      return wrap(algorithm, hash.copy());
    },
  };
}

/**
 * Anything bytes can be read from in order: an open `Deno.FsFile`, a storage reader. `read`
 * resolves to the number of bytes placed at the start of `into`; `null` or `0` means the end.
 */
export interface ByteReader {
  /** Reads up to `into.length` bytes into `into`. */
  read(into: Uint8Array): Promise<number | null>;
}

/** Bytes read per step by {@linkcode hashPrefix} unless a buffer is given. */
export const HASH_BUFFER_SIZE = 256 * 1024;

/** Options for {@linkcode hashPrefix}. */
export interface HashPrefixOptions {
  /** Most bytes to hash; all of them when unset. */
  length?: number;
  /** Hasher to continue (for example one with a header already in it); a new one otherwise. */
  hasher?: Hasher;
  /** Algorithm of a new hasher (default SHA-256); ignored when `hasher` is given. */
  algorithm?: HashAlgorithm;
  /** Checked before every read. */
  signal?: AbortSignal;
  /** Buffer to read through (default: a new one of {@linkcode HASH_BUFFER_SIZE} bytes). */
  buffer?: Uint8Array;
}

/** What {@linkcode hashPrefix} hashed. */
export interface HashedPrefix {
  /** Bytes hashed: `length`, or fewer when the source ended first. */
  length: number;
  /** The hasher, holding those bytes; digest it or go on adding. */
  hasher: Hasher;
}

/**
 * Hashes the first `length` bytes of `source` (all of them without `length`) from its current
 * position, and returns how many there were. A source that ends early is not an error here:
 * the caller compares the length it got with the one it needed.
 *
 * @example Usage
 * ```ts ignore
 * import { hashPrefix } from "./hash_file.ts";
 * using file = await Deno.open("big.iso");
 * const { length, hasher } = await hashPrefix(file, { length: 1024 });
 * const digest = hasher.digest();
 * ```
 *
 * @throws what `source.read` throws; the signal's reason once it is aborted.
 */
export async function hashPrefix(
  source: ByteReader,
  options: HashPrefixOptions = {},
): Promise<HashedPrefix> {
  const hasher = options.hasher ?? createHasher(options.algorithm);
  const buffer = options.buffer ?? new Uint8Array(HASH_BUFFER_SIZE);
  let remaining = options.length ?? Number.MAX_SAFE_INTEGER;
  let length = 0;
  while (remaining > 0) {
    options.signal?.throwIfAborted();
    const n = await source.read(buffer.subarray(0, Math.min(buffer.length, remaining)));
    if (n === null || n === 0) break;
    hasher.update(buffer.subarray(0, n));
    length += n;
    remaining -= n;
  }
  return { length, hasher };
}
