/**
 * The server's log under attack (issue 10 item 4): connections that never log in cannot make
 * the log grow faster than a small fixed rate, however many HELLOs with 65 KB agents they send,
 * and what they send is escaped in both log formats. The line format and the gate themselves
 * are tested in tests/server/log_test.ts.
 */

import assert from "node:assert/strict";
import { DEFAULT_LIMITS } from "../../server/limits.ts";
import { encodeHello, encodePathRequest } from "../../protocol/messages/mod.ts";
import { SERVICES } from "../../protocol/services.ts";
import { concat, openRaw, roundTrip, sleep, spawnTestServer, waitFor } from "../_helpers/mod.ts";

/** Characters that must never reach a log line raw. */
const HOSTILE = "\u0085\u009b[31m\u202eRLO\u2028LS\u2029PS\u007fDEL\x1b[2J\u200e\ufeff";
// deno-lint-ignore no-control-regex
const RAW_HOSTILE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u200e\u202e\ufeff]/;

Deno.test("log flood: HELLOs with 65 KB hostile agents and refused requests from connections that never log in grow the log by a small fixed rate; escaped in text and JSON (issue 10 item 4)", async () => {
  const SECONDS = 5;
  for (const format of ["text", "json"] as const) {
    const server = await spawnTestServer(["--log-format", format]);
    try {
      await roundTrip(server.port, server.ca, "before.bin", 1024);
      const before = new TextEncoder().encode(server.stderr()).length;
      const agent = `flood${HOSTILE}${"A\u009b".repeat(21_600)}`; // about 65 KB of UTF-8
      const hello = encodeHello({ id: 1, minVersion: 1, maxVersion: 1, agent });
      const list = (i: number) => encodePathRequest(SERVICES.LIST, { id: 9 + i, path: "." });
      // A storm: 1,200 HELLOs (past the flood budget, so the server closes), then again. And
      // short visits: a HELLO, 50 requests refused before login, 100 HELLOs, gone.
      const storm = concat(Array(1_200).fill(hello));
      const visit = concat([
        hello,
        ...Array.from({ length: 50 }, (_, i) => list(i)),
        ...Array(100).fill(hello),
      ]);
      const until = Date.now() + SECONDS * 1000;
      let connections = 0;
      let sent = 0;
      const attacker = async (bytes: Uint8Array, wait: boolean) => {
        while (Date.now() < until) {
          const raw = await openRaw(server.port, server.ca, { discard: true });
          connections++;
          try {
            await raw.send(bytes).then(() => sent += bytes.length, () => {});
            if (wait) await raw.closedWithin(5_000);
          } finally {
            await raw.close();
          }
        }
      };
      const started = Date.now();
      await Promise.all([
        attacker(storm, true),
        ...Array.from({ length: 3 }, () => attacker(visit, false)),
      ]);
      const elapsed = (Date.now() - started) / 1000;
      await sleep(1_500); // the last suppressed-lines summary
      const text = server.stderr();
      const grew = new TextEncoder().encode(text).length - before;
      const floodLines = text.slice(text.length - grew).split("\n").filter((l) => l !== "");
      // Lines: the shared burst, the shared rate over the flood (and the wait), and one
      // summary a second; each line at most a few KB (values are cut to 256 code points).
      const maxLines = DEFAULT_LIMITS.preLoginLogBurst +
        DEFAULT_LIMITS.preLoginLogPerSecond * (elapsed + 2) + elapsed + 3;
      console.log(
        `${format}: ${connections} connections in ${elapsed.toFixed(1)} s sent ${
          (sent / 1e6).toFixed(0)
        } MB of HELLOs; the log grew by ${grew} bytes in ${floodLines.length} lines (bound ${
          Math.floor(maxLines)
        } lines)`,
      );
      assert.ok(connections >= 4, "the attackers connected");
      assert.ok(floodLines.length <= maxLines, `${floodLines.length} lines`);
      assert.ok(grew <= maxLines * 2_048, `the log grew by ${grew} bytes`);
      assert.doesNotMatch(text, RAW_HOSTILE, "no raw control, bidi or line-separator character");
      assert.ok(text.includes(String.raw`flood\u0085\u009b[31m\u202eRLO\u2028LS\u2029PS\u007fDEL`));
      assert.match(text, /suppressed/, "what was held back is counted");
      if (format === "json") {
        for (const line of floodLines.filter((l) => l.startsWith("{"))) JSON.parse(line);
      }
      // The server still serves, and logs logged-in work in full.
      await roundTrip(server.port, server.ca, "after.bin", 1024);
      await waitFor(() => /after\.bin/.test(server.stderr()), "the good client's lines");
    } finally {
      await server.stop();
    }
  }
});
