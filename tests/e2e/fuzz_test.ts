/**
 * Fuzzing a live server over real TLS (catalogue row 9): after a valid HELLO and AUTH (or, in
 * some runs, without them), each run sends a random sequence of frames: valid frames of every
 * service with random fields, mutated ones (flipped bytes, lying lengths, foreign versions and
 * services, cut payloads), empty frames and random bytes, cut into random writes. Uploads range
 * from empty to more than 1 MiB, so they span many data frames and fill the server's write
 * buffer. Runs end with a TLS half-close, an abrupt close, or a frame cut short.
 *
 * Invariants: every connection ends with a disconnect line and an expected reason (a run whose
 * bytes end inside a frame, closed cleanly, is never "closed by client"; a flood is logged as
 * one), no INTERNAL error, nothing written outside the root (a CANARY beside it stays
 * byte-identical), no temporary file visible in a listing of any directory or left on disk but
 * a resumable partial, and afterwards a good client's put+get round trip verifies. A second,
 * shorter fuzz logs in as admin, each run against its own server, so that CLOSE_SERVER is
 * reached and shuts servers down mid-sequence.
 *
 * FUZZ_RUNS (default 4,000), FUZZ_ADMIN_RUNS (default 60) and FUZZ_SEED replay a run; the seed
 * is printed.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import type { FerryClient } from "../../mod.ts";
import {
  encodeAuth,
  encodeDownload,
  encodeEof,
  encodeHashRequest,
  encodeHello,
  encodeIdOnly,
  encodeMkdir,
  encodePathRequest,
  encodeRename,
  encodeUpload,
  encodeUploadResume,
  encodeUploadStatus,
} from "../../protocol/messages/mod.ts";
import { SERVICES } from "../../protocol/services.ts";
import type { LogFields } from "../../server/log.ts";
import {
  closeClient,
  collector,
  concat,
  MiB,
  openRaw,
  randomBytes,
  settlesWithin,
  sha256Bytes,
  sha256Hex,
  snapshot,
  startServer,
  type TestServer,
  TOKENS,
} from "../_helpers/mod.ts";
import { encodeDataFrames, encodeFrame } from "../protocol/_frames.ts";
import { largest, pattern } from "../protocol/_helpers.ts";

const RUNS = Number(Deno.env.get("FUZZ_RUNS") ?? 4_000);
const ADMIN_RUNS = Number(Deno.env.get("FUZZ_ADMIN_RUNS") ?? 60);
const SEED = Deno.env.get("FUZZ_SEED") === "random"
  ? Math.floor(Math.random() * 2 ** 31)
  : Number(Deno.env.get("FUZZ_SEED") ?? 20_261_125);

/** Largest payload of one data frame: 65,535 minus the request id. */
const DATA_FRAME_MAX = 65_531;

// ---------------------------------------------------------------------------------------------
// Generators. Every array and string says `size: "max"`: without it fast-check stops at about
// 10 elements whatever the declared maximum (see the reach test below).

const ids = fc.oneof(
  fc.constantFrom(0, 1, 2, 3, 7, 0xffff_ffff),
  fc.integer({ min: 0, max: 0xffff_ffff }),
);

const NAMES = [
  ".",
  "",
  "a.txt",
  "big.bin",
  "d",
  "d/inner.txt",
  "d/e",
  "new.txt",
  "d/new.bin",
  "d/e/deep.bin",
  "out",
  "out/x",
  "d/up",
  "d/up/canary.txt",
  "..",
  "../outside/canary.txt",
  "a/../../outside/canary.txt",
  "./..",
  "/etc/passwd",
  "//etc",
  "..\\..\\x",
  "C:\\x",
  "c:/x",
  "\\\\srv\\share",
  "CON",
  "nul.txt",
  "COM1 ",
  "name.",
  "f::$DATA",
  "a\u0000b",
  "a\nb",
  "\u001b[31m",
  "%2e%2e%2f",
  ".ferry-x",
  "d/.ferry-x",
  "é".repeat(128),
  "x".repeat(255),
  "a/".repeat(300) + "z",
];
const PATH_MAX = 40;
const paths = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NAMES) },
  { weight: 1, arbitrary: fc.string({ maxLength: PATH_MAX, size: "max" }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: PATH_MAX, size: "max" }) },
);
const sizes = fc.oneof(
  fc.constantFrom(0, 1, 10, 65_531, 65_532, 200_000, Number.MAX_SAFE_INTEGER, -1),
  fc.integer({ min: 0, max: 1 << 20 }),
);
const mtimes = fc.oneof(fc.constant(null), fc.integer({ min: 0, max: 2 ** 45 }));

