/**
 * The symlink race against a real server (issue 10 item 1, catalogue row 21): a Worker
 * exchanges the real directory `ROOT/d` with a symbolic link to a directory outside the root
 * (`renameat2(RENAME_EXCHANGE)` in a tight loop) while a client drives every operation on
 * `d/f` over TLS, through the client library (get, put, rm, mv, ls, HASH, STAT) and raw frames
 * (UPLOAD_STATUS, UPLOAD_RESUME). Nothing outside may be returned, created, changed or
 * removed; every operation must both succeed sometimes and meet the link sometimes.
 *
 * The server runs on the race-free storage. A control runs the same race against the
 * path-based storage and must see it escape, so the detectors can fail.
 *
 * Longer by hand: FERRY_RACE_SECONDS=60 deno task test tests/server/storage/symlink_race_server_test.ts
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { type ErrorCode, type FerryClient, FerryError } from "../../../mod.ts";
import {
  decodeDigest,
  encodeEof,
  encodeUploadResume,
  encodeUploadStatus,
} from "../../../protocol/messages/mod.ts";
import { SERVICES } from "../../../protocol/services.ts";
import {
  type BeneathDirectory,
  BeneathRoot,
  checkSupport,
} from "../../../server/storage/beneath/mod.ts";
import { isTempName } from "../../../server/storage/paths.ts";
import { partialName } from "../../../server/storage/staging.ts";
import {
  errorOf,
  openRaw,
  type RawConn,
  rawLogin,
  sha256Bytes as sha256,
  startServer,
  type TestServer,
  TOKENS,
} from "../../_helpers/mod.ts";
import { encodeDataFrames } from "../../protocol/_frames.ts";
import { SymlinkRace } from "./symlink_race.ts";

const support = checkSupport();
const ignore = !support.supported;
if (ignore) console.warn(`symlink_race_server_test: skipped, ${support.reason}`);

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Seconds the race runs at least (FERRY_RACE_SECONDS, default 3). */
function raceSeconds(): number {
  const granted = Deno.permissions.querySync({ name: "env", variable: "FERRY_RACE_SECONDS" });
  const value = granted.state === "granted" ? Deno.env.get("FERRY_RACE_SECONDS") : undefined;
  const seconds = Number(value ?? "3");
  return Number.isFinite(seconds) && seconds > 0 ? seconds : 3;
}

/** The outside files' modification time: a STAT or listing that shows it has escaped. */
const OUTSIDE_MTIME = Date.UTC(2001, 0, 1);

/** The kept upload both UPLOAD_STATUS and UPLOAD_RESUME ask about. */
const KEPT = {
  size: 64,
  mtime: Date.UTC(2020, 5, 6),
  inside: encoder.encode("inside, kept prefix of 32 bytes!"), // 32 bytes
  outside: encoder.encode("OUTSIDE partial, forty bytes long......."), // 40 bytes
};

/** One file or directory of the outside tree, as one comparable string. */
async function snapshot(dir: string, prefix = ""): Promise<string[]> {
  const rows: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    const info = await Deno.lstat(path);
    const content = info.isFile ? createHash("sha256").update(await Deno.readFile(path)) : null;
    rows.push(JSON.stringify([
      `${prefix}${entry.name}`,
      info.ino,
      info.size,
      info.mtime?.getTime(),
      content?.digest("hex") ?? (info.isSymlink ? await Deno.readLink(path) : "dir"),
    ]));
    if (info.isDirectory) rows.push(...await snapshot(path, `${prefix}${entry.name}/`));
  }
  return rows.sort();
}

/** Counts of one racing operation. */
interface OpTally {
  ok: number;
  refused: Partial<Record<ErrorCode, number>>;
}

/** One operation on `d/f`, with a race-free setup before it. */
interface RacingOp {
  name: string;
  setup?: () => Promise<unknown> | unknown;
  run: () => Promise<unknown>;
}

/** Refusals a racing operation may meet; anything else fails the test. */
const EXPECTED: ReadonlySet<ErrorCode> = new Set<ErrorCode>(["OUTSIDE_ROOT", "NOT_FOUND"]);

/** What the detectors found. */
interface Escapes {
  bytes: number;
  names: number;
  stats: number;
  partials: number;
}

/** The race fixture: a server, its root held by descriptors, a client, a raw connection. */
interface Arena {
  t: TestServer;
  client: FerryClient;
  raw: RawConn;
  /** The real `d`, and the root, by descriptor: setup and restore through them cannot race. */
  home: BeneathDirectory;
  top: BeneathDirectory;
  escapes: Escapes;
  close(): Promise<void>;
}

