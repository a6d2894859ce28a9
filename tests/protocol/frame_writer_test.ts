/**
 * Tests of `protocol/frame_writer.ts` over a sink whose writes the test completes by hand:
 * merging of small frames, deferring, backpressure, failure propagation, and a real connection
 * that is closed under the writer.
 */

import assert from "node:assert/strict";

import { createFrameWriter, writeAll } from "../../protocol/frame_writer.ts";
import { FerryError, isFerryError } from "../../protocol/errors.ts";
import { concat } from "../_helpers/mod.ts";
import { pattern } from "./_helpers.ts";

/** A write the sink has been handed and not yet completed. */
interface HeldWrite {
  bytes: Uint8Array;
  complete(n?: number): void;
  fail(err: unknown): void;
}

/** A sink that holds every write until the test completes it. */
function heldSink() {
  const held: HeldWrite[] = [];
  const written: Uint8Array[] = [];
  return {
    held,
    /** Every write call's bytes, copied when the call was made. */
    written,
    write(p: Uint8Array): Promise<number> {
      written.push(p.slice());
      return new Promise<number>((resolve, reject) => {
        held.push({ bytes: p, complete: (n = p.length) => resolve(n), fail: reject });
      });
    },
    /** Completes the oldest held write (all of it, or `n` bytes) and lets the writer go on. */
    async next(n?: number): Promise<void> {
      const w = held.shift();
      assert.ok(w !== undefined, "no write is held");
      w.complete(n);
      await settle();
    },
  };
}

/** Lets every pending promise callback run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
  await new Promise((r) => setTimeout(r, 0));
}

/** Tracks whether a promise has settled, without awaiting it. */
function track(p: Promise<void>) {
  const state = { resolved: false, rejected: undefined as unknown };
  p.then(() => state.resolved = true, (err) => state.rejected = err);
  return state;
}

function frames(count: number, size: number, seed = 0): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => pattern(size, seed + i));
}

Deno.test("writer: small frames sent during a write are merged into the next one", async () => {
  const sink = heldSink();
  const w = createFrameWriter(sink);
  const [first, ...rest] = frames(10, 100);
  const sends = [first, ...rest].map((f) => track(w.send(f)));
  // The first send starts a write at once, alone; the others queue behind it.
  assert.equal(sink.written.length, 1);
  assert.deepEqual(sink.written[0], first);
  assert.equal(w.queued, 1000);
  await sink.next();
  assert.ok(sends[0].resolved && !sends[1].resolved);
  assert.equal(w.queued, 900);
  // The nine queued frames go out as one write, in order.
  assert.equal(sink.written.length, 2);
  assert.deepEqual(sink.written[1], concat(rest));
  await sink.next();
  assert.ok(sends.every((s) => s.resolved));
  assert.equal(w.queued, 0);
  assert.equal(sink.held.length, 0);
});

Deno.test("writer: large frames are written alone; a merged write stops at 256 KiB", async () => {
  const sink = heldSink();
  const w = createFrameWriter(sink);
  const opener = pattern(10, 1);
  const big = pattern(64 * 1024, 2); // at the merge limit: never merged
  const mids = frames(10, 60 * 1024, 3); // under it: merged, at most 256 KiB per write
  const tail = pattern(10, 4);
  const all = [opener, big, ...mids, tail];
  const sends = all.map((f) => track(w.send(f)));
  while (sink.held.length > 0) await sink.next();
  assert.ok(sends.every((s) => s.resolved));
  assert.deepEqual(sink.written.map((b) => b.length), [
    10,
    64 * 1024,
    4 * 60 * 1024,
    4 * 60 * 1024,
    2 * 60 * 1024 + 10,
  ]);
  assert.deepEqual(concat(sink.written), concat(all), "every byte, in order");
  // A single frame larger than a merged write still goes out whole.
  const huge = pattern(300 * 1024, 5);
  const s = track(w.send(huge));
  assert.deepEqual(sink.written.at(-1), huge);
  await sink.next();
  assert.ok(s.resolved);
});

Deno.test("writer: deferred frames wait for the next send or flush, then go in one write", async () => {
  const sink = heldSink();
  const w = createFrameWriter(sink);
  const [a, b, c] = frames(3, 50, 10);
  w.defer(a);
  w.defer(b);
  await settle();
  assert.equal(sink.written.length, 0, "defer alone writes nothing");
  assert.equal(w.queued, 100);
  const sc = track(w.send(c));
  assert.equal(sink.written.length, 1);
  assert.deepEqual(sink.written[0], concat([a, b, c]), "deferred frames lead, in one write");
  await sink.next();
  assert.ok(sc.resolved);
  assert.equal(w.queued, 0);

  // flush() sends what was deferred; with nothing queued it writes nothing.
  w.flush();
  assert.equal(sink.written.length, 1);
  const [d, e] = frames(2, 30, 20);
  w.defer(d);
  w.defer(e);
  w.flush();
  assert.equal(sink.written.length, 2);
  assert.deepEqual(sink.written[1], concat([d, e]));
  // Deferred while a write is running: the running flush takes it next, and flush() adds no
  // second writer loop.
  const f = pattern(40, 30);
  w.defer(f);
  w.flush();
  assert.equal(sink.written.length, 2);
  await sink.next();
  assert.equal(sink.written.length, 3);
  assert.deepEqual(sink.written[2], f);
  await sink.next();
  assert.equal(w.queued, 0);
});

