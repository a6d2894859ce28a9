/**
 * Tests for common/xxh128/: the carried WebAssembly build of XXH3-128 against the reference
 * `xxhsum` and the npm package `hash-wasm` it comes from, through the wrapper's 16 KiB input
 * slices, state swaps between hashers and copies; and `createHasher("xxh128")`.
 */

import assert from "node:assert/strict";
import { xxhash128 } from "hash-wasm";
import { Xxh128, XXH128_SIZE } from "../../common/xxh128/mod.ts";
import { createHasher, hashPrefix } from "../../common/hash_file.ts";
import { randomBytes } from "../_helpers/mod.ts";

function hex(data: Uint8Array): string {
  return data.toHex();
}

function xxh128(data: Uint8Array): string {
  const h = new Xxh128();
  h.update(data);
  return hex(h.digest());
}

/** Bytes (i * 7 + 3) mod 256. */
function pattern(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff);
}

Deno.test("xxh128: the reference vectors (xxhsum -H2 of xxHash 0.8.1)", () => {
  const text = new TextEncoder();
  // printf '' | xxhsum -H2; printf a | ...; printf abc | ...; head -c 1000 /dev/zero | ...;
  // 100,000 bytes of (i * 7 + 3) mod 256.
  assert.equal(xxh128(new Uint8Array(0)), "99aa06d3014798d86001c324468d497f");
  assert.equal(xxh128(text.encode("a")), "a96faf705af16834e6c632b61e964e1f");
  assert.equal(xxh128(text.encode("abc")), "06b05ab6733a618578af5f94892f3950");
  assert.equal(xxh128(new Uint8Array(1000)), "3fb94aea6d09b97224c1ea6074dd588c");
  assert.equal(xxh128(pattern(100_000)), "d9e155dd16e141d00c056f6fcc340974");
  assert.equal(new Xxh128().digest().length, XXH128_SIZE);
});

Deno.test("xxh128: equals hash-wasm for every size class, however the input is cut", async () => {
  // Sizes around XXH3's internal thresholds (16, 128, 240 bytes, 1 KiB stripes, 256-byte
  // buffer) and the wrapper's 16 KiB input slices.
  const sizes = [0, 1, 3, 16, 17, 128, 129, 240, 241, 255, 256, 257, 1024, 1025, 16383, 16384];
  sizes.push(16385, 65531, 65536, 200_000, 1_048_577);
  const data = randomBytes(1_048_577);
  for (const n of sizes) {
    const part = data.subarray(0, n);
    const expected = await xxhash128(part);
    assert.equal(xxh128(part), expected, `${n} bytes at once`);
    for (const cut of [1, 7, 255, 4096, 16384, 65531]) {
      const h = new Xxh128();
      for (let o = 0; o < n; o += cut) h.update(part.subarray(o, o + cut));
      assert.equal(hex(h.digest()), expected, `${n} bytes in pieces of ${cut}`);
    }
  }
});

Deno.test("xxh128: hashers updated in turn keep their own states; copies digest a prefix", async () => {
  const a = randomBytes(300_000);
  const b = randomBytes(200_001);
  const ha = new Xxh128();
  const hb = new Xxh128();
  let prefix: Xxh128 | null = null;
  for (let o = 0; o < a.length; o += 30_000) {
    ha.update(a.subarray(o, o + 30_000));
    hb.update(b.subarray(o, o + 30_000));
    if (o === 90_000) prefix = ha.copy(); // a's first 120,000 bytes
  }
  const fresh = new Xxh128(); // created while another state is loaded
  fresh.update(b.subarray(0, 5));
  assert.equal(hex(hb.digest()), await xxhash128(b));
  assert.equal(hex(prefix!.digest()), await xxhash128(a.subarray(0, 120_000)));
  assert.equal(hex(ha.digest()), await xxhash128(a));
  assert.equal(hex(fresh.digest()), await xxhash128(b.subarray(0, 5)));
  assert.throws(() => ha.update(a), /after digest/);
  assert.throws(() => ha.digest(), /after digest/);
});

Deno.test("createHasher and hashPrefix speak xxh128", async () => {
  const data = randomBytes(700_000);
  const hasher = createHasher("xxh128");
  assert.equal(hasher.algorithm, "xxh128");
  hasher.update(data.subarray(0, 1000));
  const prefix = hasher.copy();
  hasher.update(data.subarray(1000));
  assert.equal(hex(prefix.digest()), await xxhash128(data.subarray(0, 1000)));
  assert.equal(hex(hasher.digest()), await xxhash128(data));
  let at = 0;
  const source = {
    read(into: Uint8Array) {
      const n = Math.min(into.length, 50_000, data.length - at);
      into.set(data.subarray(at, at + n));
      at += n;
      return Promise.resolve(n === 0 ? null : n);
    },
  };
  const hashed = await hashPrefix(source, { length: 600_000, algorithm: "xxh128" });
  assert.equal(hashed.length, 600_000);
  assert.equal(hex(hashed.hasher.digest()), await xxhash128(data.subarray(0, 600_000)));
});
