/**
 * Every message service under test: its codec, an arbitrary of its values, its string fields,
 * the "fixed" size PROTOCOL.md §3.1 gives it, and golden frames written by hand from the
 * offsets of PROTOCOL.md §3.1 (never produced by the encoder).
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";

import { decodeHeader, HEADER_SIZE } from "../../../protocol/frame.ts";
import { PROTOCOL_VERSION, type ServiceName, SERVICES } from "../../../protocol/services.ts";
import { UNKNOWN_SIZE } from "../../../protocol/bytes.ts";
import { ERROR_CODES, type ErrorCode } from "../../../protocol/errors.ts";
import {
  type Auth,
  type AuthOk,
  type ChecksumAlgorithm,
  createDataFrameBuffer,
  type Data,
  DATA_CHUNK,
  decodeAuth,
  decodeAuthOk,
  decodeData,
  decodeDigest,
  decodeDownload,
  decodeEof,
  decodeError,
  decodeFileInfo,
  decodeHashRequest,
  decodeHello,
  decodeIdOnly,
  decodeList,
  decodeListEntries,
  decodeMkdir,
  decodePathRequest,
  decodeRename,
  decodeStatResult,
  decodeUpload,
  decodeUploadResume,
  decodeUploadStatus,
  decodeWelcome,
  type Digest,
  DIGEST_SIZES,
  type Download,
  encodeAuth,
  encodeAuthOk,
  encodeDigest,
  encodeDownload,
  encodeEof,
  encodeError,
  encodeFileInfo,
  encodeHashRequest,
  encodeHello,
  encodeIdOnly,
  encodeList,
  encodeListEntries,
  encodeMkdir,
  encodePathRequest,
  encodeRename,
  encodeStatResult,
  encodeUpload,
  encodeUploadResume,
  encodeUploadStatus,
  encodeWelcome,
  type Entry,
  type Eof,
  type ErrorMessage,
  type FileInfo,
  type HashRequest,
  type Hello,
  type ListEntries,
  type ListRequest,
  MAX_MESSAGE_BYTES,
  type Mkdir,
  type PathRequest,
  type Rename,
  SHA256_SIZE,
  type StatResult,
  type Upload,
  type UploadResume,
  type Welcome,
} from "../../../protocol/messages/mod.ts";
import { fromHex, pattern, PLAIN, text, u16, u32, u64 } from "../_helpers.ts";

/** The module of `protocol/messages/` a service's codec lives in. */
export type MessageModule = "common" | "session" | "files" | "transfer" | "control";

/** A golden example: a value and its whole frame as hex, from PROTOCOL.md §3.1. */
export interface Golden<T> {
  value: T;
  frame: string;
}

/** One service's codec under test. */
export interface Codec<T> {
  /** The service whose frames this codec writes. */
  service: ServiceName;
  /** How tests name it when a service has several layouts (EOF in each checksum algorithm). */
  label?: string;
  /** Where its codec lives. */
  module: MessageModule;
  arb: fc.Arbitrary<T>;
  encode(m: T): Uint8Array;
  decode(payload: Uint8Array): T;
  /** The exported decoder `decode` calls with an argument (default: `decode` is it). */
  exported?: (payload: Uint8Array, ...rest: never[]) => unknown;
  /** What decoding an encoded `m` gives (default: `m`; ERROR cuts long messages). */
  expect?(m: T): T;
  /** One builder per string field: a value whose field holds `s` and no other string does. */
  strings: ((s: string) => T)[];
  /** A value with every string empty and no entries: its payload is `fixed` bytes long. */
  minimal: T;
  /** The "fixed" column of PROTOCOL.md §3.1: the shortest valid payload. */
  fixed: number;
  /** False when trailing bytes are part of the value (data frames). */
  trailingIgnored?: boolean;
  /**
   * For a service whose payload gained appended fields (PROTOCOL.md §8): where an older
   * layout of an encoded `m` ends, and what that prefix decodes to (`m` without the appended
   * fields). The generated values carry every field; only these prefixes are valid payloads.
   */
  older?(m: T, payload: Uint8Array): { length: number; value: T };
  /** Frames written by hand from PROTOCOL.md §3.1 and §9. */
  golden: Golden<T>[];
}