/** Upload contents, made when sent: up to 3,000 bytes, or rarely up to past 1 MiB. */
interface Body {
  /** Its length. */
  length: number;
  /** Its bytes. */
  bytes(): Uint8Array;
}

/** `length` bytes of a seeded pattern, a block of 8,191 repeated (cheap to make at 1 MiB). */
function filler(length: number, seed: number): Uint8Array {
  const block = pattern(Math.min(length, 8_191), seed);
  const out = new Uint8Array(length);
  for (let at = 0; at < length; at += block.length) out.set(block.subarray(0, length - at), at);
  return out;
}

const SMALL_MAX = 3_000;
const LARGE_MAX = MiB + 300_000;
const bodies: fc.Arbitrary<Body> = fc.record({
  length: fc.oneof(
    { weight: 19, arbitrary: fc.nat(SMALL_MAX) },
    {
      // Frame boundaries, several frames, and past the server's 1 MiB write buffer.
      weight: 1,
      arbitrary: fc.oneof(
        fc.constantFrom(
          DATA_FRAME_MAX,
          DATA_FRAME_MAX + 1,
          2 * DATA_FRAME_MAX,
          MiB - 1,
          MiB,
          MiB + 1,
          LARGE_MAX,
        ),
        fc.integer({ min: SMALL_MAX + 1, max: LARGE_MAX }),
      ),
    },
  ),
  seed: fc.nat(),
}).map(({ length, seed }) => ({ length, bytes: () => filler(length, seed) }));
const TOKEN_MAX = 60;
const tokens = fc.oneof(
  fc.constantFrom(TOKENS.read, TOKENS.write, "", "x"),
  fc.string({ maxLength: TOKEN_MAX, size: "max" }),
);
const AGENT_MAX = 30;
const agents = fc.string({ maxLength: AGENT_MAX, size: "max" });

/** A frame (or frames) to send, made only when sent; `body` is its upload body, if any. */
interface Made {
  make(): Uint8Array;
  body?: Body;
}

