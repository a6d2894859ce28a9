/**
 * Properties every payload decoder of `protocol/messages/` shares: trailing bytes ignored,
 * strict prefixes refused, the "fixed" sizes of PROTOCOL.md §3.1, strict UTF-8 in every string
 * field, encoders that refuse out-of-range values, and fuzzing of every decoder.
 */

import assert from "node:assert/strict";
import fc from "fast-check";

import { HEADER_SIZE, MAX_PAYLOAD } from "../../../protocol/frame.ts";
import { type ServiceName, SERVICES } from "../../../protocol/services.ts";
import { UNKNOWN_SIZE } from "../../../protocol/bytes.ts";
import { FerryError } from "../../../protocol/errors.ts";
import * as messages from "../../../protocol/messages/mod.ts";
import {
  createDataFrameBuffer,
  decodeDownload,
  decodeEof,
  decodeError,
  decodeFileInfo,
  encodeDownload,
  encodeEof,
  encodeError,
  encodeFileInfo,
  encodeHello,
  encodeIdOnly,
  encodePathRequest,
  encodeUpload,
  encodeWelcome,
} from "../../../protocol/messages/mod.ts";
import { concat } from "../../_helpers/mod.ts";
import {
  assertFerry,
  BOUNDED,
  hex,
  INVALID_UTF8,
  largest,
  PLAIN,
  text,
  TEXT_MAX,
} from "../_helpers.ts";
import { CODECS, expected, splitFrame } from "./_codecs.ts";

Deno.test("messages: every service has a codec under test", () => {
  assert.deepEqual([...new Set(CODECS.map((c) => c.service))].sort(), Object.keys(SERVICES).sort());
  // A service with several layouts has one codec per layout, each named.
  const labels = CODECS.map((c) => c.label ?? c.service);
  assert.equal(new Set(labels).size, labels.length);
});

Deno.test("messages: the string generator reaches its declared length", () => {
  assert.equal(largest(text, (s) => [...s].length), TEXT_MAX);
});

Deno.test("messages: decoders ignore trailing bytes (fields appended by a later version)", () => {
  for (const c of CODECS.filter((c) => c.trailingIgnored !== false)) {
    fc.assert(
      fc.property(
        c.arb,
        fc.uint8Array({ minLength: 1, maxLength: 64, size: "max" }),
        (m, extra) => {
          const payload = concat([splitFrame(c, c.encode(m)), extra]);
          assert.deepEqual(c.decode(payload), expected(c, m), c.label ?? c.service);
        },
      ),
      { numRuns: 100, ...BOUNDED },
    );
  }
});

Deno.test("messages: every strict prefix of a payload throws BAD_ARGUMENT, but an older layout's", () => {
  let olderSeen = 0;
  for (const c of CODECS) {
    for (const m of fc.sample(c.arb, { numRuns: 20, seed: 42 })) {
      const payload = splitFrame(c, c.encode(m));
      const min = c.trailingIgnored === false ? c.fixed : payload.length;
      // PROTOCOL.md §8: a payload cut where an older version's layout ended is that layout.
      const older = c.older?.(m, payload);
      for (let n = 0; n < min; n++) {
        if (older !== undefined && n === older.length) {
          assert.deepEqual(c.decode(payload.subarray(0, n)), older.value, `${c.service} older`);
          olderSeen++;
          continue;
        }
        assertFerry(() => c.decode(payload.subarray(0, n)), "BAD_ARGUMENT", `${c.service}[0,${n})`);
      }
      // A copy without spare bytes after it behaves the same.
      if (min > 0 && older?.length !== min - 1) {
        assertFerry(() => c.decode(payload.slice(0, min - 1)), "BAD_ARGUMENT", c.service);
      }
    }
  }
  // HELLO, WELCOME, HASH, DOWNLOAD and LIST, 20 samples each.
  assert.equal(olderSeen, 5 * 20);
});

Deno.test("messages: the shortest payloads are the 'fixed' sizes of PROTOCOL.md §3.1", () => {
  for (const c of CODECS) {
    const payload = splitFrame(c, c.encode(c.minimal));
    assert.equal(payload.length, c.fixed, c.service);
    assert.deepEqual(c.decode(payload), c.minimal, c.service);
    assertFerry(() => c.decode(payload.subarray(0, c.fixed - 1)), "BAD_ARGUMENT", c.service);
  }
});

