/**
 * End to end, at once: 20 clients each with their own file, a listing overtaking a download on one
 * connection, and 50 pipelined uploads and downloads on one connection.
 *
 * A real server (tests/_helpers/server.ts) over real TLS on 127.0.0.1, driven by the real client
 * library; every client and server is closed in `finally`, with the resource and op sanitizers
 * on.
 */

import assert from "node:assert/strict";
import {
  assertSameBytes,
  byName,
  checksumHex,
  collector,
  MiB,
  randomBytes,
  TOKENS,
  withClient,
  withServer,
} from "../_helpers/mod.ts";

Deno.test("20 clients at once each upload and download their own 1 MiB file intact", async () => {
  await withServer(async (t) => {
    const connected = await Promise.allSettled(
      Array.from({ length: 20 }, () => t.client(TOKENS.write)),
    );
    const clients = connected.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    try {
      assert.equal(clients.length, 20, "all 20 clients connected");
      const files = clients.map((_, i) => randomBytes(MiB + i * 1013));
      await Promise.all(clients.map(async (c, i) => {
        const up = await c.upload(files[i], `client-${i}.bin`);
        assert.equal(up.checksum, await checksumHex(files[i]));
        const sink = collector();
        const down = await c.download(`client-${i}.bin`, sink.stream);
        assert.equal(down.checksum, await checksumHex(files[i]));
        assertSameBytes(sink.bytes(), files[i], `client ${i} round trip`);
      }));
      for (let i = 0; i < files.length; i++) {
        assertSameBytes(
          await t.files.read(`client-${i}.bin`),
          files[i],
          `client-${i}.bin on disk`,
        );
      }
      assert.equal((await clients[0].list()).length, 20);
    } finally {
      for (const c of clients) c.close();
      await Promise.all(clients.map((c) => c.closed));
    }
  });
});

Deno.test("one connection: a listing completes while a download is still running", async () => {
  await withServer(async (t) => {
    const data = randomBytes(24 * MiB);
    await t.files.write("big.bin", data);
    await t.files.write("small.txt", "small");
    await withClient(t, TOKENS.read, async (c) => {
      // A slow sink keeps the download running long enough to be overtaken.
      const sink = collector(1);
      let received = 0;
      let started!: () => void;
      const fileInfo = new Promise<void>((r) => (started = r));
      let downloadDone = false;
      const download = c.download("big.bin", sink.stream, {
        onProgress: (p) => {
          received = p.bytes;
          started();
        },
      }).finally(() => (downloadDone = true));
      try {
        await fileInfo;
        const listing = await c.list();
        assert.deepEqual(listing.map((e) => e.name).sort(), ["big.bin", "small.txt"]);
        assert.ok(!downloadDone, "the listing finished before the download");
        assert.ok(received < data.length, `only ${received} of ${data.length} bytes were received`);
      } finally {
        await download.catch(() => {}); // let it end, without hiding a failure above
      }
      const r = await download;
      assert.equal(r.checksum, await checksumHex(data));
      assertSameBytes(sink.bytes(), data, "download");
    });
  });
});

Deno.test("one connection: 50 pipelined uploads and 50 pipelined downloads all succeed", async () => {
  await withServer(async (t) => {
    await withClient(t, TOKENS.write, async (c) => {
      const files = Array.from({ length: 50 }, (_, i) => randomBytes(1 + i * 997));
      const ups = await Promise.all(
        files.map((f, i) => c.upload(f, `p${String(i).padStart(2, "0")}.bin`)),
      );
      const checksums = await Promise.all(files.map(checksumHex));
      ups.forEach((r, i) => assert.equal(r.checksum, checksums[i], `upload ${i}`));
      const listing = byName(await c.list());
      assert.equal(listing.length, 50);
      listing.forEach((e, i) =>
        assert.deepEqual([e.name, e.size], [`p${String(i).padStart(2, "0")}.bin`, files[i].length])
      );
      const sinks = files.map(() => collector());
      const downs = await Promise.all(
        files.map((_, i) => c.download(`p${String(i).padStart(2, "0")}.bin`, sinks[i].stream)),
      );
      downs.forEach((r, i) => {
        assert.equal(r.checksum, checksums[i], `download ${i}`);
        assertSameBytes(sinks[i].bytes(), files[i], `download ${i}`);
      });
    });
    assert.equal((await t.files.names()).length, 50, "no temp files remain");
  });
});
