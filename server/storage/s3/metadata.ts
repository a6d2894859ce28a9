/**
 * User metadata (`x-amz-meta-*` headers): checking names and values, turning a record into
 * request headers and reading it back from a reply.
 *
 * Values must be printable ASCII: SigV4 signs headers as bytes and stores do not agree on
 * anything else (Ceph 16 refuses the signature of a request whose metadata holds UTF-8), so a
 * caller with other text encodes it first (e.g. `encodeURIComponent`).
 *
 * @module
 */

import { FerryError } from "../../../protocol/errors.ts";

/** User metadata: lower-case names (without `x-amz-meta-`) to ASCII values. */
export type ObjectMetadata = Record<string, string>;

/** The header prefix of user metadata. */
export const METADATA_PREFIX = "x-amz-meta-";

/** S3's limit on all user metadata of one object (names and values), in bytes. */
export const MAX_METADATA_BYTES = 2048;

const NAME = /^[a-z0-9][a-z0-9-]*$/;
// visible ASCII, single spaces between words: stores trim and fold whitespace differently
const VALUE = /^(?:[\x21-\x7e]+(?: [\x21-\x7e]+)*)?$/;

/**
 * Returns the request headers for `metadata`. Throws `BAD_ARGUMENT` for a name that is not
 * lower-case letters, digits and `-`, a value that is not printable ASCII (single spaces, none at
 * the ends), or more than 2,048 bytes in all.
 */
export function metadataHeaders(metadata: ObjectMetadata): [string, string][] {
  let bytes = 0;
  const headers: [string, string][] = [];
  for (const [name, value] of Object.entries(metadata)) {
    if (!NAME.test(name)) {
      throw new FerryError("BAD_ARGUMENT", `metadata name ${JSON.stringify(name)}: use a-z 0-9 -`);
    }
    if (!VALUE.test(value)) {
      throw new FerryError(
        "BAD_ARGUMENT",
        `metadata ${name}: the value must be printable ASCII with single inner spaces`,
      );
    }
    bytes += name.length + value.length;
    headers.push([METADATA_PREFIX + name, value]);
  }
  if (bytes > MAX_METADATA_BYTES) {
    throw new FerryError("BAD_ARGUMENT", `metadata over ${MAX_METADATA_BYTES} bytes`);
  }
  return headers;
}

/** Returns the user metadata in a reply's headers, names lower-case without the prefix. */
export function metadataFromHeaders(headers: Headers): ObjectMetadata {
  const metadata: ObjectMetadata = {};
  for (const [name, value] of headers) {
    if (name.startsWith(METADATA_PREFIX)) metadata[name.slice(METADATA_PREFIX.length)] = value;
  }
  return metadata;
}
