/**
 * The tests every message module gets for each of its services: golden frames from
 * PROTOCOL.md §3.1 in both directions, and an encode → decode round trip property.
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";

import { peekRequestId } from "../../../protocol/messages/mod.ts";
import { BOUNDED, hex } from "../_helpers.ts";
import { codecsOf, expected, goldenBytes, type MessageModule, splitFrame } from "./_codecs.ts";

/** Registers the golden and round-trip tests of every service whose codec is in `module`. */
export function codecTests(module: MessageModule): void {
  const codecs = codecsOf(module);
  assert.ok(codecs.length > 0, module);
  for (const c of codecs) {
    const name = c.label ?? c.service;
    Deno.test(`messages: ${name} matches its golden frames (PROTOCOL.md §3.1)`, () => {
      assert.ok(c.golden.length > 0);
      for (const g of c.golden) {
        const bytes = goldenBytes(g.frame);
        assert.equal(hex(c.encode(g.value)), hex(bytes), `encode ${JSON.stringify(g.value)}`);
        assert.deepEqual(c.decode(splitFrame(c, bytes)), g.value, `decode ${g.frame}`);
      }
    });

    Deno.test(`messages: ${name} encode → decode round trip`, () => {
      fc.assert(
        fc.property(c.arb, (m) => {
          const payload = splitFrame(c, c.encode(m));
          assert.deepEqual(c.decode(payload), expected(c, m));
          // Every payload starts with the request id.
          const id = typeof m === "number" ? m : (m as { id: number }).id;
          assert.equal(peekRequestId(payload), id);
        }),
        { numRuns: 300, ...BOUNDED },
      );
    });
  }
}