function codec<T>(c: Codec<T>): Codec<unknown> {
  return c as unknown as Codec<unknown>;
}

/** `length` (default 32) bytes start, start+1, ...: a recognisable digest stand-in. */
export function seq(start: number, length = SHA256_SIZE): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (start + i) & 0xff);
}

/** {@linkcode seq} as hex. */
function seqHex(start: number, length = SHA256_SIZE): string {
  return Array.from(seq(start, length), (b) => b.toString(16).padStart(2, "0")).join(" ");
}

/** Most entries a generated LIST_ENTRIES carries; reached (size: "max"). */
export const MAX_ENTRIES = 20;

const entryArb: fc.Arbitrary<Entry> = fc.record({
  name: text,
  kind: fc.constantFrom("file", "dir", "symlink", "other"),
  size: u64,
  mtime: fc.option(u64, { nil: null }),
}, PLAIN);

/** Longest generated ERROR message in code points of the binary kind; reached (size: "max"). */
export const MAX_ERROR_CODE_POINTS = 600;

/** ERROR messages of up to {@linkcode MAX_ERROR_CODE_POINTS} code points of any kind. */
export const longMessageArb: fc.Arbitrary<string> = fc.string({
  unit: "binary",
  maxLength: MAX_ERROR_CODE_POINTS,
  size: "max",
});

/**
 * ERROR messages: short text, long text of any code points (most of them 4 UTF-8 bytes, so
 * well past the 1 KiB cut), and ASCII right around the cut.
 */
export const errorMessageArb: fc.Arbitrary<string> = fc.oneof(
  text,
  longMessageArb,
  fc.integer({ min: MAX_MESSAGE_BYTES - 8, max: MAX_MESSAGE_BYTES + 8 }).map((n) => "x".repeat(n)),
);

const utf8 = new TextEncoder();

const keepBom = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * PROTOCOL.md §3.1: a message over 1,024 UTF-8 bytes is cut to its longest prefix of whole code
 * points of at most 1,021 bytes, followed by `…` (U+2026, 3 bytes). Written here over code
 * points (a lone surrogate is U+FFFD, as UTF-8 encoding makes it), apart from the encoder's
 * byte-level cut.
 */
export function cutMessage(message: string): string {
  const whole = keepBom.decode(utf8.encode(message));
  if (utf8.encode(whole).length <= MAX_MESSAGE_BYTES) return whole;
  let kept = "";
  let bytes = 0;
  for (const ch of whole) {
    const n = utf8.encode(ch).length;
    if (bytes + n > MAX_MESSAGE_BYTES - 3) break;
    kept += ch;
    bytes += n;
  }
  return kept + "…";
}

/** Encodes one data frame the way senders do, through a data-frame buffer. */
function dataFrame(service: "DOWNLOAD_DATA" | "UPLOAD_DATA", m: Data): Uint8Array {
  return createDataFrameBuffer(SERVICES[service], Math.max(1, m.data.length)).frameCopy(
    m.id,
    m.data,
  );
}

const dataCodec = (service: "DOWNLOAD_DATA" | "UPLOAD_DATA", golden: Golden<Data>[]) =>
  codec<Data>({
    service,
    module: "transfer",
    arb: fc.record({
      id: u32,
      data: fc.oneof(
        fc.uint8Array({ maxLength: 64, size: "max" }),
        fc.uint8Array({ maxLength: DATA_CHUNK, size: "max" }),
        fc.constantFrom(new Uint8Array(), pattern(DATA_CHUNK, 3)),
      ),
    }, PLAIN),
    encode: (m) => dataFrame(service, m),
    decode: decodeData,
    strings: [],
    minimal: { id: 1, data: new Uint8Array() },
    fixed: 4,
    trailingIgnored: false,
    golden,
  });

