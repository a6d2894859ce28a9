/**
 * The users file of a running server, kept current: the directory holding it is watched
 * (`Deno.watchFs`), and after a change has settled the file is read again and validated. A user
 * added with `ferry-server adduser` can log in at once; a user removed can no longer log in
 * (connections already logged in keep their session). A file that does not validate changes
 * nothing: the accounts loaded before stay, and one log line says what is wrong.
 *
 * @module
 */

import { basename, dirname, resolve } from "node:path";
import { messageOf } from "../protocol/errors.ts";
import { type Account, parseUsers } from "./auth.ts";
import type { Logger } from "./log.ts";

/** Options of {@linkcode watchUsersFile}. */
export interface UsersWatchOptions {
  /** Where the one line per reload (or refused reload) goes. */
  log: Logger;
  /** Called with the new accounts after each successful reload that changed the file. */
  onChange: (accounts: readonly Account[]) => void;
  /** Quiet time after the last change before the file is read (default 200 ms). */
  debounceMs?: number;
}

/** A users file being watched. */
export interface UsersWatch extends Disposable {
  /** The accounts of the file as last loaded successfully. */
  readonly accounts: readonly Account[];
  /** The path watched. */
  readonly path: string;
  /** Stops watching (a pending reload is dropped). Safe to call more than once. */
  close(): void;
}

const DEFAULT_DEBOUNCE_MS = 200;

/**
 * Loads the users file `path` and watches it for changes. A file that does not exist yet holds
 * no users; it is picked up when it appears (so `adduser` works on a server started without
 * one), and removing it removes its users.
 *
 * @throws {FerryError} `USAGE` when the file exists but does not validate at start (see
 * {@linkcode parseUsers}); at start a broken file is an error, later it is only logged.
 */
export async function watchUsersFile(
  path: string,
  options: UsersWatchOptions,
): Promise<UsersWatch> {
  const file = resolve(path);
  const dir = dirname(file);
  const name = basename(file);
  const debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
  // Watch first, then read: a change made in between is seen as an event, not lost.
  const watcher = Deno.watchFs(dir, { recursive: false });
  let accounts: readonly Account[];
  let lastText: string | null;
  try {
    lastText = await readIfExists(file);
    accounts = lastText === null ? [] : parseUsers(lastText, path);
  } catch (err) {
    watcher.close();
    throw err;
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  let reloading = Promise.resolve();

  async function reload(): Promise<void> {
    let text: string | null;
    let next: Account[];
    try {
      text = await readIfExists(file);
      if (text === lastText) return;
      next = text === null ? [] : parseUsers(text, path);
    } catch (err) {
      options.log({
        event: "users",
        result: "error",
        file: path,
        error: `${messageOf(err)}; the ${accounts.length} users loaded before stay in force ` +
          "until the file is fixed",
      });
      return;
    }
    if (closed) return;
    lastText = text;
    accounts = next;
    options.log({
      event: "users",
      result: text === null ? "removed" : "reloaded",
      file: path,
      users: next.length,
    });
    options.onChange(next);
  }

  const watching = (async () => {
    try {
      for await (const event of watcher) {
        if (!event.paths.some((p) => basename(p) === name)) continue;
        clearTimeout(timer);
        timer = setTimeout(() => {
          reloading = reloading.then(reload);
        }, debounceMs);
      }
    } catch (err) {
      if (!closed) {
        options.log({ event: "users", result: "error", file: path, error: messageOf(err) });
      }
    }
  })();

  function close(): void {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    try {
      watcher.close();
    } catch {
      // already closed
    }
    void watching;
  }

  return {
    get accounts() {
      return accounts;
    },
    path,
    close,
    [Symbol.dispose]: close,
  };
}

async function readIfExists(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
}
