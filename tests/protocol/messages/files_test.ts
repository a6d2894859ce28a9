/**
 * Tests of `protocol/messages/files.ts`: LIST, DELETE, LIST_ENTRIES, STAT, STAT_RESULT, HASH,
 * MKDIR, RENAME; and the example of PROTOCOL.md §9.
 */

import assert from "node:assert/strict";

import { decodeHeader, HEADER_SIZE, MAX_PAYLOAD } from "../../../protocol/frame.ts";
import { SERVICES } from "../../../protocol/services.ts";
import { utf8Bytes } from "../../../protocol/bytes.ts";
import {
  decodeList,
  decodeListEntries,
  decodeMkdir,
  decodePathRequest,
  decodeRename,
  encodeList,
  encodeListEntries,
  encodeMkdir,
  encodePathRequest,
  encodeRename,
  type Entry,
  entrySize,
  type ListEntries,
  ListEntriesEncoder,
} from "../../../protocol/messages/mod.ts";
import { fromHex, hex, largest } from "../_helpers.ts";
import { CODECS, MAX_ENTRIES } from "./_codecs.ts";
import { codecTests } from "./_suite.ts";

codecTests("files");

/** The example of PROTOCOL.md §9, copied byte for byte. */
const SECTION_9 = `
00 00        Service_Type 0
00 00        Service_Num 0        (0,0) = LIST
00 01        Version 1
00 0a        Data_Len 10
00 00 00 01  request id 1
00 04        path length 4
64 6f 63 73  "docs"
`;

/** The hex pairs at the start of each line of a §9-style listing. */
function listingBytes(listing: string): Uint8Array {
  const pairs = listing.split("\n").map((line) => line.match(/^((?:[0-9a-f]{2} )+)/)?.[1] ?? "");
  return fromHex(pairs.join(""));
}

Deno.test("messages: the LIST example of PROTOCOL.md §9", () => {
  const bytes = listingBytes(SECTION_9);
  assert.equal(bytes.length, 18);
  assert.equal(hex(encodePathRequest(SERVICES.LIST, { id: 1, path: "docs" })), hex(bytes));
  assert.deepEqual(decodePathRequest(bytes.subarray(HEADER_SIZE)), { id: 1, path: "docs" });
});

Deno.test("messages: PROTOCOL.md §9 still shows the example bytes tested here", async () => {
  const doc = await Deno.readTextFile(new URL("../../../PROTOCOL.md", import.meta.url));
  const section = doc.slice(doc.indexOf("## 9. Example"));
  const block = section.slice(
    section.indexOf("```") + 3,
    section.indexOf("```", section.indexOf("```") + 3),
  );
  assert.equal(hex(listingBytes(block)), hex(listingBytes(SECTION_9)));
});

Deno.test("messages: a leading BOM and NUL are kept, not stripped", () => {
  const m = { id: 1, path: "\uFEFF\u0000name" };
  assert.deepEqual(decodePathRequest(encodePathRequest(SERVICES.LIST, m).subarray(HEADER_SIZE)), m);
});

Deno.test("messages: the LIST_ENTRIES generator reaches its declared entry count", () => {
  const c = CODECS.find((c) => c.service === "LIST_ENTRIES")!;
  assert.equal(largest(c.arb, (m) => (m as ListEntries).entries.length), MAX_ENTRIES);
});

Deno.test("messages: unknown flag bits and entry kinds from a peer", () => {
  // LIST_ENTRIES: an unknown kind reads as "other"; flag bits other than bit 0 are ignored.
  const le = encodeListEntries({
    id: 7,
    last: false,
    entries: [{ name: "a", kind: "file", size: 0, mtime: null }],
  }).subarray(HEADER_SIZE).slice();
  le[4] = 0xfe; // flags: bit 0 clear, others set
  le[7] = 200; // kind
  assert.deepEqual(decodeListEntries(le), {
    id: 7,
    last: false,
    entries: [{ name: "a", kind: "other", size: 0, mtime: null }],
  });
  le[4] = 0xff;
  assert.equal(decodeListEntries(le).last, true);
  // MKDIR and RENAME read only bit 0 of their flags.
  const mk = encodeMkdir({ id: 1, parents: false, path: "d" }).subarray(HEADER_SIZE).slice();
  mk[4] = 0xfe;
  assert.equal(decodeMkdir(mk).parents, false);
  mk[4] = 0x81;
  assert.equal(decodeMkdir(mk).parents, true);
  const rn = encodeRename({ id: 1, replace: false, from: "a", to: "b" }).subarray(HEADER_SIZE)
    .slice();
  rn[4] = 0xfe;
  assert.equal(decodeRename(rn).replace, false);
  rn[4] = 0x03;
  assert.deepEqual(decodeRename(rn), { id: 1, replace: true, from: "a", to: "b" });
});

