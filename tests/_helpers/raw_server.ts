/**
 * Raw frame connections to test servers, opened and closed around a test body.
 *
 * @module
 */

import { openRaw, type RawConn, rawLogin } from "./raw.ts";
import { startServer, type TestServer, TOKENS } from "./server.ts";
import type { StorageKind } from "./storage_kinds.ts";

/** Runs `fn` with a raw connection to `t` (not logged in), closed afterwards. */
export async function withRawConn(
  t: TestServer,
  fn: (raw: RawConn) => Promise<void>,
): Promise<void> {
  const raw = await openRaw(t.port, t.ca);
  try {
    await fn(raw);
  } finally {
    await raw.close();
  }
}

/**
 * Runs `fn` with a server on `kind` storage and a raw connection to it, logged in as the write
 * user unless `login` is false; both are closed afterwards.
 */
export async function withRawServer(
  kind: StorageKind,
  fn: (t: TestServer, raw: RawConn) => Promise<void>,
  login = true,
): Promise<void> {
  const t = await startServer({}, { storage: kind });
  try {
    await withRawConn(t, async (raw) => {
      if (login) await rawLogin(raw, TOKENS.write);
      await fn(t, raw);
    });
  } finally {
    await t.close();
  }
}
