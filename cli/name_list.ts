/**
 * The names of a plain `ls`, kept compactly while a listing arrives so that it can be printed
 * sorted: one string per entry, a byte saying whether it is a directory, and a sort by index.
 * About 50 bytes per entry where whole `Entry` objects take about twice that; a listing of a
 * million names takes some 50 MB here (and nothing on the server, which streams it).
 *
 * @module
 */

import type { Entry } from "../protocol/messages/mod.ts";
import { printable } from "./format.ts";

/** Names gathered from listing batches, printed sorted by name (as `ls` sorts). */
export class NameList {
  #names: string[] = [];
  #dirs: Uint8Array = new Uint8Array(1024);

  /** Names gathered so far. */
  get length(): number {
    return this.#names.length;
  }

  /** Keeps the name and whether it is a directory of each entry that `keep` accepts. */
  add(entries: Iterable<Entry>, keep: (name: string) => boolean = () => true): void {
    for (const e of entries) {
      if (!keep(e.name)) continue;
      const i = this.#names.length;
      if (i === this.#dirs.length) {
        const grown = new Uint8Array(i * 2);
        grown.set(this.#dirs);
        this.#dirs = grown;
      }
      this.#dirs[i] = e.kind === "dir" ? 1 : 0;
      this.#names.push(e.name);
    }
  }

  /**
   * The lines of `ls`: each name made printable (`printable`), directories with a trailing
   * `/`, sorted by name (UTF-16 code units, as `<` compares; equal names in arrival order).
   */
  *lines(): Generator<string> {
    const names = this.#names;
    const order = new Uint32Array(names.length);
    for (let i = 0; i < order.length; i++) order[i] = i;
    order.sort((a, b) => names[a] < names[b] ? -1 : names[a] > names[b] ? 1 : a - b);
    for (const i of order) {
      yield this.#dirs[i] === 1 ? `${printable(names[i])}/` : printable(names[i]);
    }
  }
}
