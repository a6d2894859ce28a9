/**
 * End to end, floods of useless frames (empty frames, LIST+CANCEL pairs, a HELLO storm) against a
 * server in a child process: each gets a parting BUSY and a close, an honest client that cancels
 * now and then stays, others are served, and the server's CPU falls back to idle (catalogue row
 * 8).
 */

import assert from "node:assert/strict";
import {
  encodeDownload,
  encodeHello,
  encodeIdOnly,
  encodePathRequest,
} from "../../protocol/messages/mod.ts";
import { SERVICES } from "../../protocol/services.ts";
import {
  concat,
  errorOf,
  openRaw,
  rawLogin,
  roundTrip,
  sleep,
  spawnTestServer,
} from "../_helpers/mod.ts";

Deno.test("flood: 100,000 empty frames, 10,000 LIST+CANCEL pairs and a HELLO storm each get BUSY and a close; CPU falls back to idle; others OK (row 8)", async () => {
  const server = await spawnTestServer(["--flood-budget", "1000", "--flood-refill", "100"]);
  try {
    const { port, ca } = server;
    await Deno.writeTextFile(`${server.root}/a.txt`, "a");
    const floods: Record<string, Uint8Array> = {
      "empty frames": new Uint8Array(8 * 100_000), // 100,000 headers of (0,0,v0,len 0)
      "LIST+CANCEL": new Uint8Array(0),
      "HELLO storm": new Uint8Array(0),
    };
    const pairs: Uint8Array[] = [];
    for (let i = 0; i < 10_000; i++) {
      pairs.push(encodePathRequest(SERVICES.LIST, { id: 100 + i, path: "." }));
      pairs.push(encodeIdOnly(SERVICES.CANCEL, 100 + i));
    }
    floods["LIST+CANCEL"] = concat(pairs);
    floods["HELLO storm"] = concat(
      Array.from(
        { length: 20_000 },
        (_, i) => encodeHello({ id: i, minVersion: 1, maxVersion: 1, agent: "storm" }),
      ),
    );
    for (const [what, bytes] of Object.entries(floods)) {
      const raw = await openRaw(port, ca, { discard: false });
      try {
        await rawLogin(raw);
        await raw.send(bytes).catch(() => {}); // the server may close before all is written
        assert.ok(await raw.closedWithin(10_000), `${what}: the server closed the connection`);
        const busy = raw.pending.map(errorOf).find((e) => e?.code === "BUSY" && e.id === 0);
        assert.ok(busy !== undefined, `${what}: a parting ERROR BUSY`);
        assert.match(busy.message, /too many refused, empty or cancelled frames/);
      } finally {
        await raw.close();
      }
      await roundTrip(port, ca, `others-${what.replaceAll(/\W/g, "")}.bin`);
    }
    // An honest client that cancels now and then is not a flood.
    const honest = await openRaw(port, ca);
    try {
      await rawLogin(honest);
      for (let i = 0; i < 50; i++) {
        await honest.send(
          encodeDownload({ id: 500 + i, offset: 0, path: "a.txt" }),
          encodeIdOnly(SERVICES.CANCEL, 500 + i),
        );
        await sleep(5);
      }
      assert.equal(await honest.closedWithin(500), false, "the honest client stays connected");
    } finally {
      await honest.close();
    }
    // The server falls back to idle: some 1 s window, starting within 10 s, uses less than
    // 0.3 s of CPU (a loaded machine may delay the first quiet window, never fake one).
    await sleep(300);
    const settled = Date.now() + 10_000;
    let idle = Infinity;
    while (idle >= 0.3 && Date.now() < settled) {
      const before = server.cpuSeconds();
      await sleep(1_000);
      idle = server.cpuSeconds() - before;
      console.log(`server CPU over 1 s after the floods: ${idle.toFixed(2)} s`);
    }
    assert.ok(idle < 0.3, `the server is idle again (${idle} s of CPU in 1 s)`);
    assert.equal(server.stderr().match(/event=flood/g)?.length, 3);
  } finally {
    await server.stop();
  }
});
