/**
 * Session services (PROTOCOL.md §4.1): HELLO (4,0), WELCOME (4,1), AUTH (4,2), AUTH_OK (4,3).
 *
 * @module
 */

import { SERVICES } from "../services.ts";
import {
  cursor,
  putBlob,
  putU16,
  putU32,
  putU8,
  readString,
  readU16,
  readU32,
  readU8,
  utf8Bytes,
} from "../bytes.ts";
import {
  CHECKSUM_NUMBERS,
  type ChecksumAlgorithm,
  checksumNumbered,
  frameWith,
  readChecksum,
  type Role,
} from "./common.ts";

const ROLE_NUMBERS: Record<Role, number> = { read: 1, write: 2, admin: 3 };

/** HELLO (4,0): the client's first frame. */
export interface Hello {
  /** Request id. */
  id: number;
  /** Oldest protocol version the client speaks. */
  minVersion: number;
  /** Newest protocol version the client speaks. */
  maxVersion: number;
  /** Free-form client name and version, for logs. */
  agent: string;
  /**
   * The checksum algorithms the client accepts, most preferred first (PROTOCOL.md §3.2). Absent
   * from a client that predates them: it accepts SHA-256 only. Numbers this version does not
   * know are left out when decoding.
   */
  checksums?: ChecksumAlgorithm[];
}

/**
 * Encodes a HELLO frame; the checksum list is appended when given.
 *
 * @throws {RangeError} when the list has more than 255 algorithms.
 */
export function encodeHello(m: Hello): Uint8Array {
  const agent = utf8Bytes(m.agent);
  const checksums = m.checksums;
  if (checksums !== undefined && checksums.length > 0xff) {
    throw new RangeError(`${checksums.length} checksum algorithms do not fit a u8 count`);
  }
  const extra = checksums === undefined ? 0 : 1 + checksums.length;
  return frameWith(SERVICES.HELLO, 4 + 2 + 2 + 2 + agent.length + extra, (b) => {
    putU32(b, m.id);
    putU16(b, m.minVersion);
    putU16(b, m.maxVersion);
    putBlob(b, agent);
    if (checksums !== undefined) {
      putU8(b, checksums.length);
      for (const a of checksums) putU8(b, CHECKSUM_NUMBERS[a]);
    }
  });
}

/** Decodes a HELLO payload. */
export function decodeHello(payload: Uint8Array): Hello {
  const c = cursor(payload);
  const hello: Hello = {
    id: readU32(c, "id"),
    minVersion: readU16(c, "minVersion"),
    maxVersion: readU16(c, "maxVersion"),
    agent: readString(c, "agent"),
  };
  if (c.offset < payload.length) {
    const count = readU8(c, "checksum count");
    const checksums: ChecksumAlgorithm[] = [];
    for (let i = 0; i < count; i++) {
      const known = checksumNumbered(readU8(c, "checksum"));
      if (known !== undefined && !checksums.includes(known)) checksums.push(known);
    }
    hello.checksums = checksums;
  }
  return hello;
}

/** WELCOME (4,1): the server's answer to HELLO. */
export interface Welcome {
  /** Request id of the HELLO. */
  id: number;
  /** The protocol version both sides now use. */
  version: number;
  /** Free-form server name and version. */
  agent: string;
  /**
   * What the server chose from a HELLO that listed checksum algorithms, and what it can do
   * (PROTOCOL.md §3.2). Absent from a server that predates them: the connection then uses
   * SHA-256 and no optional feature.
   */
  session?: WelcomeSession;
}

/** The part of WELCOME appended for checksum negotiation and optional features. */
export interface WelcomeSession {
  /** The checksum algorithm of this connection's transfers. */
  checksum: ChecksumAlgorithm;
  /** Bits of {@linkcode FEATURES}; unknown bits are ignored. */
  features: number;
}

/** Optional server features announced in WELCOME (PROTOCOL.md §3.2). */
export const FEATURES = {
  /** DOWNLOAD honours its `length` field: ranges of a file, for one file over several streams. */
  RANGES: 1,
  /** LIST honours its `options` (PROTOCOL.md §4.2): a listing of names and kinds only. */
  LIST_NAMES: 2,
} as const;

/** Encodes a WELCOME frame; the session part is appended when given. */
export function encodeWelcome(m: Welcome): Uint8Array {
  const agent = utf8Bytes(m.agent);
  const extra = m.session === undefined ? 0 : 1 + 4;
  return frameWith(SERVICES.WELCOME, 4 + 2 + 2 + agent.length + extra, (b) => {
    putU32(b, m.id);
    putU16(b, m.version);
    putBlob(b, agent);
    if (m.session !== undefined) {
      putU8(b, CHECKSUM_NUMBERS[m.session.checksum]);
      putU32(b, m.session.features);
    }
  });
}

/**
 * Decodes a WELCOME payload.
 *
 * @throws {FerryError} `BAD_ARGUMENT` when the chosen checksum is unknown (the server must
 * choose one the client listed) or the session part is cut short.
 */
export function decodeWelcome(payload: Uint8Array): Welcome {
  const c = cursor(payload);
  const welcome: Welcome = {
    id: readU32(c, "id"),
    version: readU16(c, "version"),
    agent: readString(c, "agent"),
  };
  if (c.offset < payload.length) {
    welcome.session = { checksum: readChecksum(c, "checksum"), features: readU32(c, "features") };
  }
  return welcome;
}

/** AUTH (4,2): present an access token. */
export interface Auth {
  /** Request id. */
  id: number;
  /** The token, as the server issued it. */
  token: string;
}

/** Encodes an AUTH frame. */
export function encodeAuth(m: Auth): Uint8Array {
  const token = utf8Bytes(m.token);
  return frameWith(SERVICES.AUTH, 4 + 2 + token.length, (b) => {
    putU32(b, m.id);
    putBlob(b, token);
  });
}

/** Decodes an AUTH payload. */
export function decodeAuth(payload: Uint8Array): Auth {
  const c = cursor(payload);
  return { id: readU32(c, "id"), token: readString(c, "token") };
}

/** AUTH_OK (4,3): the token was accepted. */
export interface AuthOk {
  /** Request id of the AUTH. */
  id: number;
  /** What the token allows. */
  role: Role;
  /** The user the token belongs to. */
  user: string;
}

/** Encodes an AUTH_OK frame. */
export function encodeAuthOk(m: AuthOk): Uint8Array {
  const user = utf8Bytes(m.user);
  return frameWith(SERVICES.AUTH_OK, 4 + 1 + 2 + user.length, (b) => {
    putU32(b, m.id);
    putU8(b, ROLE_NUMBERS[m.role]);
    putBlob(b, user);
  });
}

/** Decodes an AUTH_OK payload. */
export function decodeAuthOk(payload: Uint8Array): AuthOk {
  const c = cursor(payload);
  const id = readU32(c, "id");
  const n = readU8(c, "role");
  // A role this version does not know is shown as the least one: new roles never break clients.
  const role = (Object.keys(ROLE_NUMBERS) as Role[]).find((r) => ROLE_NUMBERS[r] === n) ?? "read";
  return { id, role, user: readString(c, "user") };
}
