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
import { frameWith, type Role } from "./common.ts";

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
}

/** Encodes a HELLO frame. */
export function encodeHello(m: Hello): Uint8Array {
  const agent = utf8Bytes(m.agent);
  return frameWith(SERVICES.HELLO, 4 + 2 + 2 + 2 + agent.length, (b) => {
    putU32(b, m.id);
    putU16(b, m.minVersion);
    putU16(b, m.maxVersion);
    putBlob(b, agent);
  });
}

/** Decodes a HELLO payload. */
export function decodeHello(payload: Uint8Array): Hello {
  const c = cursor(payload);
  return {
    id: readU32(c, "id"),
    minVersion: readU16(c, "minVersion"),
    maxVersion: readU16(c, "maxVersion"),
    agent: readString(c, "agent"),
  };
}

/** WELCOME (4,1): the server's answer to HELLO. */
export interface Welcome {
  /** Request id of the HELLO. */
  id: number;
  /** The protocol version both sides now use. */
  version: number;
  /** Free-form server name and version. */
  agent: string;
}

/** Encodes a WELCOME frame. */
export function encodeWelcome(m: Welcome): Uint8Array {
  const agent = utf8Bytes(m.agent);
  return frameWith(SERVICES.WELCOME, 4 + 2 + 2 + agent.length, (b) => {
    putU32(b, m.id);
    putU16(b, m.version);
    putBlob(b, agent);
  });
}

/** Decodes a WELCOME payload. */
export function decodeWelcome(payload: Uint8Array): Welcome {
  const c = cursor(payload);
  return { id: readU32(c, "id"), version: readU16(c, "version"), agent: readString(c, "agent") };
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
