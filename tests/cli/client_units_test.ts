/**
 * Unit tests of the CLI's small parts: wildcards, batch lines, escaping of names, fingerprints,
 * unsafe listed names, the progress display (throttling, erasing), the pool that moves files
 * (many small ones at once, a few large ones), and the compile script's targets and
 * permissions.
 *
 * @module
 */

import assert from "node:assert/strict";
import { globMatcher, hasWildcard, splitGlob } from "../../cli/glob.ts";
import { parseBatchLine } from "../../cli/batch.ts";
import { printable, toJson } from "../../cli/format.ts";
import { normalizeFingerprint } from "../../client/fingerprints.ts";
import { safeEntryName } from "../../client/local_names.ts";
import { createProgressDisplay } from "../../cli/progress.ts";
import { createReconnector, withReconnect } from "../../cli/reconnect.ts";
import { ALL_TARGETS, BINARIES, resolveTargets } from "../../scripts/compile.ts";
import { createThrottle } from "../../client/throttle.ts";
import { mergeServers, parseHostOption, parseRemote, splitServers } from "../../cli/address.ts";
import { parseRate } from "../../cli/settings.ts";
import { checkMtime, MAX_MTIME, wirePath } from "../../client/wire_values.ts";
import { FILE_SLOTS, pool, slotsOf } from "../../cli/transfer.ts";
import { CLIENT_FLAGS } from "../_helpers/mod.ts";
import { type FerryClient, FerryError } from "../../mod.ts";

Deno.test("client units: wildcards", () => {
  const cases: [string, string, boolean][] = [
    ["*.txt", "a.txt", true],
    ["*.txt", "a.txt.gz", false],
    ["*.txt", ".hidden.txt", false],
    [".*", ".hidden", true],
    ["a?c", "abc", true],
    ["a?c", "ac", false],
    ["[a-c]x", "bx", true],
    ["[!a-c]x", "bx", false],
    ["[^a-c]x", "dx", true],
    ["[]]", "]", true],
    ["[-a]", "-", true],
    ["a\\*", "a*", true],
    ["a\\*", "ab", false],
    ["x[", "x[", true],
    ["(a|b)+", "(a|b)+", true],
    ["é?", "éè", true],
    ["*", "a/b", true], // names never hold "/": listings with one are refused before matching
  ];
  for (const [pattern, name, want] of cases) {
    assert.equal(globMatcher(pattern)(name), want, `${pattern} vs ${name}`);
  }
  assert.ok(hasWildcard("a*"));
  assert.ok(!hasWildcard("a\\*"));
  assert.deepEqual(splitGlob("logs/*.txt"), { dir: "logs", pattern: "*.txt" });
  assert.deepEqual(splitGlob("*.txt"), { dir: ".", pattern: "*.txt" });
  assert.equal(splitGlob("logs/a.txt"), null);
  assert.throws(() => splitGlob("l*/a.txt"));
});

Deno.test("client units: batch lines", () => {
  assert.equal(parseBatchLine(""), null);
  assert.equal(parseBatchLine("   # comment"), null);
  assert.deepEqual(parseBatchLine("get a b"), { words: ["get", "a", "b"], ignoreFailure: false });
  assert.deepEqual(parseBatchLine("-rm x"), { words: ["rm", "x"], ignoreFailure: true });
  assert.deepEqual(parseBatchLine("- rm x"), { words: ["rm", "x"], ignoreFailure: true });
  assert.deepEqual(parseBatchLine("-rm x   # may be missing"), {
    words: ["rm", "x"],
    ignoreFailure: true,
  });
  assert.deepEqual(parseBatchLine("get a#b '#c'"), {
    words: ["get", "a#b", "#c"],
    ignoreFailure: false,
  });
  assert.deepEqual(parseBatchLine(`put 'a b' "c \\"d\\"" e\\ f ''`), {
    words: ["put", "a b", 'c "d"', "e f", ""],
    ignoreFailure: false,
  });
  assert.throws(
    () => parseBatchLine("put 'open"),
    (e) => e instanceof FerryError && e.code === "USAGE",
  );
  assert.throws(() => parseBatchLine("-"));
});

