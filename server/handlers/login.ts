/**
 * HELLO (4,0) and AUTH (4,2): version negotiation and authentication.
 *
 * @module
 */

import {
  decodeAuth,
  decodeHello,
  encodeAuthOk,
  encodeWelcome,
  FEATURES,
  type Hello,
  type WelcomeSession,
} from "../../protocol/messages/mod.ts";
import { MAX_VERSION, MIN_VERSION } from "../../protocol/services.ts";
import { FerryError } from "../../protocol/errors.ts";
import { peerAddressKey } from "../limits.ts";
import { logOp, sendError, type Session } from "../session.ts";

/**
 * What a WELCOME answering `hello` appends, or `undefined` for a HELLO without a checksum list
 * (an older client, which gets the older WELCOME and SHA-256): the first algorithm of the
 * client's list that the storage takes, else SHA-256, and the features this server has.
 */
function chooseSession(session: Session, hello: Hello): WelcomeSession | undefined {
  if (hello.checksums === undefined) return undefined;
  const offered = session.ctx.storage.checksums ?? ["sha256"];
  const checksum = hello.checksums.find((a) => offered.includes(a)) ?? "sha256";
  return { checksum, features: FEATURES.RANGES | FEATURES.LIST_NAMES };
}

/**
 * HELLO (4,0): answers WELCOME with the newest version both sides speak and, when the client
 * listed checksum algorithms, the one this connection's transfers use from now on. Only a
 * connection's first HELLO is logged (the disconnect line counts them all): repeating HELLO
 * makes no log.
 */
export function handleHello(session: Session, payload: Uint8Array): void {
  const hello = decodeHello(payload);
  const version = Math.min(hello.maxVersion, MAX_VERSION);
  if (version < Math.max(hello.minVersion, MIN_VERSION)) {
    throw new FerryError(
      "UNSUPPORTED_VERSION",
      `client speaks versions ${hello.minVersion}..${hello.maxVersion}, server ${MIN_VERSION}..${MAX_VERSION}`,
    );
  }
  const chosen = chooseSession(session, hello);
  session.checksum = chosen?.checksum ?? "sha256";
  if (session.hellos <= 1) {
    logOp(session, { op: "hello", agent: hello.agent, version, checksum: session.checksum });
  }
  // Deferred: a client pipelines HELLO and AUTH, and WELCOME then leaves in the same write as
  // AUTH_OK. Two small writes would wait out the client's delayed ACK (Deno's server-side TLS
  // connections cannot turn Nagle's algorithm off): about 40 ms per connection.
  session.writer.defer(
    encodeWelcome({ id: hello.id, version, agent: session.ctx.agent, session: chosen }),
  );
}

/**
 * AUTH (4,2): checks the token in constant time; closes after too many failures. An address
 * with too many recent failures is locked out: its tokens are not even checked, and it is told
 * BUSY with the time left, so guessing from it stops paying (other addresses are unaffected).
 */
export async function handleAuth(session: Session, payload: Uint8Array): Promise<void> {
  const auth = decodeAuth(payload);
  if (session.account !== null) {
    throw new FerryError("BAD_ARGUMENT", "this connection is already authenticated");
  }
  const { limits, logins } = session.ctx;
  const address = peerAddressKey(session.peer);
  const outcome = await logins.attempt(address, auth.token);
  if (outcome.kind === "locked") {
    const locked = outcome.lockedMs;
    session.authFailures++;
    logOp(session, {
      op: "auth",
      result: "BUSY",
      address,
      locked_ms: locked,
      failures: session.authFailures,
    });
    await sendError(
      session,
      auth.id,
      new FerryError(
        "BUSY",
        `too many failed logins from your address; try again in ${Math.ceil(locked / 1000)} s`,
      ),
    );
    if (session.authFailures >= limits.maxAuthFailures) session.close();
    return;
  }
  if (outcome.kind === "failed") {
    session.authFailures++;
    const lockout = outcome.lockoutMs;
    logOp(session, {
      op: "auth",
      result: "UNAUTHENTICATED",
      failures: session.authFailures,
      address: lockout > 0 ? address : undefined,
      lockout_ms: lockout > 0 ? lockout : undefined,
    });
    await sendError(
      session,
      auth.id,
      new FerryError("UNAUTHENTICATED", "the access token was not accepted"),
    );
    if (session.authFailures >= limits.maxAuthFailures) session.close();
    return;
  }
  const { account } = outcome;
  // Logged in: the connection leaves the pool of those not logged in for the logged-in one,
  // which may be full for the server or this address.
  const full = session.admitLogin();
  if (full !== undefined) {
    logOp(session, { op: "auth", result: full.code, error: full.message });
    await session.closeWith(full, "connection limit");
    return;
  }
  session.account = account;
  logOp(session, { op: "auth", role: account.role, result: "ok" });
  await session.writer.send(encodeAuthOk({ id: auth.id, role: account.role, user: account.user }));
}