/** Finds the one place `marker` occurs in `bytes`. */
function onlyIndexOf(bytes: Uint8Array, marker: Uint8Array, what: string): number {
  const found: number[] = [];
  for (let i = 0; i + marker.length <= bytes.length; i++) {
    if (marker.every((b, k) => bytes[i + k] === b)) found.push(i);
  }
  assert.equal(found.length, 1, `${what}: the marker occurs once`);
  return found[0];
}

Deno.test("messages: invalid UTF-8 in every string field → BAD_NAME", () => {
  let fields = 0;
  for (const c of CODECS) {
    c.strings.forEach((withString, field) => {
      fields++;
      for (const bad of INVALID_UTF8) {
        const marker = "Z".repeat(bad.length);
        const payload = splitFrame(c, c.encode(withString(marker))).slice();
        const at = onlyIndexOf(payload, new TextEncoder().encode(marker), c.service);
        payload.set(bad, at);
        assertFerry(
          () => c.decode(payload),
          "BAD_NAME",
          `${c.service} string ${field}: ${hex(new Uint8Array(bad))}`,
        );
      }
    });
  }
  // HELLO, WELCOME, AUTH, AUTH_OK, LIST, DELETE, STAT, LIST_ENTRIES (first and later entry),
  // STAT_RESULT, HASH, MKDIR, RENAME (from and to), DOWNLOAD, UPLOAD, UPLOAD_STATUS,
  // UPLOAD_RESUME, ERROR.
  assert.equal(fields, 19);
});

Deno.test("messages: unknown values from a peer", () => {
  // Sizes that must be known refuse all-ones.
  const info = encodeFileInfo({ id: 1, size: 5, mtime: null }).subarray(HEADER_SIZE).slice();
  info.fill(0xff, 4, 12);
  assertFerry(() => decodeFileInfo(info), "BAD_ARGUMENT", "FILE_INFO size all-ones");
  const eof = encodeEof({ id: 1, size: 5, digest: new Uint8Array(32) }).subarray(HEADER_SIZE)
    .slice();
  eof.fill(0xff, 4, 12);
  assertFerry(() => decodeEof(eof), "BAD_ARGUMENT", "EOF size all-ones");
  // DOWNLOAD: the offset may not be "unknown".
  const d = encodeDownload({ id: 1, offset: 0, path: "f" }).subarray(HEADER_SIZE).slice();
  d.fill(0xff, 4, 12);
  assertFerry(() => decodeDownload(d), "BAD_ARGUMENT", "DOWNLOAD offset all-ones");
  // And the others PROTOCOL.md §2.1 lists: UPLOAD_STATUS size, UPLOAD_RESUME offset and size,
  // HASH_RESULT/UPLOAD_PARTIAL length, an entry's size.
  const allOnesAt: [ServiceName, unknown, number][] = [
    ["UPLOAD_STATUS", { id: 1, size: 3, mtime: null, path: "p" }, 4],
    ["UPLOAD_RESUME", { id: 1, offset: 1, size: 2, mtime: null, path: "p" }, 4],
    ["UPLOAD_RESUME", { id: 1, offset: 1, size: 2, mtime: null, path: "p" }, 12],
    ["HASH_RESULT", { id: 1, length: 2, digest: new Uint8Array(32) }, 4],
    ["UPLOAD_PARTIAL", { id: 1, length: 2, digest: new Uint8Array(32) }, 4],
    ["STAT_RESULT", { id: 1, entry: { name: "n", kind: "file", size: 1, mtime: null } }, 5],
    ["LIST_ENTRIES", {
      id: 1,
      last: true,
      entries: [{ name: "n", kind: "file", size: 1, mtime: null }],
    }, 8],
  ];
  for (const [service, value, at] of allOnesAt) {
    const c = CODECS.find((c) => c.service === service)!;
    const p = splitFrame(c, c.encode(value)).slice();
    p.fill(0xff, at, at + 8);
    assertFerry(() => c.decode(p), "BAD_ARGUMENT", `${service} all-ones at ${at}`);
  }
});