Deno.test("client units: names print inert; JSON stays JSON", () => {
  assert.equal(printable("plain é.txt"), "plain é.txt");
  assert.equal(printable("\x1b[31mred\r"), "\\x1b[31mred\\x0d");
  assert.equal(printable("a\x9bb\u202ec"), "a\\x9bb\\u202ec");
  const json = toJson({ name: "\x1b\x7f\x9b\u202e" });
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(json, /[\x00-\x1f\x7f-\x9f\u202e]/);
  assert.deepEqual(JSON.parse(json), { name: "\x1b\x7f\x9b\u202e" });
});

Deno.test("client units: fingerprints and unsafe names", () => {
  const fp = "AB:".repeat(31) + "AB";
  assert.equal(normalizeFingerprint("ab".repeat(32)), fp);
  assert.equal(normalizeFingerprint(`SHA256:${fp.toLowerCase()}`), fp);
  assert.throws(
    () => normalizeFingerprint("AB:CD"),
    (e) => e instanceof FerryError && e.code === "USAGE",
  );
  for (const bad of ["", ".", "..", "../x", "/etc", "a\\b", "C:x", "a\0b", "a\nb", "\x9b"]) {
    assert.throws(
      () => safeEntryName(bad),
      (e) => e instanceof FerryError && e.code === "BAD_NAME",
      JSON.stringify(bad),
    );
  }
  for (const good of ["a", "a b", ".hidden", "...", "é", "%2e%2e"]) {
    assert.equal(safeEntryName(good), good);
  }
});

/**
 * Runs `fn` with `setTimeout`/`clearTimeout` replaced by a manual clock: each timer waits in
 * the array `fn` gets until the test runs it; the real timers come back afterwards.
 */
function withManualTimers(fn: (timers: (() => void)[]) => void): void {
  const timers: (() => void)[] = [];
  const realSetTimeout = globalThis.setTimeout;
  const realClear = globalThis.clearTimeout;
  const realUnref = Deno.unrefTimer;
  globalThis.setTimeout = ((
    callback: () => void,
  ) => (timers.push(callback), timers.length)) as unknown as typeof setTimeout;
  globalThis.clearTimeout = ((id: number) => {
    if (id) timers[id - 1] = () => {};
  }) as unknown as typeof clearTimeout;
  Deno.unrefTimer = () => {};
  try {
    fn(timers);
  } finally {
    globalThis.setTimeout = realSetTimeout;
    globalThis.clearTimeout = realClear;
    Deno.unrefTimer = realUnref;
  }
}