const pathCodec = (service: "DELETE" | "STAT", golden: Golden<PathRequest>[]) =>
  codec<PathRequest>({
    service,
    module: "files",
    arb: fc.record({ id: u32, path: text }, PLAIN),
    encode: (m) => encodePathRequest(SERVICES[service], m),
    decode: decodePathRequest,
    strings: [(path) => ({ id: 3, path })],
    minimal: { id: 3, path: "" },
    fixed: 6,
    golden,
  });

/** Digests of `algorithm`'s size. */
const digestArb = (algorithm: ChecksumAlgorithm) =>
  fc.uint8Array({ minLength: DIGEST_SIZES[algorithm], maxLength: DIGEST_SIZES[algorithm] });

const digestCodec = (
  service: "HASH_RESULT" | "UPLOAD_PARTIAL",
  algorithm: ChecksumAlgorithm,
  golden: Golden<Digest>[],
) =>
  codec<Digest>({
    service,
    label: `${service} (${algorithm})`,
    module: "common",
    arb: fc.record({ id: u32, length: u64, digest: digestArb(algorithm) }, PLAIN),
    encode: (m) => encodeDigest(SERVICES[service], m),
    decode: (p) => decodeDigest(p, algorithm),
    exported: decodeDigest,
    strings: [],
    minimal: { id: 1, length: 0, digest: new Uint8Array(DIGEST_SIZES[algorithm]) },
    fixed: 12 + DIGEST_SIZES[algorithm],
    golden,
  });

const eofCodec = (algorithm: ChecksumAlgorithm, golden: Golden<Eof>[]) =>
  codec<Eof>({
    service: "EOF",
    label: `EOF (${algorithm})`,
    module: "transfer",
    arb: fc.record({ id: u32, size: u64, digest: digestArb(algorithm) }, PLAIN),
    encode: encodeEof,
    decode: (p) => decodeEof(p, algorithm),
    exported: decodeEof,
    strings: [],
    minimal: { id: 1, size: 0, digest: new Uint8Array(DIGEST_SIZES[algorithm]) },
    fixed: 12 + DIGEST_SIZES[algorithm],
    golden,
  });

/** `m` without the field `key` (what an older layout decodes to). */
function without<T extends object>(m: T, key: keyof T): T {
  const copy = { ...m };
  delete copy[key];
  return copy;
}

/** Checksum lists as a HELLO may carry them: distinct known algorithms, any order. */
const checksumsArb: fc.Arbitrary<ChecksumAlgorithm[]> = fc.uniqueArray(
  fc.constantFrom<ChecksumAlgorithm>("sha256", "xxh128"),
  { maxLength: 2 },
);

const idOnlyCodec = (service: "OK" | "CANCEL" | "CLOSE_SERVER", golden: Golden<number>[]) =>
  codec<number>({
    service,
    module: "control",
    arb: u32,
    encode: (id) => encodeIdOnly(SERVICES[service], id),
    decode: decodeIdOnly,
    strings: [],
    minimal: 1,
    fixed: 4,
    golden,
  });