Deno.test("writer: send resolves only once all its bytes were written (backpressure)", async () => {
  const sink = heldSink();
  const w = createFrameWriter(sink);
  const frame = pattern(1000, 40);
  const s = track(w.send(frame));
  await settle();
  assert.ok(!s.resolved, "pending while the sink holds the write");
  // Short writes: the writer hands the rest over until every byte is taken.
  await sink.next(300);
  assert.ok(!s.resolved, "pending after a short write");
  assert.equal(w.queued, 1000, "queued until the whole write is done");
  assert.deepEqual(sink.written[1], frame.subarray(300));
  await sink.next(700);
  assert.ok(s.resolved);
  assert.equal(w.queued, 0);

  // A producer that awaits each send never has more than its one frame queued.
  let most = 0;
  const sizes = [10, 70_000, 5, 300_000, 1];
  const producer = (async () => {
    for (const n of sizes) {
      const p = w.send(pattern(n, n));
      most = Math.max(most, w.queued);
      await p;
    }
  })();
  for (const n of sizes) {
    await settle();
    assert.equal(w.queued, n, `only the frame of ${n} bytes is queued`);
    await sink.next();
  }
  await producer;
  assert.equal(most, 300_000);
  assert.deepEqual(sink.written.slice(2).map((b) => b.length), sizes);
});

Deno.test("writer: a failing sink rejects the pending and queued sends, and every later one", async () => {
  const sink = heldSink();
  const w = createFrameWriter(sink);
  const [a, b, c] = frames(3, 20, 50);
  const sa = track(w.send(a));
  const sb = track(w.send(b));
  w.defer(c);
  const cause = new Error("broken pipe");
  sink.held.shift()!.fail(cause);
  await settle();
  assert.ok(isFerryError(sa.rejected, "CONNECTION_CLOSED"));
  assert.equal((sa.rejected as FerryError).message, "connection write failed: broken pipe");
  assert.equal((sa.rejected as FerryError).cause, cause);
  assert.equal(sb.rejected, sa.rejected, "a queued send fails with the same error");
  assert.equal(w.queued, 0);
  // Later sends fail at once, without touching the sink; defer and flush do nothing.
  await assert.rejects(w.send(pattern(5, 1)), (err) => err === sa.rejected);
  w.defer(pattern(5, 2));
  w.flush();
  assert.equal(w.queued, 0);
  assert.equal(sink.written.length, 1);

  // A FerryError from the sink is passed on as it is.
  const sink2 = heldSink();
  const w2 = createFrameWriter(sink2);
  const s2 = track(w2.send(a));
  const timeout = new FerryError("TIMEOUT", "write stalled");
  sink2.held.shift()!.fail(timeout);
  await settle();
  assert.equal(s2.rejected, timeout);
  await assert.rejects(w2.send(b), (err) => err === timeout);
});

Deno.test("writer: over a real connection, frames arrive in order; once it is closed, sends fail", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const peer = await accepted;
  try {
    const w = createFrameWriter(conn);
    const sent = [pattern(10, 1), pattern(200_000, 2), pattern(3, 3), pattern(70_000, 4)];
    const total = sent.reduce((n, f) => n + f.length, 0);
    const received = (async () => {
      const got = new Uint8Array(total);
      let filled = 0;
      while (filled < total) {
        const n = await peer.read(got.subarray(filled));
        if (n === null) break;
        filled += n;
      }
      return got.subarray(0, filled);
    })();
    await Promise.all(sent.map((f) => w.send(f)));
    assert.deepEqual(await received, concat(sent));
    conn.close();
    await assert.rejects(
      w.send(pattern(10, 5)),
      (err) =>
        isFerryError(err, "CONNECTION_CLOSED") && /connection write failed/.test(err.message),
    );
    await assert.rejects(w.send(pattern(10, 6)), (err) => isFerryError(err, "CONNECTION_CLOSED"));
  } finally {
    peer.close();
    listener.close();
  }
});

Deno.test("writeAll: loops over short writes", async () => {
  const taken: Uint8Array[] = [];
  const sink = {
    write(p: Uint8Array) {
      const n = Math.min(p.length, 7);
      taken.push(p.slice(0, n));
      return Promise.resolve(n);
    },
  };
  const bytes = pattern(50, 9);
  await writeAll(sink, bytes);
  assert.deepEqual(concat(taken), bytes);
  assert.equal(taken.length, 8);
  await writeAll(sink, new Uint8Array());
  assert.equal(taken.length, 8, "nothing to write, no call");
});