Deno.test("client units: the progress display throttles, erases and keeps finished lines", () => {
  let out = "";
  let t = 0;
  withManualTimers((timers) => {
    const display = createProgressDisplay({
      enabled: true,
      write: (s) => out += s,
      columns: () => 100,
      now: () => t,
    });
    display.setTotals(2, 2000);
    const a = display.start("dir/a.bin");
    for (let i = 1; i <= 50; i++) {
      t += 10;
      a.update({ bytes: i * 10, total: 1000 });
    }
    assert.equal(out, "", "nothing drawn before the timer fires");
    const pending = timers.splice(0);
    for (const fn of pending) fn();
    assert.equal(out.split("dir/a.bin").length - 1, 1, "50 updates, one draw");
    assert.match(out, /dir\/a\.bin +50% \[#{10}-{10}\] +500 B \/ 1000 B +\d+ B\/s +ETA 0:0\d/);
    assert.match(out, /0\/2 files/);
    out = "";
    t += 500;
    a.update({ bytes: 1000, total: 1000 });
    a.done();
    display.close();
    assert.ok(out.startsWith("\r\x1b[1A\x1b[J"), "the two drawn lines are erased");
    assert.match(out, /dir\/a\.bin +100% +1000 B .*\n$/, "the finished line stays");
    const visible = out.replaceAll("\r", "").replaceAll("\x1b[1A", "").replaceAll("\x1b[J", "");
    for (const line of visible.split("\n")) {
      assert.ok(line.length < 100, `never wider than the terminal: ${JSON.stringify(line)}`);
    }
  });
});

Deno.test("client units: a resume's check shows as verifying; a skipped file leaves the totals", () => {
  let out = "";
  withManualTimers((timers) => {
    const flush = () => {
      for (const fn of timers.splice(0)) fn();
    };
    const display = createProgressDisplay({
      enabled: true,
      write: (s) => out += s,
      columns: () => 100,
      now: () => 0,
    });
    display.setTotals(2, 2000);
    const a = display.start("big.iso", 1000);
    a.update({ bytes: 0, total: null, verifying: true });
    flush();
    assert.match(out, /big\.iso +verifying the part already transferred/);
    assert.doesNotMatch(out, /big\.iso +\? /, "no bare question mark");
    out = "";
    a.update({ bytes: 10, total: 1000 });
    flush();
    assert.match(out, /big\.iso +1% /, "then the usual bar");
    const b = display.start("same.bin", 1000);
    b.skip();
    out = "";
    flush();
    assert.match(
      out,
      /1\/2 files .* \/ 1000 B/,
      "the skipped file counts, its bytes leave the total",
    );
    display.close();
  });
});

Deno.test("client units: the throttle paces to its rate after a short burst", async () => {
  let t = 0;
  const waits: number[] = [];
  const realSetTimeout = globalThis.setTimeout;
  globalThis.setTimeout = ((fn: () => void, ms: number) => {
    waits.push(ms);
    t += ms;
    fn();
    return 0;
  }) as unknown as typeof setTimeout;
  try {
    const throttle = createThrottle(1000, () => t);
    await throttle.take(50); // within the burst
    assert.deepEqual(waits, []);
    await throttle.take(1000); // a second's worth
    await throttle.take(500);
    assert.equal(t, 1450, "1550 bytes at 1000 B/s, less the 100 ms burst");
    t += 60_000; // idle: only a burst's worth is forgiven
    waits.length = 0;
    await throttle.take(300);
    assert.equal(waits.length, 1);
    assert.equal(Math.round(waits[0]), 200);
    assert.throws(() => createThrottle(0), RangeError);
  } finally {
    globalThis.setTimeout = realSetTimeout;
  }
});

Deno.test("client units: remote paths and servers as scp and URLs write them", () => {
  assert.deepEqual(parseRemote("docs/a.txt"), { path: "docs/a.txt" });
  assert.deepEqual(parseRemote("server1:docs/a.txt"), { host: "server1", path: "docs/a.txt" });
  assert.deepEqual(parseRemote("server1:"), { host: "server1", path: "." });
  assert.deepEqual(parseRemote("alice@files.example.org:x"), {
    host: "files.example.org",
    user: "alice",
    path: "x",
  });
  assert.deepEqual(parseRemote("[::1]:a/b"), { host: "::1", path: "a/b" });
  assert.deepEqual(parseRemote("bob@[fe80::1]:a"), { host: "fe80::1", user: "bob", path: "a" });
  assert.deepEqual(parseRemote("a/b:c"), { path: "a/b:c" }, "a / before the : makes a path");
  assert.deepEqual(parseRemote("ferry://h:4434/docs/a%20b.txt"), {
    host: "h",
    port: 4434,
    path: "docs/a b.txt",
  });
  assert.deepEqual(parseRemote("ferry://u@h"), { host: "h", user: "u", path: "." });
  assert.deepEqual(parseRemote("ferry://[::1]:9/x"), { host: "::1", port: 9, path: "x" });
  assert.throws(() => parseRemote("ferry://h:0/x"), /1\.\.65535/);
  assert.throws(() => parseRemote("bad host:x"), /not a host name/);
  assert.deepEqual(parseHostOption("h"), { host: "h" });
  assert.deepEqual(parseHostOption("h:4434"), { host: "h", port: 4434 });
  assert.deepEqual(parseHostOption("::1"), { host: "::1" });
  assert.deepEqual(parseHostOption("[::1]:4434"), { host: "::1", port: 4434 });
  assert.deepEqual(parseHostOption("alice@h:1"), { host: "h", user: "alice", port: 1 });
  assert.throws(() => parseHostOption("h:port"), /1\.\.65535/);
  assert.deepEqual(mergeServers([{ host: "H" }, { host: "h", port: 1 }, {}]), {
    host: "H",
    port: 1,
  });
  assert.throws(() => mergeServers([{ host: "a" }, { host: "b" }]), /a and b differ/);
  assert.deepEqual(splitServers("get", ["s:a", "s:b", "local:dir"]), {
    args: ["a", "b", "local:dir"],
    server: { host: "s" },
  });
  assert.deepEqual(splitServers("put", ["x:y", "s:up/"]), {
    args: ["x:y", "up/"],
    server: { host: "s" },
  });
});

Deno.test("client units: --limit-rate sizes", () => {
  assert.equal(parseRate("500"), 500);
  assert.equal(parseRate("500K"), 500 * 1024);
  assert.equal(parseRate("10M"), 10 * 1024 * 1024);
  assert.equal(parseRate("1.5m"), 1.5 * 1024 * 1024);
  assert.equal(parseRate("2MiB/s"), 2 * 1024 * 1024);
  assert.equal(parseRate("1G"), 1024 ** 3);
  for (const bad of ["", "fast", "0", "-1M", "10X", "0.1"]) {
    assert.throws(() => parseRate(bad), /bytes per second/, bad);
  }
});

Deno.test("client units: names are sent in NFC, lone surrogates and unrepresentable times refused", () => {
  assert.equal(wirePath("cafe\u0301/x"), "caf\u00e9/x");
  assert.equal(wirePath("plain"), "plain");
  for (const bad of ["a\ud800b", "\udc00", "x\ud83d"]) {
    assert.throws(
      () => wirePath(bad),
      (e) => e instanceof FerryError && e.code === "BAD_NAME" && /lone surrogate/.test(e.message),
    );
  }
  assert.equal(wirePath("\ud83d\ude00"), "\ud83d\ude00", "a pair is a character");
  assert.equal(checkMtime(0, "x"), 0);
  assert.equal(checkMtime(MAX_MTIME, "x"), MAX_MTIME);
  for (const bad of [-1, MAX_MTIME + 1, NaN, 1.5]) {
    assert.throws(
      () => checkMtime(bad, "old.txt"),
      (e) => e instanceof FerryError && e.code === "BAD_ARGUMENT" && /old\.txt/.test(e.message),
      String(bad),
    );
  }
});

Deno.test("client units: withReconnect retries interruptions with back-off, once per generation", async () => {
  let opened = 0;
  const fake = () => {
    opened++;
    // Each connection's client says which one it is.
    const client = { serverAgent: `fake ${opened}`, close() {}, closed: new Promise(() => {}) };
    return Promise.resolve(client as unknown as FerryClient);
  };
  const session = createReconnector(fake);
  const notices: string[] = [];
  let calls = 0;
  const result = await withReconnect(
    session,
    "get x",
    (_c, retrying) => {
      calls++;
      if (calls < 3) throw new FerryError("CONNECTION_CLOSED", "lost");
      return Promise.resolve(retrying);
    },
    (n) => notices.push(n),
    [1, 1, 1],
  );
  assert.equal(result, true, "retries resume");
  assert.equal(calls, 3);
  assert.equal(opened, 3);
  assert.equal(notices.length, 2);
  // A failure of the data, not the connection: one attempt, no reconnect, no notice.
  let attempts = 0;
  let told = 0;
  let before = opened;
  await assert.rejects(
    withReconnect(
      session,
      "get y",
      () => (attempts++, Promise.reject(new FerryError("NOT_FOUND", "no"))),
      () => told++,
      [1],
    ),
    (e) => e instanceof FerryError && e.code === "NOT_FOUND",
  );
  assert.equal(attempts, 1, "NOT_FOUND is not retried");
  assert.equal(told, 0);
  assert.equal(opened, before, "NOT_FOUND does not reconnect");
  // An interruption: retried once per back-off step, then given up.
  attempts = 0;
  told = 0;
  before = opened;
  await assert.rejects(
    withReconnect(
      session,
      "get z",
      () => (attempts++, Promise.reject(new FerryError("TIMEOUT", "t"))),
      () => told++,
      [1, 1],
    ),
    (e) => e instanceof FerryError && e.code === "TIMEOUT",
  );
  assert.equal(attempts, 3, "TIMEOUT is tried once and retried twice");
  assert.equal(told, 2);
  assert.equal(opened, before + 2, "each retry runs on a new connection");
  // BUSY right after an interruption (the server still holds the old transfer) is retried…
  attempts = 0;
  before = opened;
  const busyAfter = await withReconnect(
    session,
    "put b",
    (c) => {
      attempts++;
      if (attempts === 1) return Promise.reject(new FerryError("CONNECTION_CLOSED", "lost"));
      if (attempts === 2) return Promise.reject(new FerryError("BUSY", "partial held"));
      return Promise.resolve(c.serverAgent);
    },
    () => {},
    [1, 1, 1],
  );
  assert.equal(attempts, 3, "BUSY after an interruption is retried");
  assert.equal(opened, before + 2);
  assert.equal(busyAfter, `fake ${opened}`, "the last try ran on the newest connection");
  // …but BUSY on a first attempt is an answer, not an interruption.
  attempts = 0;
  before = opened;
  await assert.rejects(
    withReconnect(
      session,
      "put c",
      () => (attempts++, Promise.reject(new FerryError("BUSY", "busy"))),
      () => {},
      [1, 1],
    ),
    (e) => e instanceof FerryError && e.code === "BUSY",
  );
  assert.equal(attempts, 1, "BUSY on the first attempt is not retried");
  assert.equal(opened, before);
  // Once per generation: transfers interrupted together on one connection reconnect once and
  // all carry on over the same new connection.
  const generation = (await session.current()).generation;
  before = opened;
  const interrupted = new Set<number>();
  const results = await Promise.all(
    [0, 1, 2, 3].map((i) =>
      withReconnect(
        session,
        `get ${i}`,
        (c, retrying) => {
          if (!retrying) {
            interrupted.add(i);
            return Promise.reject(new FerryError("CONNECTION_CLOSED", "lost"));
          }
          return Promise.resolve(c.serverAgent);
        },
        () => {},
        [1, 1, 1],
      )
    ),
  );
  assert.equal(interrupted.size, 4, "every transfer was interrupted");
  assert.equal(opened, before + 1, "four interrupted transfers reconnect once");
  assert.deepEqual(results, Array(4).fill(`fake ${opened}`));
  assert.equal((await session.current()).generation, generation + 1);
});

Deno.test("client units: compile targets, and the binary gets the client task's permissions", () => {
  assert.deepEqual(resolveTargets(["linux-x64", "macos-arm64", "windows-x64"]), [
    "x86_64-unknown-linux-gnu",
    "aarch64-apple-darwin",
    "x86_64-pc-windows-msvc",
  ]);
  assert.deepEqual(resolveTargets(["all"]), [...ALL_TARGETS]);
  assert.throws(() => resolveTargets(["amiga"]));
  const ferry = BINARIES.find((b) => b.name === "ferry")!;
  assert.deepEqual([...ferry.permissions].sort(), [...CLIENT_FLAGS].sort());
});

Deno.test("client units: files move many small ones at once, eight large ones, in order", async () => {
  assert.equal(slotsOf({ size: 4096 }), 1);
  assert.equal(slotsOf({ size: 0 }), 1);
  assert.equal(slotsOf({ size: 300 * 1024 }), 3);
  assert.equal(slotsOf({ size: 1 << 30 }), FILE_SLOTS / 8);
  assert.equal(slotsOf({ size: null }), FILE_SLOTS / 8, "a stream counts as large");

  // Runs the pool over jobs of these weights; every job waits until released by the test.
  async function run(weights: number[], capacity: number) {
    const started: number[] = [];
    let used = 0;
    let most = 0;
    const gates: (() => void)[] = [];
    const done = pool(weights.map((w, i) => ({ w, i })), capacity, (j) => j.w, async (j) => {
      started.push(j.i);
      used += j.w;
      most = Math.max(most, used);
      await new Promise<void>((r) => gates[j.i] = r);
      used -= j.w;
    });
    // Release the running jobs one at a time, oldest first, until all ran.
    for (let released = 0; released < weights.length; released++) {
      while (gates[released] === undefined) await new Promise((r) => setTimeout(r, 0));
      gates[released]();
    }
    await done;
    return { started, most };
  }
  const small = await run(Array(200).fill(1), 64);
  assert.equal(small.most, 64, "64 small files at once, not more");
  assert.deepEqual(small.started, [...Array(200).keys()], "started in order");
  const large = await run(Array(20).fill(8), 64);
  assert.equal(large.most, 64, "eight large files at once");
  const heavy = await run([1, 100, 1], 64);
  assert.equal(heavy.most, 100, "a job heavier than the capacity runs, alone");
  assert.deepEqual(heavy.started, [0, 1, 2]);
});
