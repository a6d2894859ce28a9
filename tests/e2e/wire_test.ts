/**
 * What travels on the wire: every byte between a client and the server goes through a recording
 * TCP relay, which must see TLS records only, never a file's name, its contents or the token.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  concat,
  indexOfBytes,
  randomHex,
  readUntilClosed,
  relay,
  startServer,
  TOKENS,
} from "../_helpers/mod.ts";

const encoder = new TextEncoder();

Deno.test("wire: no file name, contents or token travel in plaintext", async () => {
  const t = await startServer();
  const recorder = relay(t.port, { record: true });
  try {
    const marker = `FERRYMARK${randomHex(12)}`;
    const name = `${marker}.txt`;
    const contents = encoder.encode(`secret line ${marker}\n`.repeat(2000));
    const client = await t.client(TOKENS.admin, recorder.port);
    try {
      const up = await client.upload(contents, name);
      assert.equal(up.bytes, contents.length);
      const entries = await client.list();
      assert.ok(entries.some((e) => e.name === name), JSON.stringify(entries));
      const local = `${t.outside}/copy.txt`;
      await client.download(name, local);
      assert.deepEqual(await Deno.readFile(local), contents);
    } finally {
      client.close();
      await client.closed;
    }
    assert.deepEqual(
      await Deno.readFile(`${t.root}/${name}`),
      contents,
      "the upload really happened",
    );
    await recorder.close();

    assert.equal(recorder.recordings.length, 1, "one connection went through the relay");
    const [rec] = recorder.recordings;
    const toServer = concat(rec.toServer);
    const toClient = concat(rec.toClient);
    // The relay saw the whole transfer, both ways (contents are ~90 KB).
    assert.ok(toServer.length > contents.length, `only ${toServer.length} bytes to the server`);
    assert.ok(toClient.length > contents.length, `only ${toClient.length} bytes to the client`);
    assert.equal(toServer[0], 0x16, "client's first byte is a TLS handshake record");
    assert.equal(toClient[0], 0x16, "server's first byte is a TLS handshake record");

    const needles: Record<string, Uint8Array> = {
      marker: encoder.encode(marker),
      "marker (lower case)": encoder.encode(marker.toLowerCase()),
      "file name": encoder.encode(name),
      token: encoder.encode(TOKENS.admin),
      "contents line": encoder.encode(`secret line ${marker}`),
    };
    for (const [what, needle] of Object.entries(needles)) {
      assert.equal(
        indexOfBytes(toServer, needle),
        -1,
        `${what} found in plaintext towards the server`,
      );
      assert.equal(
        indexOfBytes(toClient, needle),
        -1,
        `${what} found in plaintext towards the client`,
      );
    }
  } finally {
    await recorder.close();
    await t.close();
  }
});

Deno.test("wire: positive control — the recorder finds the marker on a plain TCP path", async () => {
  const echo = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const echoing = (async () => {
    for await (const conn of echo) {
      try {
        const buf = new Uint8Array(16 * 1024);
        while (true) {
          const n = await conn.read(buf);
          if (n === null) break;
          for (let o = 0; o < n;) o += await conn.write(buf.subarray(o, n));
        }
      } finally {
        conn.close();
      }
    }
  })().catch(() => {});
  const recorder = relay((echo.addr as Deno.NetAddr).port, { record: true });
  try {
    const marker = `FERRYMARK${randomHex(12)}`;
    const sent = encoder.encode(`plain ${marker} bytes\n`);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: recorder.port });
    try {
      for (let o = 0; o < sent.length;) o += await conn.write(sent.subarray(o));
      await conn.closeWrite();
      const { bytes } = await readUntilClosed(conn, 5_000);
      assert.deepEqual(bytes, sent, "echoed back");
    } finally {
      conn.close();
    }
    await recorder.close();
    const [rec] = recorder.recordings;
    const needle = encoder.encode(marker);
    assert.notEqual(indexOfBytes(concat(rec.toServer), needle), -1, "marker seen going out");
    assert.notEqual(indexOfBytes(concat(rec.toClient), needle), -1, "marker seen coming back");
  } finally {
    await recorder.close();
    echo.close();
    await echoing;
  }
});

Deno.test("wire: a plaintext client gets no plaintext answer, and the server keeps serving", async () => {
  const t = await startServer();
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: t.port });
    let answer: { bytes: Uint8Array; closed: boolean };
    try {
      try {
        await conn.write(encoder.encode("GET / HTTP/1.0\r\n\r\n"));
      } catch {
        // the server may already have reset the connection
      }
      answer = await readUntilClosed(conn, 5_000);
    } finally {
      conn.close();
    }
    assert.ok(answer.closed, "the server left the plaintext connection open");
    if (answer.bytes.length > 0) {
      assert.equal(
        answer.bytes[0],
        0x15,
        `answer is a TLS alert, not ${JSON.stringify(answer.bytes)}`,
      );
      assert.equal(
        indexOfBytes(answer.bytes, encoder.encode("HTTP")),
        -1,
        "no HTTP text in the answer",
      );
    }

    const client = await t.client();
    try {
      await client.upload(encoder.encode("still here"), "after.txt");
      assert.deepEqual((await client.list()).map((e) => e.name), ["after.txt"]);
    } finally {
      client.close();
      await client.closed;
    }
  } finally {
    await t.close();
  }
});
