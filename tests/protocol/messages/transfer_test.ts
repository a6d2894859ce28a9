/**
 * Tests of `protocol/messages/transfer.ts`: DOWNLOAD, FILE_INFO, UPLOAD, UPLOAD_STATUS,
 * UPLOAD_RESUME, EOF, and the data frames built by the one data-frame buffer.
 */

import assert from "node:assert/strict";
import fc from "fast-check";

import { HEADER_SIZE, MAX_PAYLOAD } from "../../../protocol/frame.ts";
import { PROTOCOL_VERSION, SERVICES } from "../../../protocol/services.ts";
import { equalBytes } from "../../../protocol/bytes.ts";
import {
  createDataFrameBuffer,
  DATA_BATCH,
  DATA_CHUNK,
  DATA_FRAME_SIZE,
  type DataFrameBuffer,
  dataFramesSize,
  type DataService,
  decodeData,
  ID_SIZE,
} from "../../../protocol/messages/mod.ts";
import { concat } from "../../_helpers/mod.ts";
import { BOUNDED, fromHex, hex, pattern, u32 } from "../_helpers.ts";
import { collect, sizedSource } from "../_frames.ts";
import { codecTests } from "./_suite.ts";

codecTests("transfer");

/** Reads data frames of `service` and `id` back with the live reader; returns their data. */
async function decodeAllData(
  bytes: Uint8Array,
  service: DataService,
  id: number,
): Promise<Uint8Array> {
  const frames = await collect(sizedSource(bytes, [bytes.length]));
  const parts: Uint8Array[] = [];
  frames.forEach((f, i) => {
    assert.equal(f.type, service.type);
    assert.equal(f.num, service.num);
    assert.equal(f.version, PROTOCOL_VERSION);
    assert.ok(f.payload.length <= MAX_PAYLOAD);
    const m = decodeData(f.payload);
    assert.equal(m.id, id);
    if (i < frames.length - 1) assert.equal(m.data.length, DATA_CHUNK, "only the last is short");
    parts.push(m.data);
  });
  assert.equal(
    frames.length,
    Math.max(1, Math.ceil(parts.reduce((n, p) => n + p.length, 0) / DATA_CHUNK)),
  );
  return concat(parts);
}

/** Frames `data` by reading it into the buffer's region in place, as a file read would. */
function inPlace(buffer: DataFrameBuffer, id: number, data: Uint8Array): Uint8Array {
  const region = buffer.region(data.length);
  assert.equal(region.length, data.length);
  region.set(data);
  return buffer.frame(id, data.length);
}

Deno.test("data frames: sizes and constants", () => {
  assert.equal(DATA_CHUNK, 65531);
  assert.equal(DATA_FRAME_SIZE, 65543);
  assert.equal(DATA_BATCH, 4 * 65531);
  assert.equal(dataFramesSize(0), 12);
  assert.equal(dataFramesSize(1), 13);
  assert.equal(dataFramesSize(DATA_CHUNK), DATA_FRAME_SIZE);
  assert.equal(dataFramesSize(DATA_CHUNK + 1), DATA_FRAME_SIZE + 13);
});

Deno.test("data frames: golden bytes from PROTOCOL.md §3.1, read in place and copied", () => {
  // One short frame: type 1, num 1 (DOWNLOAD_DATA), version 1, Data_Len 9 | id 42 | 5 bytes.
  const small = fromHex("0001 0001 0001 0009 0000002a 0102030405");
  const data = new Uint8Array([1, 2, 3, 4, 5]);
  const down = createDataFrameBuffer(SERVICES.DOWNLOAD_DATA, 8);
  assert.equal(hex(inPlace(down, 42, data)), hex(small));
  assert.equal(hex(down.frameCopy(42, data)), hex(small));
  // No data: one frame of just the id. type 1, num 3 (UPLOAD_DATA), Data_Len 4 | id 258.
  const empty = fromHex("0001 0003 0001 0004 00000102");
  const up = createDataFrameBuffer(SERVICES.UPLOAD_DATA, 1);
  assert.equal(hex(up.frame(258, 0)), hex(empty));
  assert.equal(hex(up.frameCopy(258, new Uint8Array())), hex(empty));

  // Two frames: a full one (Data_Len 65535 = 4 + 65531) and one of 3 bytes (Data_Len 7).
  const big = pattern(DATA_CHUNK + 3, 1);
  const first = fromHex("0001 0003 0001 ffff fedcba98");
  const second = fromHex("0001 0003 0001 0007 fedcba98");
  for (const mode of ["in place", "copy"]) {
    const b = createDataFrameBuffer(SERVICES.UPLOAD_DATA, DATA_CHUNK + 3);
    const out = mode === "copy" ? b.frameCopy(0xfedcba98, big) : inPlace(b, 0xfedcba98, big);
    assert.equal(out.length, 12 + DATA_CHUNK + 12 + 3, mode);
    assert.equal(hex(out.subarray(0, 12)), hex(first), `${mode}: first header`);
    assert.ok(equalBytes(out.subarray(12, 12 + DATA_CHUNK), big.subarray(0, DATA_CHUNK)), mode);
    const at = 12 + DATA_CHUNK;
    assert.equal(hex(out.subarray(at, at + 12)), hex(second), `${mode}: second header`);
    assert.equal(hex(out.subarray(at + 12)), hex(big.subarray(DATA_CHUNK)), `${mode}: tail`);
  }
});