async function arena(storage: "race-free" | "path"): Promise<Arena> {
  const t = await startServer({}, { storage });
  const root = await Deno.realPath(t.root);
  const outside = await Deno.realPath(t.outside);
  await Deno.mkdir(`${root}/d`);
  await Deno.writeTextFile(`${root}/d/f`, "inside\n");
  await Deno.symlink(outside, `${root}/s`);
  // What d/... names when d is the link: a file, a kept upload of the same key, a canary.
  await Deno.writeTextFile(`${outside}/f`, "OUTSIDE-F\n");
  await Deno.writeTextFile(`${outside}/canary`, "OUTSIDE-CANARY\n");
  const key = partialName(["alice", "f", KEPT.size, KEPT.mtime]);
  await Deno.writeFile(`${outside}/${key}`, KEPT.outside);
  for (const name of ["f", "canary", key]) {
    await Deno.utime(`${outside}/${name}`, OUTSIDE_MTIME / 1000, OUTSIDE_MTIME / 1000);
  }
  const r = BeneathRoot.open(root, { isHidden: isTempName });
  const home = r.openDirectory(["d"]);
  const top = r.openDirectory([]);
  const client = await t.client(TOKENS.write);
  const raw = await openRaw(t.port, t.ca);
  await rawLogin(raw, TOKENS.write);
  return {
    t,
    client,
    raw,
    home,
    top,
    escapes: { bytes: 0, names: 0, stats: 0, partials: 0 },
    async close() {
      client.close();
      await client.closed;
      await raw.close();
      home.close();
      top.close();
      r.close();
      await t.close();
    },
  };
}

/** The operations on `d/f`, each checking what it got for outside bytes, names and stats. */
function operations(a: Arena): RacingOp[] {
  const { client, raw, home, escapes } = a;
  const key = partialName(["alice", "f", KEPT.size, KEPT.mtime]);
  const outsideF = createHash("sha256").update("OUTSIDE-F\n").digest("hex");
  let id = 100;
  const plantKept = async () => {
    try {
      await home.remove(key);
    } catch { /* not there */ }
    const file = home.createFile(key);
    try {
      await file.write(KEPT.inside);
    } finally {
      await file.close();
    }
  };
  /** Sends `frames` for request `id`, returns its one answer (or throws its ERROR). */
  const ask = async (rid: number, ...frames: Uint8Array[]) => {
    await raw.send(...frames);
    const answer = await raw.next(15_000);
    assert.ok(answer !== null, "the server closed the raw connection");
    const error = errorOf(answer);
    if (error !== undefined) {
      assert.equal(error.id, rid);
      throw new FerryError(error.code, error.message);
    }
    return answer;
  };
  const whole = new Uint8Array(KEPT.size).fill(0x69);
  whole.set(KEPT.inside);
  return [
    {
      name: "get",
      run: async () => {
        const chunks: Uint8Array[] = [];
        await client.download("d/f", new WritableStream({ write: (c) => void chunks.push(c) }));
        const text = chunks.map((c) => decoder.decode(c)).join("");
        if (text.includes("OUTSIDE")) escapes.bytes += text.length;
      },
    },
    {
      name: "put",
      run: () =>
        client.upload(encoder.encode("inside, put\n"), "d/f", { mtime: new Date(2022, 1, 1) }),
    },
    { name: "rm", run: () => client.remove("d/f") },
    { name: "mv", run: () => client.rename("d/f", "d/g") },
    {
      name: "ls",
      run: async () => {
        for (const e of await client.list("d")) {
          if (e.name === "canary" || e.mtime === OUTSIDE_MTIME) escapes.names++;
        }
      },
    },
    {
      name: "HASH",
      run: async () => {
        if (await client.hash("d/f") === outsideF) escapes.bytes++;
      },
    },
    {
      name: "STAT",
      run: async () => {
        if ((await client.stat("d/f")).mtime === OUTSIDE_MTIME) escapes.stats++;
      },
    },
    {
      name: "UPLOAD_STATUS",
      setup: plantKept,
      run: async () => {
        const rid = id++;
        const answer = await ask(
          rid,
          encodeUploadStatus({ id: rid, size: KEPT.size, mtime: KEPT.mtime, path: "d/f" }),
        );
        assert.deepEqual([answer.type, answer.num], [1, 6], "UPLOAD_PARTIAL");
        const kept = decodeDigest(answer.payload);
        if (kept.length === KEPT.outside.length) escapes.partials++;
        else assert.equal(kept.length, KEPT.inside.length, "the planted kept upload");
      },
    },
    {
      name: "UPLOAD_RESUME",
      setup: plantKept,
      run: async () => {
        const rid = id++;
        const offset = KEPT.inside.length;
        const answer = await ask(
          rid,
          encodeUploadResume({
            id: rid,
            offset,
            size: KEPT.size,
            mtime: KEPT.mtime,
            path: "d/f",
          }),
          encodeDataFrames(SERVICES.UPLOAD_DATA, rid, whole.subarray(offset)),
          encodeEof({ id: rid, size: KEPT.size, digest: sha256(whole) }),
        );
        assert.deepEqual([answer.type, answer.num], [3, 1], "OK");
      },
    },
  ];
}

