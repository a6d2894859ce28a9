/**
 * End to end, transfers that are cancelled or whose source fails: aborted downloads (to a stream,
 * a path, a directory, over an existing file), aborted uploads whose source is waiting, an
 * already-aborted signal, and a ReadableStream source that errors.
 *
 * A real server (tests/_helpers/server.ts) over real TLS on 127.0.0.1, driven by the real client
 * library; every client and server is closed in `finally`, with the resource and op sanitizers
 * on.
 */

import assert from "node:assert/strict";
import { FerryError } from "../../mod.ts";
import {
  collector,
  handFedStream,
  KiB,
  MiB,
  namesIn,
  randomBytes,
  rejectsWith,
  settlesWithin,
  TOKENS,
  waitFor,
  withClient,
  withServer,
} from "../_helpers/mod.ts";

Deno.test("cancel: aborting a download after its first progress rejects with CANCELLED; the client still lists", async () => {
  await withServer(async (t) => {
    await Deno.writeFile(`${t.root}/big.bin`, randomBytes(32 * MiB));
    await withClient(t, TOKENS.read, async (c) => {
      const abort = new AbortController();
      const sink = collector();
      let calls = 0;
      const started = performance.now();
      await rejectsWith(
        c.download("big.bin", sink.stream, {
          signal: abort.signal,
          onProgress: () => {
            if (calls++ === 0) abort.abort();
          },
        }),
        "CANCELLED",
        "aborted download",
      );
      assert.ok(sink.aborted !== undefined, "the WritableStream was aborted");
      assert.deepEqual((await c.list()).map((e) => e.name), ["big.bin"], "same client still lists");
      // The server stopped sending and logged the cancellation.
      await waitFor(
        () => t.logs.some((l) => l.op === "get" && l.result === "CANCELLED"),
        "a CANCELLED get",
        5_000,
      );
      assert.ok(
        !t.logs.some((l) => l.op === "get" && l.result === "ok"),
        "the download did not complete",
      );
      assert.ok(performance.now() - started < 10_000);
    });
  });
});

Deno.test("cancel: aborted and failed downloads to a path leave no file and no temporary file", async () => {
  await withServer(async (t) => {
    await Deno.writeFile(`${t.root}/big.bin`, randomBytes(16 * MiB));
    const dir = `${t.outside}/target`;
    await Deno.mkdir(dir);
    await withClient(t, TOKENS.read, async (c) => {
      // Aborted once some data has been written locally.
      const abort = new AbortController();
      await rejectsWith(
        c.download("big.bin", `${dir}/big.bin`, {
          signal: abort.signal,
          onProgress: (p) => {
            if (p.bytes >= MiB + 1) abort.abort();
          },
        }),
        "CANCELLED",
        "aborted download to a path",
      );
      assert.deepEqual(await namesIn(dir), [], "nothing left after an abort");

      // Already aborted before it starts.
      await rejectsWith(
        c.download("big.bin", `${dir}/pre.bin`, { signal: AbortSignal.abort() }),
        "CANCELLED",
        "download with an aborted signal",
      );
      assert.deepEqual(await namesIn(dir), []);

      // Failed on the server.
      await rejectsWith(
        c.download("nope.bin", `${dir}/nope.bin`),
        "NOT_FOUND",
        "failed download to a path",
      );
      assert.deepEqual(await namesIn(dir), []);

      // Into the directory itself (target named after the remote).
      const abort2 = new AbortController();
      await rejectsWith(
        c.download("big.bin", dir, { signal: abort2.signal, onProgress: () => abort2.abort() }),
        "CANCELLED",
        "aborted download into a directory",
      );
      assert.deepEqual(await namesIn(dir), []);

      // An existing local file is kept as it was when the download is aborted.
      await Deno.writeTextFile(`${dir}/keep.bin`, "previous");
      const abort3 = new AbortController();
      await rejectsWith(
        c.download("big.bin", `${dir}/keep.bin`, {
          signal: abort3.signal,
          onProgress: (p) => {
            if (p.bytes > 0) abort3.abort();
          },
        }),
        "CANCELLED",
        "aborted download over an existing file",
      );
      assert.deepEqual(await namesIn(dir), ["keep.bin"]);
      assert.equal(await Deno.readTextFile(`${dir}/keep.bin`), "previous");

      assert.equal((await c.list()).length, 1, "the client is still usable");
    });
  });
});

Deno.test("aborting an upload whose stream source is waiting for data rejects at once with CANCELLED", async () => {
  await withServer(async (t) => {
    await withClient(t, TOKENS.write, async (c) => {
      const feed = handFedStream();
      const abort = new AbortController();
      const upload = c.upload(feed.stream, "stalled.bin", { signal: abort.signal });
      upload.catch(() => {}); // may reject while the test awaits something else
      try {
        feed.push(randomBytes(64 * KiB));
        await waitFor(async () => (await namesIn(t.root)).length === 1, "the temp file", 5_000);
        abort.abort();
        const outcome = await settlesWithin(upload, 10_000);
        assert.ok(
          outcome.settled,
          "upload() must reject with CANCELLED once the signal aborts, without more data",
        );
        assert.ok(outcome.error instanceof FerryError && outcome.error.code === "CANCELLED");
      } finally {
        // Release the upload loop so nothing is left running.
        try {
          feed.push(new Uint8Array(1));
          feed.end();
        } catch {
          // the stream was already cancelled
        }
        await upload.catch(() => {});
      }
      await waitFor(async () => (await namesIn(t.root)).length === 0, "the temp file to go", 5_000);
    });
  });
});

Deno.test("an upload with an already-aborted signal is refused, even with an empty source", async () => {
  await withServer(async (t) => {
    await withClient(t, TOKENS.write, async (c) => {
      await rejectsWith(
        c.upload(new Uint8Array(0), "should-not-exist", { signal: AbortSignal.abort() }),
        "CANCELLED",
        "upload with an aborted signal",
      );
      assert.deepEqual(await namesIn(t.root), [], "nothing is stored");
    });
  });
});

Deno.test("an upload whose ReadableStream source fails rejects with a FerryError (LOCAL_IO)", async () => {
  await withServer(async (t) => {
    await Deno.writeTextFile(`${t.root}/doc.txt`, "version 1");
    await withClient(t, TOKENS.write, async (c) => {
      let n = 0;
      const failing = new ReadableStream<Uint8Array>({
        pull(ctrl) {
          if (n++ < 3) ctrl.enqueue(randomBytes(100 * KiB));
          else ctrl.error(new Error("the source broke"));
        },
      });
      const err = await c.upload(failing, "doc.txt").then(() => null, (e) => e);
      // The server was told to cancel: no temp file, the old version intact, connection usable.
      await waitFor(async () => (await namesIn(t.root)).length === 1, "the temp file to go", 5_000);
      assert.equal(await Deno.readTextFile(`${t.root}/doc.txt`), "version 1");
      assert.equal((await c.list()).length, 1);
      assert.ok(err !== null, "the upload must fail");
      assert.ok(
        err instanceof FerryError,
        `every error is a FerryError (mod.ts); got ${err?.constructor?.name}: ${err?.message}`,
      );
      assert.equal(err.code, "LOCAL_IO");
    });
  });
});
