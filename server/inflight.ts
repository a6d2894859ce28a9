/**
 * The operations a connection runs at once, and the room left for more: background requests
 * (listings, downloads, hashes, upload statuses) up to `maxInflightPerConnection`, and upload
 * commits up to {@linkcode COMMITS_PER_REQUEST_SLOT} times as many. A commit holds little (its
 * data is written, its buffers freed; two descriptors until its directory's fsync) and spends
 * its time waiting for the disk, and the commits into one directory at about the same time
 * share their directory fsyncs, so more of them at once share more: a client that pipelines
 * many small files keeps them coming. Past either limit the connection's reader
 * stops reading, which pushes back on the client through TCP.
 *
 * @module
 */

/** Upload commits allowed at once per background request allowed. */
export const COMMITS_PER_REQUEST_SLOT = 4;

/** What runs on a connection: a background request, or an upload's commit. */
export type InflightKind = "request" | "commit";

/** The operations in flight on one connection. */
export interface Inflight {
  /** Counts `work` (which must not reject) until it settles. */
  track(work: Promise<void>, kind: InflightKind): void;
  /** Resolves once both kinds are under their limits (or `stop` says to give up). */
  whenRoom(stop: () => boolean): Promise<void>;
  /** Resolves once everything tracked so far has settled. */
  settled(): Promise<void>;
}

/** {@linkcode Inflight} with `limit` background requests at once (and four times as many commits). */
export function createInflight(limit: () => number): Inflight {
  const running = { request: new Set<Promise<void>>(), commit: new Set<Promise<void>>() };
  const full = () =>
    running.request.size >= limit() ||
    running.commit.size >= limit() * COMMITS_PER_REQUEST_SLOT;
  return {
    track(work, kind) {
      const set = running[kind];
      set.add(work);
      work.finally(() => set.delete(work));
    },
    async whenRoom(stop) {
      while (full() && !stop()) {
        await Promise.race([...running.request, ...running.commit]);
      }
    },
    async settled() {
      await Promise.allSettled([...running.request, ...running.commit]);
    },
  };
}