Deno.test("messages: payload size limits", () => {
  // DOWNLOAD: 4 + 8 + 2 + path; the largest path that fits is 65521 bytes.
  const fits = "a".repeat(MAX_PAYLOAD - 14);
  const frame = encodeDownload({ id: 1, offset: 0, path: fits });
  assert.equal(frame.length, HEADER_SIZE + MAX_PAYLOAD);
  assert.equal(decodeDownload(frame.subarray(HEADER_SIZE)).path, fits);
  assertFerry(() => encodeDownload({ id: 1, offset: 0, path: fits + "a" }), "BAD_ARGUMENT");
  assertFerry(
    () => encodePathRequest(SERVICES.LIST, { id: 1, path: "é".repeat(40000) }),
    "BAD_ARGUMENT",
  );
  // ERROR messages are cut to at most 1 KiB of UTF-8.
  for (const message of ["x".repeat(1025), "é".repeat(600), "😀".repeat(300), "日".repeat(5000)]) {
    const got = decodeError(
      encodeError({ id: 9, code: "INTERNAL", message }).subarray(HEADER_SIZE),
    );
    assert.ok(new TextEncoder().encode(got.message).length <= 1024);
    assert.ok(got.message.endsWith("…"));
  }
  const exact = "y".repeat(1024);
  assert.equal(
    decodeError(encodeError({ id: 9, code: "INTERNAL", message: exact }).subarray(HEADER_SIZE))
      .message,
    exact,
  );
  // EOF needs a digest of 32 (SHA-256) or 16 (XXH3-128) bytes.
  for (const n of [0, 15, 17, 31, 33]) {
    assert.throws(() => encodeEof({ id: 1, size: 0, digest: new Uint8Array(n) }), RangeError);
  }
});

// Regression (was a bug): payload encoders used DataView setters, which wrap out-of-range values
// silently (id 2^32 became 0, the id reserved for connection-level errors), and putU64 wrote
// sizes the decoders refuse. They now throw RangeError, like the header encoder.
Deno.test("messages: encoders refuse out-of-range integers instead of wrapping", () => {
  const up = createDataFrameBuffer(SERVICES.UPLOAD_DATA, 1);
  const down = createDataFrameBuffer(SERVICES.DOWNLOAD_DATA, 1);
  const cases: [string, () => Uint8Array][] = [
    ["OK id 2^32", () => encodeIdOnly(SERVICES.OK, 2 ** 32)],
    ["OK id -1", () => encodeIdOnly(SERVICES.OK, -1)],
    ["OK id 1.5", () => encodeIdOnly(SERVICES.OK, 1.5)],
    ["LIST id 2^32+7", () => encodePathRequest(SERVICES.LIST, { id: 2 ** 32 + 7, path: "a" })],
    [
      "HELLO maxVersion 65537",
      () => encodeHello({ id: 1, minVersion: 1, maxVersion: 65537, agent: "" }),
    ],
    ["WELCOME version -1", () => encodeWelcome({ id: 1, version: -1, agent: "" })],
    ["DOWNLOAD offset 2^53", () => encodeDownload({ id: 1, offset: 2 ** 53, path: "a" })],
    ["UPLOAD size -2", () => encodeUpload({ id: 1, size: -2, mtime: null, path: "a" })],
    ["UPLOAD mtime NaN", () => encodeUpload({ id: 1, size: 0, mtime: NaN, path: "a" })],
    ["FILE_INFO size 0.5", () => encodeFileInfo({ id: 1, size: 0.5, mtime: null })],
    ["EOF size 2^64", () => encodeEof({ id: 1, size: 2 ** 64, digest: new Uint8Array(32) })],
    [
      "DOWNLOAD length 2^53",
      () => encodeDownload({ id: 1, offset: 0, path: "a", length: 2 ** 53 }),
    ],
    ["DATA id 2^32", () => up.frameCopy(2 ** 32, new Uint8Array(1))],
    ["DATA id -1", () => down.frameCopy(-1, new Uint8Array())],
  ];
  const wrapped: string[] = [];
  for (const [name, encode] of cases) {
    let frame: Uint8Array;
    try {
      frame = encode();
    } catch (err) {
      assert.ok(err instanceof RangeError, `${name}: ${err}`);
      continue; // refused: good
    }
    wrapped.push(`${name} → payload ${hex(frame.subarray(HEADER_SIZE, HEADER_SIZE + 12))}`);
  }
  assert.deepEqual(wrapped, [], "encoded without complaint:\n" + wrapped.join("\n"));
  // The boundaries themselves are accepted.
  encodeIdOnly(SERVICES.OK, 0xffffffff);
  encodeUpload({ id: 0, size: Number.MAX_SAFE_INTEGER, mtime: 0, path: "a" });
  encodeUpload({ id: 0, size: UNKNOWN_SIZE, mtime: null, path: "a" });
});

// ---------------------------------------------------------------------------------------------
// Fuzz: decoders only ever throw FerryError (BAD_ARGUMENT or BAD_NAME)

/** Every `decode*` function `messages/mod.ts` exports. */
const EXPORTED = Object.entries(messages).filter(([name, value]) =>
  name.startsWith("decode") && typeof value === "function"
) as [string, (p: Uint8Array) => unknown][];

