/**
 * The server's log lines (issue 10 item 4): every client-supplied string is cut and escaped in
 * both log formats, and the lines of connections not logged in pass a per-connection and a
 * shared budget. The live flood is in tests/e2e/log_flood_test.ts.
 */

import assert from "node:assert/strict";
import { formatLogLine, type LogFields, MAX_LOG_VALUE_CHARS } from "../../server/log.ts";
import { CONNECTION_LOG_BURST, connectionLogger, PreLoginLogGate } from "../../server/log_gate.ts";
import { waitFor } from "../_helpers/mod.ts";

/** Characters that must never reach a log line raw. */
const HOSTILE = "\u0085\u009b[31m\u202eRLO\u2028LS\u2029PS\u007fDEL\x1b[2J\u200e\ufeff";
// deno-lint-ignore no-control-regex
const RAW_HOSTILE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u200e\u202e\ufeff]/;

Deno.test("log lines: client strings are escaped (C0, C1, DEL, bidi, U+2028/9, lone surrogates) and cut, in text and JSON", () => {
  const now = new Date("2026-11-25T10:00:00.000Z");
  const fields: LogFields = {
    conn: 3,
    op: "hello",
    agent: `a${HOSTILE}\ud800z`,
    path: "plain/name.txt",
    ok: true,
    none: null,
    skipped: undefined,
  };
  const text = formatLogLine(fields, now);
  assert.equal(
    text,
    String
      .raw`2026-11-25T10:00:00.000Z conn=3 op=hello agent="a\u0085\u009b[31m\u202eRLO\u2028LS\u2029PS\u007fDEL\u001b[2J\u200e\ufeff\ud800z" path=plain/name.txt ok=true none=null`,
  );
  assert.doesNotMatch(text, RAW_HOSTILE);
  const json = formatLogLine(fields, now, "json");
  assert.doesNotMatch(json, RAW_HOSTILE);
  assert.deepEqual(JSON.parse(json), {
    time: "2026-11-25T10:00:00.000Z",
    conn: 3,
    op: "hello",
    agent: `a${HOSTILE}\ud800z`,
    path: "plain/name.txt",
    ok: true,
    none: null,
  });
  // A 65 KB string, plain or not, is cut to MAX_LOG_VALUE_CHARS code points.
  for (const long of ["x".repeat(65_000), "é\u009b".repeat(30_000)]) {
    for (const format of ["text", "json"] as const) {
      const line = formatLogLine({ agent: long }, now, format);
      assert.ok(line.length < 8 * MAX_LOG_VALUE_CHARS, `${format}: ${line.length} characters`);
      assert.match(line, /…/);
    }
  }
  assert.equal(
    formatLogLine({ agent: "y".repeat(MAX_LOG_VALUE_CHARS + 1) }, now),
    `2026-11-25T10:00:00.000Z agent="${"y".repeat(MAX_LOG_VALUE_CHARS)}…"`,
  );
});

Deno.test("log gate: a connection's own budget, then the shared one; logged-in lines always pass; the shared count is reported", async () => {
  const lines: LogFields[] = [];
  const gate = new PreLoginLogGate((f) => lines.push(f), {
    preLoginLogBurst: 20,
    preLoginLogPerSecond: 0,
  });
  let trusted = false;
  const one = connectionLogger((f) => lines.push(f), gate, () => trusted);
  for (let i = 0; i < 50; i++) one({ op: "x", i });
  assert.equal(lines.length, CONNECTION_LOG_BURST, "the connection's own burst");
  assert.equal(one.suppressed, 50 - CONNECTION_LOG_BURST);
  // Other connections share what is left of the 20.
  const others = Array.from(
    { length: 5 },
    () => connectionLogger((f) => lines.push(f), gate, () => false),
  );
  for (const o of others) for (let i = 0; i < 5; i++) o({ op: "y" });
  assert.equal(lines.length, 20, "the shared burst");
  assert.equal(gate.suppressed, 25 - (20 - CONNECTION_LOG_BURST));
  // The disconnect line skips the connection's own budget, not the shared one.
  one({ event: "disconnect" });
  assert.equal(lines.length, 20);
  // Logged in: nothing is held back.
  trusted = true;
  for (let i = 0; i < 100; i++) one({ op: "z" });
  assert.equal(lines.length, 120);
  // The shared count is written once, within a second or so.
  await waitFor(() => lines.some((l) => l.event === "suppressed"), "the suppressed line", 3_000);
  const report = lines.find((l) => l.event === "suppressed")!;
  assert.equal(report.lines, 25 - (20 - CONNECTION_LOG_BURST) + 1);
  assert.equal(gate.suppressed, 0);
  gate.report();
});