/** Back to d/f present with inside bytes, nothing else in d, nothing moved to the top. */
async function restore(a: Arena): Promise<void> {
  const { home } = a;
  for (const stray of ["g"]) {
    try {
      await home.remove(stray);
    } catch { /* not there */ }
  }
  try {
    home.lstat("f");
  } catch {
    const file = home.createFile("f");
    try {
      await file.write(encoder.encode("inside\n"));
    } finally {
      await file.close();
    }
  }
}

/** Runs the race for at least `seconds` (and until every operation went both ways). */
async function race(a: Arena, seconds: number, maxSeconds: number) {
  const ops = operations(a);
  const tally: Record<string, OpTally> = {};
  const root = await Deno.realPath(a.t.root);
  const exchange = await SymlinkRace.start(`${root}/d`, `${root}/s`);
  const started = performance.now();
  const bothWays = () =>
    ops.every((op) =>
      (tally[op.name]?.ok ?? 0) > 0 && (tally[op.name]?.refused.OUTSIDE_ROOT ?? 0) > 0
    );
  let attempts = 0;
  let counts;
  try {
    for (let i = 0;; i++) {
      const elapsed = (performance.now() - started) / 1000;
      if (elapsed >= maxSeconds || (elapsed >= seconds && bothWays())) break;
      const op = ops[i % ops.length];
      const t = (tally[op.name] ??= { ok: 0, refused: {} });
      await op.setup?.();
      attempts++;
      try {
        await op.run();
        t.ok++;
      } catch (err) {
        if (!(err instanceof FerryError) || !EXPECTED.has(err.code)) throw err;
        assert.ok(!err.message.includes(root), `a server path in: ${err.message}`);
        t.refused[err.code] = (t.refused[err.code] ?? 0) + 1;
      }
      await restore(a);
    }
  } finally {
    counts = await exchange.stop();
  }
  return { ops, tally, attempts, exchanges: counts.exchanges };
}

Deno.test({
  name:
    "symlink race against the server (race-free storage): nothing outside is read, listed, created, changed or removed",
  ignore,
  async fn() {
    const a = await arena("race-free");
    const seconds = raceSeconds();
    try {
      const outside = await Deno.realPath(a.t.outside);
      const before = await snapshot(outside);
      const { ops, tally, attempts, exchanges } = await race(a, seconds, Math.max(30, seconds * 2));
      const after = await snapshot(outside);
      console.log(
        `server race ${seconds}s: ${exchanges} exchanges, ${attempts} operations; ` +
          `escapes ${JSON.stringify(a.escapes)}`,
      );
      for (const [name, t] of Object.entries(tally)) {
        console.log(`  ${name}: ${t.ok} ok, refused ${JSON.stringify(t.refused)}`);
      }
      assert.ok(exchanges > 1000, `only ${exchanges} exchanges`);
      for (const op of ops) {
        const t = tally[op.name];
        assert.ok(t !== undefined && t.ok > 0, `${op.name}: no attempt succeeded`);
        assert.ok((t.refused.OUTSIDE_ROOT ?? 0) > 0, `${op.name}: no attempt met the link`);
      }
      assert.deepEqual(a.escapes, { bytes: 0, names: 0, stats: 0, partials: 0 });
      assert.deepEqual(after, before, "the outside tree is exactly as it was");
    } finally {
      await a.close();
    }
  },
});

Deno.test({
  name: "symlink race control: the path-based storage does escape under the same race",
  ignore,
  async fn() {
    const a = await arena("path");
    try {
      const outside = await Deno.realPath(a.t.outside);
      const before = await snapshot(outside);
      const ops = operations(a).filter((op) => op.name === "get" || op.name === "put");
      const root = await Deno.realPath(a.t.root);
      const exchange = await SymlinkRace.start(`${root}/d`, `${root}/s`);
      let changed = false;
      const results: Record<string, number> = {};
      try {
        const deadline = performance.now() + 20_000;
        for (let i = 0; performance.now() < deadline; i++) {
          try {
            await ops[i % 2].run();
            results[`${ops[i % 2].name} ok`] = (results[`${ops[i % 2].name} ok`] ?? 0) + 1;
          } catch (err) {
            if (!(err instanceof FerryError)) throw err;
            const k = `${ops[i % 2].name} ${err.code}`;
            results[k] = (results[k] ?? 0) + 1;
          }
          await restore(a);
          if (JSON.stringify(await snapshot(outside)) !== JSON.stringify(before)) {
            changed = true;
            // Put the outside file back, so that a later escaping get still shows.
            await Deno.writeTextFile(`${outside}/f`, "OUTSIDE-F\n");
          }
          if (a.escapes.bytes > 0 && changed) break;
        }
      } finally {
        await exchange.stop();
      }
      console.log(`control: ${JSON.stringify(results)}, escapes ${JSON.stringify(a.escapes)}`);
      assert.ok(a.escapes.bytes > 0, "get never returned outside bytes: the detector is blind");
      assert.ok(changed, "put never changed the outside tree: the snapshot is blind");
    } finally {
      await a.close();
    }
  },
});
