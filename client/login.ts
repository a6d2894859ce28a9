/**
 * The client's login: HELLO (its versions, agent and checksum algorithms) and AUTH, pipelined
 * in one write, answered by WELCOME and AUTH_OK.
 *
 * @module
 */

import {
  decodeAuthOk,
  decodeWelcome,
  encodeAuth,
  encodeHello,
  type Role,
  type Welcome,
} from "../protocol/messages/mod.ts";
import { MAX_VERSION, MIN_VERSION, SERVICES } from "../protocol/services.ts";
import type { Mux } from "./mux.ts";
import { is, request, unexpected, withDeadline } from "./requests.ts";
import { VERSION } from "../common/version.ts";
import type { HashAlgorithm } from "../common/hash_file.ts";

/** Version string sent to servers in HELLO. */
export const CLIENT_AGENT = `ferry/${VERSION}`;

/**
 * HELLO (offering `checksums`) and AUTH, pipelined; on failure or after `timeoutMs` the
 * connection is closed.
 */
export async function login(
  mux: Mux,
  token: string,
  checksums: HashAlgorithm[],
  timeoutMs: number,
): Promise<{ welcome: Welcome; role: Role; user: string }> {
  const helloId = mux.nextId();
  const authId = mux.nextId();
  const welcome = request(
    mux,
    helloId,
    encodeHello({
      id: helloId,
      minVersion: MIN_VERSION,
      maxVersion: MAX_VERSION,
      agent: CLIENT_AGENT,
      checksums,
    }),
    (f) =>
      is(f, SERVICES.WELCOME)
        ? decodeWelcome(f.payload)
        : Promise.reject(unexpected(f, "greeting")),
  );
  const authOk = request(
    mux,
    authId,
    encodeAuth({ id: authId, token }),
    (f) =>
      is(f, SERVICES.AUTH_OK)
        ? decodeAuthOk(f.payload)
        : Promise.reject(unexpected(f, "authenticating")),
  );
  try {
    const [hello, auth] = await withDeadline(
      Promise.all([welcome, authOk]),
      timeoutMs,
      () => mux.close(),
    );
    return { welcome: hello, role: auth.role, user: auth.user };
  } catch (err) {
    mux.close();
    await mux.closed;
    throw err;
  }
}