Deno.test("data frames: split at DATA_CHUNK boundaries", async () => {
  const cases: [number, number][] = [
    [0, 1],
    [1, 1],
    [DATA_CHUNK - 1, 1],
    [DATA_CHUNK, 1],
    [DATA_CHUNK + 1, 2],
    [2 * DATA_CHUNK, 2],
    [3 * DATA_CHUNK + 5, 4],
    [DATA_BATCH, 4],
  ];
  for (const [n, frames] of cases) {
    for (const service of [SERVICES.DOWNLOAD_DATA, SERVICES.UPLOAD_DATA]) {
      const data = pattern(n, n);
      const id = 0xfedcba98;
      const buffer = createDataFrameBuffer(service, Math.max(1, n));
      const copied = buffer.frameCopy(id, data).slice();
      const read = inPlace(buffer, id, data);
      assert.equal(read.length, dataFramesSize(n), `dataFramesSize(${n})`);
      assert.equal(read.length, n + frames * (HEADER_SIZE + ID_SIZE));
      assert.ok(equalBytes(read, copied), `${n} bytes: in place and copied agree`);
      assert.ok(equalBytes(await decodeAllData(read, service, id), data), `${n} bytes`);
    }
  }
});

Deno.test("data frames: any data reassembles, read in place or copied (size:max)", async () => {
  await fc.assert(
    fc.asyncProperty(
      u32,
      fc.oneof(
        fc.uint8Array({ maxLength: 3 * DATA_CHUNK, size: "max" }),
        fc.nat({ max: DATA_BATCH }).map((n) => pattern(n, n)),
      ),
      fc.boolean(),
      async (id, data, copy) => {
        const buffer = createDataFrameBuffer(SERVICES.DOWNLOAD_DATA);
        const out = copy ? buffer.frameCopy(id, data) : inPlace(buffer, id, data);
        assert.equal(out.length, dataFramesSize(data.length));
        assert.ok(equalBytes(await decodeAllData(out, SERVICES.DOWNLOAD_DATA, id), data));
      },
    ),
    { numRuns: 40, ...BOUNDED },
  );
});

Deno.test("data frames: one buffer is reused for every batch, with nothing allocated", async () => {
  const buffer = createDataFrameBuffer(SERVICES.UPLOAD_DATA);
  assert.equal(buffer.capacity, DATA_BATCH);
  assert.equal(buffer.service, SERVICES.UPLOAD_DATA);
  const region = buffer.region();
  assert.equal(region.length, DATA_BATCH);
  assert.equal(region.byteOffset, HEADER_SIZE + ID_SIZE, "file bytes go after the first header");
  assert.equal(buffer.region(10).length, 10);
  assert.equal(buffer.region(DATA_BATCH + 1).length, DATA_BATCH, "never past the capacity");
  const backing = region.buffer;
  assert.equal(backing.byteLength, dataFramesSize(DATA_BATCH), "one allocation of the batch");
  // Batches of every size, in both modes, one after another: each is right, and each is a view
  // of the same buffer.
  for (const n of [DATA_BATCH, 10, 0, 2 * DATA_CHUNK + 3, DATA_CHUNK, 1, DATA_BATCH - 1]) {
    for (const copy of [false, true]) {
      const data = pattern(n, n + (copy ? 1 : 0));
      const out = copy ? buffer.frameCopy(n, data) : inPlace(buffer, n, data);
      assert.equal(out.buffer, backing, `${n}: a view of the one buffer`);
      assert.equal(out.byteOffset, 0);
      assert.ok(equalBytes(await decodeAllData(out, SERVICES.UPLOAD_DATA, n), data), `${n}`);
    }
  }
});

Deno.test("data frames: a read shorter than the region is framed as read", async () => {
  const buffer = createDataFrameBuffer(SERVICES.DOWNLOAD_DATA);
  const region = buffer.region();
  const data = pattern(DATA_CHUNK + 100, 9);
  region.fill(0xee); // bytes past the count read must not leak into the frames
  region.set(data);
  const out = buffer.frame(5, data.length);
  assert.equal(out.length, dataFramesSize(data.length));
  assert.ok(equalBytes(await decodeAllData(out, SERVICES.DOWNLOAD_DATA, 5), data));
});

Deno.test("data frames: the buffer refuses what does not fit", () => {
  for (const capacity of [0, -1, 1.5, NaN]) {
    assert.throws(() => createDataFrameBuffer(SERVICES.UPLOAD_DATA, capacity), RangeError);
  }
  const b = createDataFrameBuffer(SERVICES.UPLOAD_DATA, 100);
  for (const id of [2 ** 32, -1, 1.5]) {
    assert.throws(() => b.frame(id, 1), RangeError, `id ${id}`);
    assert.throws(() => b.frameCopy(id, new Uint8Array(1)), RangeError, `id ${id}`);
  }
  for (const length of [101, -1, 0.5]) {
    assert.throws(() => b.frame(1, length), RangeError, `length ${length}`);
  }
  assert.throws(() => b.frameCopy(1, new Uint8Array(101)), RangeError);
  for (const max of [-1, 2.5]) assert.throws(() => b.region(max), RangeError, `max ${max}`);
  // The boundaries are accepted.
  assert.equal(b.frame(0xffffffff, 100).length, 112);
  assert.equal(b.frameCopy(0, new Uint8Array(100)).length, 112);
});