/** The exported decoders, and those that take a checksum algorithm with each algorithm. */
const DECODERS: [string, (p: Uint8Array) => unknown][] = [
  ...EXPORTED,
  ["decodeEof xxh128", (p) => messages.decodeEof(p, "xxh128")],
  ["decodeDigest xxh128", (p) => messages.decodeDigest(p, "xxh128")],
];

Deno.test("messages: the fuzzers reach every decoder", () => {
  assert.deepEqual(EXPORTED.map(([name]) => name).sort(), [
    "decodeAuth",
    "decodeAuthOk",
    "decodeData",
    "decodeDigest",
    "decodeDownload",
    "decodeEof",
    "decodeError",
    "decodeFileInfo",
    "decodeHashRequest",
    "decodeHello",
    "decodeIdOnly",
    "decodeList",
    "decodeListEntries",
    "decodeMkdir",
    "decodePathRequest",
    "decodeRename",
    "decodeStatResult",
    "decodeUpload",
    "decodeUploadResume",
    "decodeUploadStatus",
    "decodeWelcome",
  ]);
  // And every service's own decoder is one of them.
  for (const c of CODECS) {
    assert.ok(EXPORTED.some(([, d]) => d === (c.exported ?? c.decode)), c.label ?? c.service);
  }
});

function onlyFerryErrors(name: string, decode: (p: Uint8Array) => unknown, payload: Uint8Array) {
  try {
    decode(payload);
  } catch (err) {
    if (!(err instanceof FerryError)) {
      assert.fail(`${name}(${hex(payload.subarray(0, 64))}) threw ${err}`);
    }
    assert.ok(["BAD_ARGUMENT", "BAD_NAME"].includes(err.code), `${name}: ${err.code}`);
  }
}

function allOnlyFerryErrors(payload: Uint8Array): void {
  for (const [name, decode] of DECODERS) onlyFerryErrors(name, decode, payload);
}

const RANDOM_MAX = 80;
const PLAUSIBLE_MAX = 120;
const randomBytes = fc.uint8Array({ maxLength: RANDOM_MAX, size: "max" });
// Random bytes with plausible small counts and lengths; long enough to hold several entries.
const plausibleBytes = fc.array(fc.constantFrom(0, 1, 2, 0x7f, 0x80, 0xc0, 0xed, 0xff), {
  maxLength: PLAUSIBLE_MAX,
  size: "max",
}).map((a) => new Uint8Array(a));

Deno.test("messages: the fuzz generators reach their declared lengths", () => {
  assert.equal(largest(randomBytes, (b) => b.length), RANDOM_MAX);
  assert.equal(largest(plausibleBytes, (b) => b.length), PLAUSIBLE_MAX);
});

Deno.test("fuzz: random bytes make every decoder throw only FerryError", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        { weight: 10, arbitrary: randomBytes },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: MAX_PAYLOAD, size: "max" }) },
        { weight: 10, arbitrary: plausibleBytes },
      ),
      (payload) => {
        allOnlyFerryErrors(payload);
        // And the same bytes as a view into a larger buffer.
        const backing = new Uint8Array(payload.length + 3);
        backing.set(payload, 3);
        allOnlyFerryErrors(backing.subarray(3));
      },
    ),
    { numRuns: 3000, ...BOUNDED },
  );
});

Deno.test("fuzz: mutated payloads of every service make its own decoder, and all, throw only FerryError", () => {
  const mutation = fc.record({
    index: fc.integer({ min: 0, max: CODECS.length - 1 }),
    seed: fc.nat(),
    flips: fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 6, size: "max" }),
    cut: fc.option(fc.nat(), { nil: undefined }),
    extra: fc.uint8Array({ maxLength: 16, size: "max" }),
  }, PLAIN);
  const hit = new Set<string>();
  fc.assert(
    fc.property(mutation, ({ index, seed, flips, cut, extra }) => {
      const c = CODECS[index];
      hit.add(c.label ?? c.service);
      const [m] = fc.sample(c.arb, { numRuns: 1, seed });
      let p = splitFrame(c, c.encode(m)).slice();
      for (const [at, v] of flips) if (p.length > 0) p[at % p.length] = v;
      if (cut !== undefined) p = p.subarray(0, cut % (p.length + 1));
      const mutated = concat([p, extra]);
      onlyFerryErrors(`${c.service} decoder`, c.decode, mutated);
      allOnlyFerryErrors(mutated);
    }),
    { numRuns: 2000, ...BOUNDED },
  );
  assert.equal(hit.size, CODECS.length, "every service was mutated");
});
