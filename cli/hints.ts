/**
 * What to check next, added to the one line a failure prints when the cause is one the user can
 * fix with a flag: a refused or non-TLS port (`--port`), a host that does not resolve (`--host`).
 *
 * @module
 */

import { FerryError } from "../protocol/errors.ts";
import { UnreachableError } from "../client/dial.ts";

const HINTS: Partial<Record<UnreachableError["reason"], string>> = {
  "refused": "is it running, is --port right?",
  "not-tls": "is --port right?",
  "unknown-host": "is --host right?",
};

/** `err` as a `FerryError` whose message ends with what to check, when there is something. */
export function withHint(err: FerryError): FerryError {
  if (!(err instanceof UnreachableError)) return err;
  const hint = HINTS[err.reason];
  return hint === undefined ? err : new FerryError(err.code, `${err.message}; ${hint}`);
}