/** Valid frames of every service a client may send, with random fields. */
const validFrame: fc.Arbitrary<Made> = fc.oneof(
  fc.record({
    id: ids,
    min: fc.nat(3),
    max: fc.nat(3),
    agent: agents,
  }).map((m) => ({ make: () => encodeHello({ ...m, minVersion: m.min, maxVersion: m.max }) })),
  fc.record({ id: ids, token: tokens }).map((m) => ({ make: () => encodeAuth(m) })),
  fc.record({
    svc: fc.constantFrom(SERVICES.LIST, SERVICES.DELETE, SERVICES.STAT),
    id: ids,
    path: paths,
  }).map((m) => ({ make: () => encodePathRequest(m.svc, { id: m.id, path: m.path }) })),
  fc.record({ id: ids, offset: sizes, path: paths })
    .map((m) => ({ make: () => encodeDownload(m) })),
  fc.record({ id: ids, size: sizes, mtime: mtimes, path: paths })
    .map((m) => ({ make: () => encodeUpload(m) })),
  fc.record({ id: ids, size: sizes, mtime: mtimes, path: paths })
    .map((m) => ({ make: () => encodeUploadStatus(m) })),
  fc.record({ id: ids, offset: sizes, size: sizes, mtime: mtimes, path: paths })
    .map((m) => ({ make: () => encodeUploadResume(m) })),
  fc.record({ id: ids, body: bodies }).map((m) => ({
    make: () => encodeDataFrames(SERVICES.UPLOAD_DATA, m.id, m.body.bytes()),
    body: m.body,
  })),
  fc.record({ id: ids, size: sizes, sha256: fc.uint8Array({ minLength: 32, maxLength: 32 }) })
    .map((m) => ({ make: () => encodeEof(m) })),
  fc.record({ svc: fc.constantFrom(SERVICES.CANCEL, SERVICES.CLOSE_SERVER), id: ids })
    .map((m) => ({ make: () => encodeIdOnly(m.svc, m.id) })),
  fc.record({ id: ids, length: sizes, path: paths })
    .map((m) => ({ make: () => encodeHashRequest(m) })),
  fc.record({ id: ids, parents: fc.boolean(), path: paths })
    .map((m) => ({ make: () => encodeMkdir(m) })),
  fc.record({ id: ids, replace: fc.boolean(), from: paths, to: paths })
    .map((m) => ({ make: () => encodeRename(m) })),
  // A complete upload that may well succeed.
  fc.record({ id: ids, body: bodies, path: paths }).map((m) => ({
    make: () => {
      const data = m.body.bytes();
      return concat([
        encodeUpload({ id: m.id, size: data.length, mtime: null, path: m.path }),
        encodeDataFrames(SERVICES.UPLOAD_DATA, m.id, data),
        encodeEof({ id: m.id, size: data.length, sha256: sha256Bytes(data) }),
      ]);
    },
    body: m.body,
  })),
);

type Mutation =
  | { kind: "flip"; at: number[]; value: number[] }
  | { kind: "cut"; keep: number }
  | { kind: "length"; value: number }
  | { kind: "version"; value: number }
  | { kind: "service"; type: number; num: number }
  | { kind: "extend"; extra: Uint8Array };

const EXTEND_MAX = 64;
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant("flip" as const),
    at: fc.array(fc.nat(), { minLength: 1, maxLength: 4, size: "max" }),
    value: fc.array(fc.nat(255), { minLength: 4, maxLength: 4 }),
  }),
  fc.record({ kind: fc.constant("cut" as const), keep: fc.nat() }),
  fc.record({
    kind: fc.constant("length" as const),
    value: fc.oneof(fc.constantFrom(0, 1, 7, 65_535), fc.nat(65_535)),
  }),
  fc.record({ kind: fc.constant("version" as const), value: fc.nat(65_535) }),
  fc.record({ kind: fc.constant("service" as const), type: fc.nat(6), num: fc.nat(9) }),
  fc.record({
    kind: fc.constant("extend" as const),
    extra: fc.uint8Array({ maxLength: EXTEND_MAX, size: "max" }),
  }),
);

function mutate(bytes: Uint8Array, m: Mutation): Uint8Array {
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  switch (m.kind) {
    case "flip":
      if (out.length === 0) return out;
      m.at.forEach((at, i) => out[at % out.length] = m.value[i]);
      return out;
    case "cut":
      return out.subarray(0, m.keep % (out.length + 1));
    case "length":
      if (out.length >= 8) view.setUint16(6, m.value, false);
      return out;
    case "version":
      if (out.length >= 8) view.setUint16(4, m.value, false);
      return out;
    case "service":
      if (out.length >= 8) {
        view.setUint16(0, m.type, false);
        view.setUint16(2, m.num, false);
      }
      return out;
    case "extend":
      return concat([out, m.extra]);
  }
}

const RANDOM_MAX = 200;
const junk = fc.uint8Array({ maxLength: RANDOM_MAX, size: "max" });
/** One element of a run: bytes to send. */
const element: fc.Arbitrary<Made> = fc.oneof(
  { weight: 6, arbitrary: validFrame },
  {
    weight: 4,
    arbitrary: fc.tuple(validFrame, mutation)
      .map(([f, m]) => ({ make: () => mutate(f.make(), m), body: f.body })),
  },
  {
    weight: 1,
    arbitrary: fc.record({ type: fc.nat(6), num: fc.nat(9), version: fc.nat(2) })
      .map((h) => ({ make: () => encodeFrame({ ...h, payload: new Uint8Array(0) }) })),
  },
  {
    weight: 1,
    arbitrary: junk.map((b) => ({ make: () => b })),
  },
);

