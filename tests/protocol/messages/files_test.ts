/**
 * Tests of `protocol/messages/files.ts`: LIST, DELETE, LIST_ENTRIES, STAT, STAT_RESULT, HASH,
 * MKDIR, RENAME; and the example of PROTOCOL.md §9.
 */

import assert from "node:assert/strict";

import { HEADER_SIZE } from "../../../protocol/frame.ts";
import { SERVICES } from "../../../protocol/services.ts";
import {
  decodeListEntries,
  decodeMkdir,
  decodePathRequest,
  decodeRename,
  encodeListEntries,
  encodeMkdir,
  encodePathRequest,
  encodeRename,
  type ListEntries,
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
