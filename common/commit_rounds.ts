/**
 * Commit rounds: the renames of many small files into one directory, made durable together.
 * A file is committed by renaming its (already fsynced) temporary over its name and then
 * fsyncing the directory. Done file by file, the renames of some files land between the fsyncs
 * of others, so the directory is dirty again at every file's fsync (on ext4 without a journal,
 * the fsync of a new file also writes its directory) and at every directory fsync. In rounds,
 * a directory's renames are made together at the start of a round, then one fsync of the
 * directory covers them all; files arriving meanwhile wait for the next round. Measured with
 * 1,000 × 4 KiB files on this project's test machine (`bench/experiments/commit_rounds.ts`):
 * 1,300-1,800 files/s file by file with a shared directory fsync, 2,000-3,500 in rounds, with
 * less system CPU.
 *
 * @module
 */

/** One caller waiting for a round. */
interface Waiter {
  change: () => unknown;
  flush: () => Promise<void>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** Rounds of renames and one fsync each, per directory (see the module's documentation). */
export interface CommitRounds {
  /**
   * Runs `change` (a rename into the directory `key`) at the start of the next round of `key`,
   * then, once every change of that round has run, the round's flush (an fsync of the
   * directory): the `flush` of one of the callers whose change succeeded. Resolves with what
   * `change` returned once that flush has finished, so the change is durable. Rounds of one key
   * run one at a time; callers arriving while one runs join the next. A change that throws
   * rejects its caller alone, at once; a flush that fails rejects every caller whose change it
   * was to cover. `flush` must stay usable until this settles (a descriptor stays open).
   */
  commit<T>(key: string, change: () => T | Promise<T>, flush: () => Promise<void>): Promise<T>;
}

/**
 * A {@linkcode CommitRounds}. The state lives on the returned object: two servers in one
 * process share nothing.
 *
 * @example Usage
 * ```ts ignore
 * import { createCommitRounds } from "./commit_rounds.ts";
 * const rounds = createCommitRounds();
 * await file.sync();
 * await rounds.commit(dir, () => Deno.renameSync(temp, target), () => fsyncDirectory(dir));
 * ```
 */
export function createCommitRounds(): CommitRounds {
  /** Per key: the callers waiting for the next round (present while a round runs). */
  const waiting = new Map<string, Waiter[]>();

  async function run(key: string): Promise<void> {
    for (;;) {
      const round = waiting.get(key)!;
      if (round.length === 0) {
        waiting.delete(key);
        return;
      }
      waiting.set(key, []);
      const done: { waiter: Waiter; value: unknown }[] = [];
      await Promise.all(round.map(async (waiter) => {
        try {
          done.push({ waiter, value: await waiter.change() });
        } catch (err) {
          waiter.reject(err);
        }
      }));
      if (done.length === 0) continue;
      try {
        await done[0].waiter.flush();
        for (const { waiter, value } of done) waiter.resolve(value);
      } catch (err) {
        for (const { waiter } of done) waiter.reject(err);
      }
    }
  }

  return {
    commit<T>(key: string, change: () => T | Promise<T>, flush: () => Promise<void>) {
      return new Promise<T>((resolve, reject) => {
        const waiter: Waiter = {
          change,
          flush,
          resolve: resolve as (value: unknown) => void,
          reject,
        };
        const round = waiting.get(key);
        if (round !== undefined) {
          round.push(waiter);
          return;
        }
        waiting.set(key, [waiter]);
        // Changes of the callers of this same turn of the event loop join the first round.
        queueMicrotask(() => run(key));
      });
    },
  };
}