const ELEMENTS_MAX = 24;
/** How a run ends: a TLS half-close or an abrupt close, maybe after a frame cut short. */
const ending = fc.record({
  close: fc.constantFrom("half-close" as const, "abrupt" as const),
  tail: fc.oneof(
    { weight: 3, arbitrary: fc.constant(new Uint8Array(0)) },
    // Part of a header, or a header announcing more payload than follows.
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 7, size: "max" }) },
    {
      weight: 1,
      arbitrary: fc.nat(99).map((n) =>
        concat([new Uint8Array([0, 0, 0, 1, 0, 1, 0, 100]), new Uint8Array(n)])
      ),
    },
  ),
});

const run = fc.record({
  login: fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, {
    weight: 1,
    arbitrary: fc.constant(false),
  }),
  elements: fc.array(element, { minLength: 1, maxLength: ELEMENTS_MAX, size: "max" }),
  splits: fc.array(fc.nat(), { maxLength: 4, size: "max" }),
  ending,
});
type Run = typeof run extends fc.Arbitrary<infer T> ? T : never;

/**
 * Whether `bytes` end inside a frame, by PROTOCOL.md's framing alone (8-byte header, big-endian
 * Data_Len at offset 6): then a server that read them all must see a truncated frame.
 */
function endsInsideFrame(bytes: Uint8Array): boolean {
  let at = 0;
  while (at < bytes.length) {
    if (bytes.length - at < 8) return true;
    const length = (bytes[at + 6] << 8) | bytes[at + 7];
    if (bytes.length - at - 8 < length) return true;
    at += 8 + length;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Fixture and checks

async function prepare(t: TestServer): Promise<void> {
  await Deno.writeTextFile(`${t.outside}/canary.txt`, "CANARY secret contents\n");
  await Deno.writeTextFile(`${t.root}/a.txt`, "hello");
  await Deno.writeFile(`${t.root}/big.bin`, randomBytes(200_000));
  await Deno.mkdir(`${t.root}/d/e`, { recursive: true });
  await Deno.writeTextFile(`${t.root}/d/inner.txt`, "inner");
  await Deno.symlink("../outside", `${t.root}/out`);
  await Deno.symlink("../../outside", `${t.root}/d/up`);
}

/**
 * The server's hidden names, judged independently of the implementation: PROTOCOL.md reserves
 * the `.ferry-` prefix, in any case.
 */
const HIDDEN = /^\.ferry-/i;
/** A kept, resumable upload: `.ferry-<32 hex>.partial` (PROTOCOL.md §4.5). */
const RESUMABLE = /^\.ferry-[0-9a-f]{32}\.partial$/;

/** Every directory the client lists below `dir` (symlinks not followed), depth first. */
async function listedNames(c: FerryClient, dir = "."): Promise<string[]> {
  const names: string[] = [];
  for (const e of await c.list(dir)) {
    const path = dir === "." ? e.name : `${dir}/${e.name}`;
    names.push(path);
    if (e.kind === "dir") names.push(...await listedNames(c, path));
  }
  return names;
}

/** Every path below `dir` on disk (symlinks not followed). */
async function namesOnDisk(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    out.push(`${prefix}${e.name}`);
    if (e.isDirectory) out.push(...await namesOnDisk(`${dir}/${e.name}`, `${prefix}${e.name}/`));
  }
  return out;
}

/**
 * Known bugs found by this fuzzer in files outside its author's reach, reported to be fixed
 * there; each is tolerated (and counted in the output) until then, so that the fuzzer keeps
 * finding the others. Remove an entry once its fix lands.
 */
const KNOWN_BUGS: { what: string; matches: (l: LogFields) => boolean }[] = [];

const EXPECTED_REASONS =
  /^(closed by client|closed by server|truncated frame|unparseable frame|flood of useless frames|idle timeout|authentication deadline passed|write stalled)/;

/** What one fuzz run observed. */
interface Observed {
  /** The disconnect reason the server logged. */
  reason: string;
  /** Whether an admin's CLOSE_SERVER was accepted (the server then shuts down). */
  stopped: boolean;
}

/**
 * Sends run `r` to `t` with `token` and checks the per-run invariants; returns what happened.
 * `knownBugHits` counts the tolerated KNOWN_BUGS.
 */
async function fuzzOnce(
  t: TestServer,
  r: Run,
  token: string,
  knownBugHits: Map<string, number>,
): Promise<Observed> {
  const firstLog = t.logs.length;
  const raw = await openRaw(t.port, t.ca, { discard: true });
  // HELLO and AUTH go first, without waiting for their answers.
  const login = r.login
    ? [
      encodeHello({ id: 1, minVersion: 1, maxVersion: 1, agent: "fuzz" }),
      encodeAuth({ id: 2, token }),
    ]
    : [];
  const bytes = concat([...login, ...r.elements.map((e) => e.make()), r.ending.tail]);
  let sentAll = false;
  try {
    // Send in random pieces.
    const cuts = [...new Set(r.splits.map((s) => s % (bytes.length + 1)))].sort((a, b) => a - b);
    let from = 0;
    for (const cut of [...cuts, bytes.length]) {
      if (cut > from) await raw.send(bytes.subarray(from, cut));
      from = cut;
    }
    if (r.ending.close === "half-close") {
      await raw.closeWrite();
      sentAll = true;
      assert.ok(await raw.closedWithin(10_000), "the server ends the connection");
    }
  } catch (err) {
    // Writing may fail once the server closed (flood, auth failures): that is allowed.
    if (err instanceof assert.AssertionError) throw err;
  } finally {
    await raw.close();
  }
  // The server logs the disconnect of every connection, with an expected reason; a connection
  // closed abruptly may end before the server's side of the handshake did.
  const peer = `127.0.0.1:${raw.localAddr.port}`;
  const mine = () => t.logs.slice(firstLog).filter((l) => l.peer === peer);
  const waitUntil = Date.now() + 10_000;
  const ended = (l: LogFields) => l.event === "disconnect" || l.event === "handshake";
  while (!mine().some(ended) && Date.now() < waitUntil) {
    await new Promise((res) => setTimeout(res, 5));
  }
  const done = mine().find(ended);
  assert.ok(done !== undefined, `the connection from ${peer} logged its end`);
  if (done.event === "handshake") {
    assert.equal(r.ending.close, "abrupt", `a handshake that failed: ${done.error}`);
    return { reason: "closed during the handshake", stopped: false };
  }
  const conn = done.conn;
  const lines = t.logs.slice(firstLog).filter((l) => l.conn === conn);
  const reason = String(done.reason);
  assert.match(reason, EXPECTED_REASONS, `disconnect reason`);
  if (lines.some((l) => l.event === "flood")) {
    assert.equal(reason, "flood of useless frames", "a flood is logged as the reason");
  }
  if (sentAll && endsInsideFrame(bytes)) {
    assert.notEqual(
      reason,
      "closed by client",
      "bytes that end inside a frame, closed cleanly, are not a clean close by the client",
    );
  }
  const internal = t.logs.slice(firstLog).filter((l) => {
    if (l.result !== "INTERNAL") return false;
    const known = KNOWN_BUGS.find((b) => b.matches(l));
    if (known === undefined) return true;
    knownBugHits.set(known.what, (knownBugHits.get(known.what) ?? 0) + 1);
    return false;
  });
  assert.deepEqual(internal, [], "no INTERNAL error");
  const stopped = lines.some((l) => l.op === "shutdown" && l.result === "ok");
  return { reason, stopped };
}

/** A good client's put+get round trip, and no hidden name listed in any directory or kept. */
async function checkServes(t: TestServer, name: string): Promise<void> {
  const c = await t.client(TOKENS.write);
  try {
    const data = randomBytes(300_000);
    await c.upload(data, name);
    const sink = collector();
    await c.download(name, sink.stream);
    assert.equal(sha256Hex(sink.bytes()), sha256Hex(data), "round trip after the fuzz");
    const listed = await listedNames(c);
    assert.ok(listed.includes(name));
    const hidden = listed.filter((p) => HIDDEN.test(p.split("/").at(-1)!));
    assert.deepEqual(hidden, [], "no temporary name is listed, in any directory");
  } finally {
    await closeClient(c);
  }
  const left = (await namesOnDisk(t.root)).filter((p) => HIDDEN.test(p.split("/").at(-1)!));
  const stray = left.filter((p) => !RESUMABLE.test(p.split("/").at(-1)!));
  assert.deepEqual(stray, [], "only resumable partials are left on disk once connections end");
}

/** The count of each `result` in `logs`, for the output. */
function results(logs: LogFields[]): string {
  const counts = new Map<string, number>();
  for (const l of logs) {
    if (l.result !== undefined) {
      counts.set(String(l.result), (counts.get(String(l.result)) ?? 0) + 1);
    }
  }
  return JSON.stringify(Object.fromEntries(counts));
}

// ---------------------------------------------------------------------------------------------

Deno.test("fuzz: the generators reach the sizes they declare", () => {
  const made = fc.sample(run, { numRuns: 2_000, seed: SEED });
  const bodiesSeen = made.flatMap((r) => r.elements.flatMap((e) => e.body ? [e.body.length] : []));
  assert.ok(Math.max(...bodiesSeen) > MiB, "an upload passes the 1 MiB write buffer");
  assert.ok(
    bodiesSeen.filter((n) => n > DATA_FRAME_MAX).length >= 10,
    "uploads span several data frames",
  );
  assert.equal(Math.max(...made.map((r) => r.elements.length)), ELEMENTS_MAX, "elements per run");
  const small = largest(bodies, (b) => b.length > SMALL_MAX ? 0 : b.length);
  assert.ok(small >= 0.95 * SMALL_MAX, `small bodies reach ${small} of ${SMALL_MAX} bytes`);
  assert.equal(largest(tokens, (s) => [...s].length), TOKEN_MAX, "tokens");
  assert.equal(largest(paths, (s) => NAMES.includes(s) ? 0 : [...s].length), PATH_MAX, "paths");
  assert.equal(largest(agents, (s) => [...s].length), AGENT_MAX, "agents");
  assert.equal(largest(junk, (b) => b.length), RANDOM_MAX, "random bytes");
  assert.equal(
    largest(mutation, (m) => m.kind === "extend" ? m.extra.length : 0),
    EXTEND_MAX,
    "extend",
  );
  const endings = new Set(made.map((r) => r.ending.close));
  assert.deepEqual([...endings].sort(), ["abrupt", "half-close"]);
});

Deno.test(`fuzz: ${RUNS} random and mutated frame sequences against a live server (row 9)`, async () => {
  console.log(`fuzz seed=${SEED} runs=${RUNS}; replay with FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS}`);
  const t = await startServer({
    authFailuresPerIp: 1_000_000,
    authTimeoutMs: 5_000,
    idleTimeoutMs: 5_000,
    maxUploadBytes: 16 * MiB,
    // Every connection's disconnect line is checked: no connection's lines may be held back
    // (tests/server/log_test.ts tests the limits on the lines of connections not logged in).
    preLoginLogBurst: Number.MAX_SAFE_INTEGER,
  });
  try {
    await prepare(t);
    const outsideBefore = await snapshot(t.outside, { contents: true });
    const started = performance.now();
    const rssBefore = Deno.memoryUsage().rss;
    const knownBugHits = new Map<string, number>();
    const reasons = new Map<string, number>();
    let bytesUploaded = 0;

    await fc.assert(
      fc.asyncProperty(run, async (r) => {
        const seen = await fuzzOnce(t, r, TOKENS.write, knownBugHits);
        assert.equal(seen.stopped, false, "a write token cannot stop the server");
        const key = seen.reason.split(/[:(]/)[0].trim();
        reasons.set(key, (reasons.get(key) ?? 0) + 1);
        for (const e of r.elements) bytesUploaded += e.body?.length ?? 0;
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );

    const seconds = (performance.now() - started) / 1000;
    console.log(
      `${RUNS} runs in ${seconds.toFixed(1)} s; ${(bytesUploaded / MiB).toFixed(0)} MiB of ` +
        `upload bodies; ${t.logs.length} server log lines; RSS of the test process (server ` +
        `included) ${(rssBefore / MiB).toFixed(0)} MiB before, ` +
        `${(Deno.memoryUsage().rss / MiB).toFixed(0)} MiB after`,
    );
    console.log(`server results: ${results(t.logs)}`);
    console.log(`disconnect reasons: ${JSON.stringify(Object.fromEntries(reasons))}`);
    for (const [what, n] of knownBugHits) console.log(`known bug hit ${n} times: ${what}`);
    if (RUNS >= 1_000) {
      // The endings reach more than the client's own close.
      for (const r of ["closed by client", "truncated frame", "unparseable frame"]) {
        assert.ok((reasons.get(r) ?? 0) > 0, `some run ended with "${r}"`);
      }
    }

    // Nothing outside the root changed; CANARY is intact.
    assert.deepEqual(
      await snapshot(t.outside, { contents: true }),
      outsideBefore,
      "outside the root is unchanged",
    );
    assert.equal(await Deno.readTextFile(`${t.outside}/canary.txt`), "CANARY secret contents\n");
    await checkServes(t, "after-fuzz.bin");
  } finally {
    await t.close();
  }
});

Deno.test(`fuzz: ${ADMIN_RUNS} admin sequences, CLOSE_SERVER included, each against its own server`, async () => {
  const seed = SEED + 1;
  console.log(`fuzz (admin) seed=${seed} runs=${ADMIN_RUNS}`);
  // CLOSE_SERVER is likelier here, so that some runs stop their server mid-sequence.
  const adminRun = fc.record({
    login: fc.constant(true),
    elements: fc.array(
      fc.oneof(
        { weight: 4, arbitrary: element },
        {
          weight: 1,
          arbitrary: ids.map((id) => ({ make: () => encodeIdOnly(SERVICES.CLOSE_SERVER, id) })),
        },
      ),
      { minLength: 1, maxLength: ELEMENTS_MAX, size: "max" },
    ),
    splits: fc.array(fc.nat(), { maxLength: 4, size: "max" }),
    ending,
  });
  const knownBugHits = new Map<string, number>();
  let stopped = 0;
  await fc.assert(
    fc.asyncProperty(adminRun, async (r) => {
      const t = await startServer({ shutdownGraceMs: 300, maxUploadBytes: 16 * MiB });
      try {
        await prepare(t);
        const outsideBefore = await snapshot(t.outside, { contents: true });
        const seen = await fuzzOnce(t, r, TOKENS.admin, knownBugHits);
        assert.deepEqual(await snapshot(t.outside, { contents: true }), outsideBefore);
        if (seen.stopped) {
          stopped++;
          const finished = await settlesWithin(t.server.finished, 10_000);
          assert.ok(finished.settled, "the server stops after CLOSE_SERVER");
          assert.ok(t.logs.some((l) => l.event === "stopped"), "and logs it");
        } else {
          await checkServes(t, "after-admin-fuzz.bin");
        }
      } finally {
        await t.close();
      }
    }),
    { numRuns: ADMIN_RUNS, seed, endOnFailure: true },
  );
  console.log(`${stopped} of ${ADMIN_RUNS} admin runs stopped their server`);
  for (const [what, n] of knownBugHits) console.log(`known bug hit ${n} times: ${what}`);
  if (ADMIN_RUNS >= 20) {
    assert.ok(stopped > 0, "CLOSE_SERVER stopped some servers");
    assert.ok(stopped < ADMIN_RUNS, "and some runs went on without it");
  }
});
