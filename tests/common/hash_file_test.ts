/** Tests for common/hash_file.ts: hashers and the one prefix hasher. */

import assert from "node:assert/strict";
import { type ByteReader, createHasher, hashPrefix } from "../../common/hash_file.ts";
import { sha256Bytes as sha256 } from "../_helpers/mod.ts";

function bytes(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff);
}

/** A source handing out at most `step` bytes per read. */
function source(data: Uint8Array, step = data.length): ByteReader & { reads: number } {
  let at = 0;
  return {
    reads: 0,
    read(into) {
      this.reads++;
      const n = Math.min(into.length, step, data.length - at);
      into.set(data.subarray(at, at + n));
      at += n;
      return Promise.resolve(n === 0 ? null : n);
    },
  };
}

Deno.test("createHasher: SHA-256, and copy() digests a prefix while the hash goes on", () => {
  const data = bytes(1000);
  const hasher = createHasher();
  assert.equal(hasher.algorithm, "sha256");
  hasher.update(data.subarray(0, 400));
  const prefix = hasher.copy().digest();
  hasher.update(data.subarray(400));
  assert.deepEqual(prefix, sha256(data.subarray(0, 400)));
  assert.deepEqual(hasher.digest(), sha256(data));
  assert.deepEqual(createHasher("sha256").digest(), sha256(new Uint8Array(0)));
});

Deno.test("hashPrefix hashes all of a source, or its first bytes, through short reads", async () => {
  const data = bytes(300_000);
  const all = await hashPrefix(source(data, 7_000));
  assert.equal(all.length, data.length);
  assert.deepEqual(all.hasher.digest(), sha256(data));
  const first = await hashPrefix(source(data, 1_000), { length: 123_457 });
  assert.equal(first.length, 123_457);
  assert.deepEqual(first.hasher.digest(), sha256(data.subarray(0, 123_457)));
  const none = await hashPrefix(source(data), { length: 0 });
  assert.equal(none.length, 0);
  assert.deepEqual(none.hasher.digest(), sha256(new Uint8Array(0)));
});

Deno.test("hashPrefix stops at the end of a shorter source and says how much it hashed", async () => {
  const data = bytes(5_000);
  const got = await hashPrefix(source(data, 999), { length: 10_000 });
  assert.equal(got.length, 5_000);
  assert.deepEqual(got.hasher.digest(), sha256(data));
  const reader: ByteReader = { read: () => Promise.resolve(0) };
  assert.equal((await hashPrefix(reader)).length, 0, "0 from read means the end too");
});

Deno.test("hashPrefix continues a hasher and reads through the buffer it is given", async () => {
  const data = bytes(10_000);
  const hasher = createHasher();
  hasher.update(data.subarray(0, 4_000));
  const src = source(data.subarray(4_000));
  const got = await hashPrefix(src, { hasher, buffer: new Uint8Array(1_000) });
  assert.equal(got.hasher, hasher);
  assert.equal(got.length, 6_000);
  assert.equal(src.reads, 7, "six full reads of the 1,000-byte buffer, then the end");
  assert.deepEqual(hasher.digest(), sha256(data));
});

Deno.test("hashPrefix of a real file, and abort", async () => {
  const path = await Deno.makeTempFile();
  try {
    const data = bytes(700_000);
    await Deno.writeFile(path, data);
    using file = await Deno.open(path);
    const got = await hashPrefix(file, { length: 600_000 });
    assert.deepEqual(got.hasher.digest(), sha256(data.subarray(0, 600_000)));
    const abort = new AbortController();
    abort.abort(new Error("stop"));
    await assert.rejects(hashPrefix(file, { signal: abort.signal }), /stop/);
  } finally {
    await Deno.remove(path);
  }
});
