/**
 * End to end, authentication and roles: a wrong token, a client that does not trust the CA, and
 * what read-only and read-write tokens may do.
 *
 * A real server (tests/_helpers/server.ts) over real TLS on 127.0.0.1, driven by the real client
 * library; every client and server is closed in `finally`, with the resource and op sanitizers
 * on.
 */

import assert from "node:assert/strict";
import { connect } from "../../mod.ts";
import {
  collector,
  KiB,
  namesIn,
  randomBytes,
  rejectsWith,
  TOKENS,
  withClient,
  withServer,
} from "../_helpers/mod.ts";

const encoder = new TextEncoder();

Deno.test("a wrong token makes connect reject with UNAUTHENTICATED", async () => {
  await withServer(async (t) => {
    await rejectsWith(t.client("not-a-token"), "UNAUTHENTICATED", "connect");
    await rejectsWith(t.client(""), "UNAUTHENTICATED", "connect with an empty token");
    await withClient(t, TOKENS.admin, async (c) => {
      assert.deepEqual([c.user, c.role], ["admin", "admin"]);
      assert.deepEqual(await c.list(), [], "the right token still works");
    });
  });
});

Deno.test("a client that does not trust the server's CA is refused with TLS", async () => {
  await withServer(async (t) => {
    await rejectsWith(
      connect({ hostname: "localhost", port: t.port, token: TOKENS.admin }),
      "TLS",
      "no CA",
    );
    await withClient(t, TOKENS.admin, async (c) => assert.deepEqual(await c.list(), []));
  });
});

Deno.test("a read-only token may list and download but upload, remove and shutdown are FORBIDDEN", async () => {
  await withServer(async (t) => {
    await Deno.writeTextFile(`${t.root}/doc.txt`, "read me");
    await withClient(t, TOKENS.read, async (c) => {
      assert.deepEqual([c.user, c.role], ["bob", "read"]);
      assert.deepEqual((await c.list()).map((e) => e.name), ["doc.txt"]);
      const sink = collector();
      await c.download("doc.txt", sink.stream);
      assert.equal(new TextDecoder().decode(sink.bytes()), "read me");
      await rejectsWith(c.upload(encoder.encode("new"), "new.txt"), "FORBIDDEN", "put new");
      await rejectsWith(c.upload(randomBytes(600 * KiB), "doc.txt"), "FORBIDDEN", "put over");
      await rejectsWith(c.remove("doc.txt"), "FORBIDDEN", "rm");
      await rejectsWith(c.shutdown(), "FORBIDDEN", "shutdown");
      assert.deepEqual((await c.list()).map((e) => e.name), ["doc.txt"], "still usable");
    });
    assert.deepEqual(await namesIn(t.root), ["doc.txt"]);
    assert.equal(await Deno.readTextFile(`${t.root}/doc.txt`), "read me");
  });
});

Deno.test("a read-write token may upload and remove, but shutdown is FORBIDDEN and the server keeps serving", async () => {
  await withServer(async (t) => {
    await withClient(t, TOKENS.write, async (c) => {
      assert.deepEqual([c.user, c.role], ["alice", "write"]);
      await c.upload(encoder.encode("w"), "w.txt");
      await rejectsWith(c.shutdown(), "FORBIDDEN", "shutdown");
      await c.remove("w.txt");
      assert.deepEqual(await c.list(), []);
    });
    await withClient(t, TOKENS.admin, async (c) => {
      assert.deepEqual(await c.list(), [], "a new admin client is served");
    });
  });
});