/** Every service's codec, with its golden frames. */
export const CODECS: Codec<unknown>[] = [
  // ---- session
  codec<Hello>({
    service: "HELLO",
    module: "session",
    arb: fc.record(
      { id: u32, minVersion: u16, maxVersion: u16, agent: text, checksums: checksumsArb },
      PLAIN,
    ),
    encode: encodeHello,
    decode: decodeHello,
    older: (m, p) => ({
      length: p.length - 1 - m.checksums!.length,
      value: without(m, "checksums"),
    }),
    strings: [(agent) => ({ id: 1, minVersion: 1, maxVersion: 1, agent, checksums: [] })],
    minimal: { id: 1, minVersion: 1, maxVersion: 1, agent: "" },
    fixed: 10,
    golden: [
      {
        // A client that predates checksum negotiation (PROTOCOL.md §3.2): no list.
        value: { id: 1, minVersion: 1, maxVersion: 2, agent: "ferry/0.1.0" },
        // type 4, num 0, version 1, Data_Len 21 | id | minVersion | maxVersion | agent len, agent
        frame:
          "0004 0000 0001 0015 | 00000001 | 0001 | 0002 | 000b 66 65 72 72 79 2f 30 2e 31 2e 30",
      },
      {
        value: { id: 1, minVersion: 1, maxVersion: 1, agent: "f", checksums: ["xxh128", "sha256"] },
        // Data_Len 14 | id | min | max | agent | count 2 | 2 (XXH3-128) | 1 (SHA-256)
        frame: "0004 0000 0001 000e | 00000001 | 0001 | 0001 | 0001 66 | 02 | 02 | 01",
      },
    ],
  }),
  codec<Welcome>({
    service: "WELCOME",
    module: "session",
    arb: fc.record({
      id: u32,
      version: u16,
      agent: text,
      session: fc.record(
        { checksum: fc.constantFrom<ChecksumAlgorithm>("sha256", "xxh128"), features: u32 },
        PLAIN,
      ),
    }, PLAIN),
    encode: encodeWelcome,
    decode: decodeWelcome,
    older: (m, p) => ({ length: p.length - 5, value: without(m, "session") }),
    strings: [
      (agent) => ({ id: 1, version: 1, agent, session: { checksum: "sha256", features: 0 } }),
    ],
    minimal: { id: 1, version: 1, agent: "" },
    fixed: 8,
    golden: [
      {
        // A server that predates checksum negotiation: SHA-256, no features.
        value: { id: 0x01000001, version: 0x0102, agent: "s" },
        frame: "0004 0001 0001 0009 | 01000001 | 0102 | 0001 73",
      },
      {
        value: { id: 1, version: 1, agent: "s", session: { checksum: "xxh128", features: 1 } },
        // Data_Len 14 | id | version | agent | checksum 2 (XXH3-128) | features (bit 0: RANGES)
        frame: "0004 0001 0001 000e | 00000001 | 0001 | 0001 73 | 02 | 00000001",
      },
    ],
  }),
  codec<Auth>({
    service: "AUTH",
    module: "session",
    arb: fc.record({ id: u32, token: text }, PLAIN),
    encode: encodeAuth,
    decode: decodeAuth,
    strings: [(token) => ({ id: 2, token })],
    minimal: { id: 2, token: "" },
    fixed: 6,
    golden: [{
      value: { id: 2, token: "tk" },
      frame: "0004 0002 0001 0008 | 00000002 | 0002 74 6b",
    }],
  }),
  codec<AuthOk>({
    service: "AUTH_OK",
    module: "session",
    arb: fc.record({ id: u32, role: fc.constantFrom("read", "write", "admin"), user: text }, PLAIN),
    encode: encodeAuthOk,
    decode: decodeAuthOk,
    strings: [(user) => ({ id: 2, role: "admin", user })],
    minimal: { id: 2, role: "read", user: "" },
    fixed: 7,
    golden: [
      // role: 1 read, 2 write, 3 admin (PROTOCOL.md §3, §5)
      {
        value: { id: 2, role: "write", user: "al" },
        frame: "0004 0003 0001 0009 | 00000002 | 02 | 0002 61 6c",
      },
      {
        value: { id: 3, role: "read", user: "" },
        frame: "0004 0003 0001 0007 | 00000003 | 01 | 0000",
      },
      {
        value: { id: 4, role: "admin", user: "r" },
        frame: "0004 0003 0001 0008 | 00000004 | 03 | 0001 72",
      },
    ],
  }),
  // ---- files
  codec<ListRequest>({
    service: "LIST",
    module: "files",
    arb: fc.record({ id: u32, path: text, namesOnly: fc.boolean() }, PLAIN),
    encode: encodeList,
    decode: decodeList,
    older: (m, p) => ({ length: p.length - 1, value: without(m, "namesOnly") }),
    strings: [(path) => ({ id: 3, path, namesOnly: true })],
    minimal: { id: 3, path: "" },
    fixed: 6,
    golden: [
      // PROTOCOL.md §9, byte for byte.
      {
        value: { id: 1, path: "docs" },
        frame: "0000 0000 0001 000a | 00000001 | 0004 64 6f 63 73",
      },
      {
        value: { id: 2, path: "d", namesOnly: true },
        // ... | path | options (bit 0: names only)
        frame: "0000 0000 0001 0008 | 00000002 | 0001 64 | 01",
      },
      {
        value: { id: 3, path: "", namesOnly: false },
        frame: "0000 0000 0001 0007 | 00000003 | 0000 | 00",
      },
    ],
  }),
  pathCodec("DELETE", [
    {
      value: { id: 0x01020304, path: "a/b" },
      frame: "0000 0001 0001 0009 | 01020304 | 0003 61 2f 62",
    },
  ]),
  pathCodec("STAT", [
    { value: { id: 0x0a0b0c0d, path: "é" }, frame: "0000 0003 0001 0008 | 0a0b0c0d | 0002 c3 a9" },
  ]),
  codec<ListEntries>({
    service: "LIST_ENTRIES",
    module: "files",
    arb: fc.record(
      {
        id: u32,
        last: fc.boolean(),
        entries: fc.array(entryArb, { maxLength: MAX_ENTRIES, size: "max" }),
      },
      PLAIN,
    ),
    encode: encodeListEntries,
    decode: decodeListEntries,
    strings: [
      (name) => ({ id: 3, last: true, entries: [{ name, kind: "file", size: 1, mtime: null }] }),
      (name) => ({
        id: 3,
        last: false,
        entries: [
          { name: "", kind: "dir", size: 0, mtime: 2 },
          { name, kind: "file", size: 1, mtime: null },
        ],
      }),
    ],
    minimal: { id: 3, last: false, entries: [] },
    fixed: 7,
    golden: [
      {
        value: {
          id: 7,
          last: true,
          entries: [
            { name: "a", kind: "dir", size: 0, mtime: null },
            { name: "bc", kind: "file", size: 0x0102030405, mtime: 0x010203040506 },
            { name: "l", kind: "symlink", size: 0, mtime: 0 },
            { name: "o", kind: "other", size: 0, mtime: 1 },
          ],
        },
        // Data_Len 88 = 7 + 20 + 21 + 20 + 20 | id | flags (bit 0: last) | count 4 | entries:
        // kind (0 file, 1 dir, 2 symlink, 3 other) · size · mtime (all ones: unknown) · name
        frame: `0000 0002 0001 0058 | 00000007 | 01 | 0004
          01 0000000000000000 ffffffffffffffff 0001 61
          00 0000000102030405 0000010203040506 0002 62 63
          02 0000000000000000 0000000000000000 0001 6c
          03 0000000000000000 0000000000000001 0001 6f`,
      },
      {
        value: { id: 8, last: false, entries: [] },
        frame: "0000 0002 0001 0007 | 00000008 | 00 | 0000",
      },
    ],
  }),
  codec<StatResult>({
    service: "STAT_RESULT",
    module: "files",
    arb: fc.record({ id: u32, entry: entryArb }, PLAIN),
    encode: encodeStatResult,
    decode: decodeStatResult,
    strings: [(name) => ({ id: 3, entry: { name, kind: "dir", size: 0, mtime: 5 } })],
    minimal: { id: 3, entry: { name: "", kind: "dir", size: 0, mtime: 5 } },
    fixed: 4 + 19,
    golden: [{
      value: { id: 9, entry: { name: "f", kind: "file", size: 5, mtime: 0x010203040506 } },
      frame: "0000 0004 0001 0018 | 00000009 | 00 0000000000000005 0000010203040506 0001 66",
    }],
  }),
  codec<HashRequest>({
    service: "HASH",
    module: "files",
    arb: fc.record(
      {
        id: u32,
        length: fc.oneof(u64, fc.constant(UNKNOWN_SIZE)),
        path: text,
        algorithm: fc.constantFrom<ChecksumAlgorithm>("sha256", "xxh128"),
      },
      PLAIN,
    ),
    encode: encodeHashRequest,
    decode: decodeHashRequest,
    older: (m, p) => ({ length: p.length - 1, value: without(m, "algorithm") }),
    strings: [(path) => ({ id: 6, length: UNKNOWN_SIZE, path, algorithm: "sha256" })],
    minimal: { id: 6, length: 0, path: "" },
    fixed: 14,
    golden: [
      {
        value: { id: 2, length: 16, path: "x" },
        frame: "0000 0005 0001 000f | 00000002 | 0000000000000010 | 0001 78",
      },
      {
        value: { id: 3, length: UNKNOWN_SIZE, path: "" },
        frame: "0000 0005 0001 000e | 00000003 | ffffffffffffffff | 0000",
      },
      {
        value: { id: 4, length: UNKNOWN_SIZE, path: "x", algorithm: "xxh128" },
        // ... | path | algorithm 2 (XXH3-128)
        frame: "0000 0005 0001 0010 | 00000004 | ffffffffffffffff | 0001 78 | 02",
      },
      {
        value: { id: 5, length: 0, path: "", algorithm: "sha256" },
        frame: "0000 0005 0001 000f | 00000005 | 0000000000000000 | 0000 | 01",
      },
    ],
  }),
  digestCodec("HASH_RESULT", "sha256", [{
    value: { id: 3, length: 0x0102, digest: seq(0x00) },
    frame: `0000 0006 0001 002c | 00000003 | 0000000000000102 | ${seqHex(0x00)}`,
  }]),
  digestCodec("HASH_RESULT", "xxh128", [{
    // Data_Len 28: the 16-byte XXH3-128 digest at 12
    value: { id: 3, length: 0x0102, digest: seq(0x00, 16) },
    frame: `0000 0006 0001 001c | 00000003 | 0000000000000102 | ${seqHex(0x00, 16)}`,
  }]),
  codec<Mkdir>({
    service: "MKDIR",
    module: "files",
    arb: fc.record({ id: u32, parents: fc.boolean(), path: text }, PLAIN),
    encode: encodeMkdir,
    decode: decodeMkdir,
    strings: [(path) => ({ id: 7, parents: true, path })],
    minimal: { id: 7, parents: false, path: "" },
    fixed: 7,
    golden: [
      {
        value: { id: 4, parents: true, path: "d" },
        frame: "0000 0007 0001 0008 | 00000004 | 01 | 0001 64",
      },
      {
        value: { id: 5, parents: false, path: "e" },
        frame: "0000 0007 0001 0008 | 00000005 | 00 | 0001 65",
      },
    ],
  }),
  codec<Rename>({
    service: "RENAME",
    module: "files",
    arb: fc.record({ id: u32, replace: fc.boolean(), from: text, to: text }, PLAIN),
    encode: encodeRename,
    decode: decodeRename,
    strings: [
      (from) => ({ id: 8, replace: false, from, to: "b" }),
      (to) => ({ id: 8, replace: true, from: "a", to }),
    ],
    minimal: { id: 8, replace: false, from: "", to: "" },
    fixed: 9,
    golden: [
      {
        value: { id: 5, replace: true, from: "ab", to: "c" },
        frame: "0000 0008 0001 000c | 00000005 | 01 | 0002 61 62 | 0001 63",
      },
      {
        value: { id: 6, replace: false, from: "", to: "xy" },
        frame: "0000 0008 0001 000b | 00000006 | 00 | 0000 | 0002 78 79",
      },
    ],
  }),
  // ---- transfer
  codec<Download>({
    service: "DOWNLOAD",
    module: "transfer",
    arb: fc.record(
      { id: u32, offset: u64, path: text, length: fc.oneof(u64, fc.constant(UNKNOWN_SIZE)) },
      PLAIN,
    ),
    encode: encodeDownload,
    decode: decodeDownload,
    older: (m, p) => ({ length: p.length - 8, value: without(m, "length") }),
    strings: [(path) => ({ id: 4, offset: 0, path, length: 1 })],
    minimal: { id: 4, offset: 0, path: "" },
    fixed: 14,
    golden: [
      {
        value: { id: 6, offset: 2 ** 32, path: "f" },
        frame: "0001 0000 0001 000f | 00000006 | 0000000100000000 | 0001 66",
      },
      {
        value: { id: 7, offset: 0x10, path: "f", length: 0x20 },
        // ... | path | length (a range: bytes 16..48)
        frame: "0001 0000 0001 0017 | 00000007 | 0000000000000010 | 0001 66 | 0000000000000020",
      },
      {
        value: { id: 8, offset: 0, path: "", length: UNKNOWN_SIZE },
        frame: "0001 0000 0001 0016 | 00000008 | 0000000000000000 | 0000 | ffffffffffffffff",
      },
    ],
  }),
  dataCodec("DOWNLOAD_DATA", [{
    value: { id: 7, data: new Uint8Array([1, 2, 3]) },
    frame: "0001 0001 0001 0007 | 00000007 | 01 02 03",
  }]),
  codec<Upload>({
    service: "UPLOAD",
    module: "transfer",
    arb: fc.record({
      id: u32,
      size: fc.oneof(u64, fc.constant(UNKNOWN_SIZE)),
      mtime: fc.option(u64, { nil: null }),
      path: text,
    }, PLAIN),
    encode: encodeUpload,
    decode: decodeUpload,
    strings: [(path) => ({ id: 5, size: UNKNOWN_SIZE, mtime: null, path })],
    minimal: { id: 5, size: 0, mtime: null, path: "" },
    fixed: 22,
    golden: [
      {
        value: { id: 8, size: 4096, mtime: 0x010203040506, path: "u" },
        // id | size | mtime | path: size before mtime
        frame: "0001 0002 0001 0017 | 00000008 | 0000000000001000 | 0000010203040506 | 0001 75",
      },
      {
        value: { id: 9, size: UNKNOWN_SIZE, mtime: null, path: "" },
        frame: "0001 0002 0001 0016 | 00000009 | ffffffffffffffff | ffffffffffffffff | 0000",
      },
    ],
  }),
  dataCodec("UPLOAD_DATA", [{
    value: { id: 0xfffffffe, data: new Uint8Array() },
    frame: "0001 0003 0001 0004 | fffffffe",
  }]),
  codec<FileInfo>({
    service: "FILE_INFO",
    module: "transfer",
    arb: fc.record({ id: u32, size: u64, mtime: fc.option(u64, { nil: null }) }, PLAIN),
    encode: encodeFileInfo,
    decode: decodeFileInfo,
    strings: [],
    minimal: { id: 1, size: 0, mtime: null },
    fixed: 20,
    golden: [
      {
        value: { id: 9, size: 0xabcdef, mtime: null },
        frame: "0001 0004 0001 0014 | 00000009 | 0000000000abcdef | ffffffffffffffff",
      },
      {
        value: { id: 10, size: 0, mtime: 0x010203040506 },
        frame: "0001 0004 0001 0014 | 0000000a | 0000000000000000 | 0000010203040506",
      },
    ],
  }),
  codec<Upload>({
    service: "UPLOAD_STATUS",
    module: "transfer",
    arb: fc.record({
      id: u32,
      size: u64,
      mtime: fc.option(u64, { nil: null }),
      path: text,
    }, PLAIN),
    encode: encodeUploadStatus,
    decode: decodeUploadStatus,
    strings: [(path) => ({ id: 10, size: 3, mtime: null, path })],
    minimal: { id: 10, size: 3, mtime: null, path: "" },
    fixed: 22,
    golden: [{
      value: { id: 10, size: 3, mtime: 4, path: "s" },
      frame: "0001 0005 0001 0017 | 0000000a | 0000000000000003 | 0000000000000004 | 0001 73",
    }],
  }),
  digestCodec("UPLOAD_PARTIAL", "sha256", [{
    value: { id: 11, length: 2, digest: seq(0x20) },
    frame: `0001 0006 0001 002c | 0000000b | 0000000000000002 | ${seqHex(0x20)}`,
  }]),
  digestCodec("UPLOAD_PARTIAL", "xxh128", [{
    value: { id: 11, length: 2, digest: seq(0x20, 16) },
    frame: `0001 0006 0001 001c | 0000000b | 0000000000000002 | ${seqHex(0x20, 16)}`,
  }]),
  codec<UploadResume>({
    service: "UPLOAD_RESUME",
    module: "transfer",
    arb: fc.record({
      id: u32,
      offset: u64,
      size: u64,
      mtime: fc.option(u64, { nil: null }),
      path: text,
    }, PLAIN),
    encode: encodeUploadResume,
    decode: decodeUploadResume,
    strings: [(path) => ({ id: 9, offset: 1, size: 2, mtime: null, path })],
    minimal: { id: 9, offset: 1, size: 2, mtime: null, path: "" },
    fixed: 30,
    golden: [
      {
        value: { id: 12, offset: 1, size: 2, mtime: 3, path: "r" },
        // id | offset | size | mtime | path
        frame: `0001 0007 0001 001f | 0000000c | 0000000000000001 | 0000000000000002
          | 0000000000000003 | 0001 72`,
      },
      {
        value: { id: 13, offset: 0, size: 0, mtime: null, path: "" },
        frame: `0001 0007 0001 001e | 0000000d | 0000000000000000 | 0000000000000000
          | ffffffffffffffff | 0000`,
      },
    ],
  }),
  eofCodec("sha256", [{
    value: { id: 16, size: 0x100, digest: seq(0x40) },
    frame: `0003 0003 0001 002c | 00000010 | 0000000000000100 | ${seqHex(0x40)}`,
  }]),
  eofCodec("xxh128", [{
    // Data_Len 28 | id | size | 16-byte XXH3-128 digest
    value: { id: 16, size: 0x100, digest: seq(0x40, 16) },
    frame: `0003 0003 0001 001c | 00000010 | 0000000000000100 | ${seqHex(0x40, 16)}`,
  }]),
  // ---- control
  codec<ErrorMessage>({
    service: "ERROR",
    module: "control",
    arb: fc.record({
      id: u32,
      code: fc.constantFrom(...(Object.keys(ERROR_CODES) as ErrorCode[])),
      message: errorMessageArb,
    }, PLAIN),
    encode: encodeError,
    decode: decodeError,
    expect: (m) => ({ ...m, message: cutMessage(m.message) }),
    strings: [(message) => ({ id: 0, code: "BAD_FRAME", message })],
    minimal: { id: 0, code: "BAD_FRAME", message: "" },
    fixed: 8,
    golden: [
      {
        value: { id: 0, code: "NOT_FOUND", message: "no" },
        // id | code 7 | message
        frame: "0003 0000 0001 000a | 00000000 | 0007 | 0002 6e 6f",
      },
      {
        value: { id: 5, code: "INTERNAL", message: "" },
        frame: "0003 0000 0001 0008 | 00000005 | 0019 | 0000",
      },
    ],
  }),
  idOnlyCodec("OK", [{ value: 14, frame: "0003 0001 0001 0004 | 0000000e" }]),
  idOnlyCodec("CANCEL", [{ value: 0xfffffffe, frame: "0003 0002 0001 0004 | fffffffe" }]),
  idOnlyCodec("CLOSE_SERVER", [{ value: 13, frame: "0002 0003 0001 0004 | 0000000d" }]),
];

/** Hex of a golden frame, with the `|` separators and whitespace of the tables removed. */
export function goldenBytes(frame: string): Uint8Array {
  return fromHex(frame.replaceAll("|", ""));
}

/** Checks a frame's header against `c` and returns its payload. */
export function splitFrame(c: Codec<unknown>, frame: Uint8Array): Uint8Array {
  const h = decodeHeader(frame);
  assert.equal(h.type, SERVICES[c.service].type, `${c.service} type`);
  assert.equal(h.num, SERVICES[c.service].num, `${c.service} num`);
  assert.equal(h.version, PROTOCOL_VERSION, `${c.service} version`);
  assert.equal(h.length, frame.length - HEADER_SIZE, `${c.service} Data_Len`);
  return frame.subarray(HEADER_SIZE);
}

/** What decoding an encoding of `m` must give. */
export function expected(c: Codec<unknown>, m: unknown): unknown {
  return c.expect ? c.expect(m) : m;
}

/** The codecs of one module. */
export function codecsOf(module: MessageModule): Codec<unknown>[] {
  return CODECS.filter((c) => c.module === module);
}