Deno.test("messages: ListEntriesEncoder fills frames to the payload limit, in one reused buffer", () => {
  const encoder = new ListEntriesEncoder(9);
  const entries: Entry[] = Array.from({ length: 10_000 }, (_, i) => ({
    name: `entry-${i}-${"é".repeat(i % 50)}`,
    kind: (["file", "dir", "symlink", "other"] as const)[i % 4],
    size: i % 4 === 0 ? i * 1_000_003 : 0,
    mtime: i % 3 === 0 ? null : 1_700_000_000_000 + i,
  }));
  const decoded: Entry[] = [];
  const buffers = new Set<ArrayBufferLike>();
  let frames = 0;
  const take = (last: boolean) => {
    const frame = encoder.frame(last);
    buffers.add(frame.buffer);
    const header = decodeHeader(frame);
    assert.deepEqual([header.type, header.num, header.version], [0, 2, 1]);
    assert.equal(header.length, frame.length - HEADER_SIZE);
    const batch = decodeListEntries(frame.subarray(HEADER_SIZE));
    assert.equal(batch.id, 9);
    assert.equal(batch.last, last);
    decoded.push(...batch.entries);
    frames++;
    return frame.length - HEADER_SIZE;
  };
  for (const entry of entries) {
    if (encoder.add(entry)) continue;
    // Full: not even this entry's fixed part and name would have fitted.
    const count = encoder.count;
    const length = take(false);
    assert.ok(length + entrySize(utf8Bytes(entry.name).length) > MAX_PAYLOAD, `${length}`);
    assert.ok(count > 0);
    assert.equal(encoder.count, 0, "the next frame starts empty");
    assert.ok(encoder.add(entry), "an entry that did not fit goes into the next frame");
  }
  take(true);
  assert.deepEqual(decoded, entries, "every entry, in order, exactly as given");
  assert.ok(frames > 10, `${frames} frames`);
  assert.equal(buffers.size, 1, "every frame is a view of the same buffer: memory stays constant");
  // Byte for byte what encodeListEntries writes for the same batch.
  const small = new ListEntriesEncoder(3);
  for (const e of entries.slice(0, 5)) assert.ok(small.add(e));
  assert.equal(
    hex(small.frame(true)),
    hex(encodeListEntries({ id: 3, last: true, entries: entries.slice(0, 5) })),
  );
  // An empty last frame: a directory without entries.
  assert.deepEqual(decodeListEntries(small.frame(true).subarray(HEADER_SIZE)), {
    id: 3,
    last: true,
    entries: [],
  });
});

Deno.test("messages: ListEntriesEncoder refuses an entry no frame can hold", () => {
  const encoder = new ListEntriesEncoder(1);
  const huge: Entry = { name: "x".repeat(MAX_PAYLOAD), kind: "file", size: 0, mtime: null };
  assert.throws(() => encoder.add(huge), RangeError);
  assert.ok(encoder.add({ name: "a", kind: "file", size: 1, mtime: null }));
  assert.equal(encoder.add(huge), false, "after some entries: the frame is full");
});

Deno.test("messages: LIST's options byte: only bit 0 means names only; absent means full entries", () => {
  const plain = encodeList({ id: 5, path: "d" }).subarray(HEADER_SIZE);
  assert.deepEqual(decodeList(plain), { id: 5, path: "d" });
  assert.equal(
    hex(plain),
    hex(
      encodePathRequest(SERVICES.LIST, { id: 5, path: "d" })
        .subarray(HEADER_SIZE),
    ),
    "without options, the LIST of every older client",
  );
  const withOptions = new Uint8Array([...plain, 0xfe]);
  assert.deepEqual(decodeList(withOptions), { id: 5, path: "d", namesOnly: false });
  withOptions[plain.length] = 0x81;
  assert.deepEqual(decodeList(withOptions), { id: 5, path: "d", namesOnly: true });
  assert.deepEqual(decodeList(new Uint8Array([...withOptions, 7, 7])).namesOnly, true);
});
