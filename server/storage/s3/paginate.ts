/**
 * The paging loop behind the list functions: fetch a page, hand out its items one by one while
 * the next page is already on its way, stop when the store says there is no more. At most two
 * pages are held at a time, however long the listing.
 *
 * @module
 */

import { S3Error } from "./errors.ts";

/** One page: its items and the cursor of the next page, if there is one. */
export interface Page<T, C> {
  /** The items, in order. */
  readonly items: readonly T[];
  /** Where the next page starts; undefined on the last page. */
  readonly next?: C;
}

/**
 * Yields the items of every page, starting from `first`. The next page is requested as soon
 * as a page arrives, so the store's latency overlaps the consumer's work. A cursor that does not
 * move is an {@linkcode S3Error} `InvalidResponse` (else the loop would never end). When the
 * consumer stops early, the request in flight is awaited before the generator returns, so
 * nothing is left running.
 */
export async function* paginate<T, C>(
  first: C | undefined,
  fetchPage: (cursor: C | undefined) => Promise<Page<T, C>>,
): AsyncGenerator<T, void, undefined> {
  let cursor = first;
  let pending: Promise<Page<T, C>> | undefined = fetchPage(cursor);
  try {
    while (pending) {
      const page: Page<T, C> = await pending;
      pending = undefined;
      if (page.next !== undefined) {
        if (JSON.stringify(page.next) === JSON.stringify(cursor)) {
          throw new S3Error(
            { s3Code: "InvalidResponse", status: 200, method: "GET", key: "" },
            "the store returned the same list cursor twice",
          );
        }
        cursor = page.next;
        pending = fetchPage(cursor);
        pending.catch(() => {}); // surfaced when awaited; not unhandled if the consumer stops
      }
      yield* page.items;
    }
  } finally {
    if (pending) await pending.catch(() => {});
  }
}
