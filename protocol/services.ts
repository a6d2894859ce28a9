/**
 * The service table: every (Service_Type, Service_Num) pair ferry speaks, and the protocol
 * versions it accepts.
 *
 * @module
 */

/** The protocol version this implementation writes into every frame it sends. */
export const PROTOCOL_VERSION = 1;
/** Oldest Version this implementation accepts. */
export const MIN_VERSION = 1;
/** Newest Version this implementation accepts. */
export const MAX_VERSION = 1;

/** A service, identified by its Service_Type and Service_Num. */
export interface Service {
  /** Service_Type. */
  readonly type: number;
  /** Service_Num. */
  readonly num: number;
}

/** Every service, by name. The original design's numbers are kept; new services got new ones. */
export const SERVICES = {
  /** (0,0) client → server: list a directory. */
  LIST: { type: 0, num: 0 },
  /** (0,1) client → server: delete a file, symlink or empty directory. */
  DELETE: { type: 0, num: 1 },
  /** (0,2) server → client: a batch of directory entries answering LIST. */
  LIST_ENTRIES: { type: 0, num: 2 },
  /** (0,3) client → server: describe one path. */
  STAT: { type: 0, num: 3 },
  /** (0,4) server → client: the entry answering STAT. */
  STAT_RESULT: { type: 0, num: 4 },
  /** (0,5) client → server: SHA-256 of a file, or of its first bytes. */
  HASH: { type: 0, num: 5 },
  /** (0,6) server → client: the digest answering HASH. */
  HASH_RESULT: { type: 0, num: 6 },
  /** (0,7) client → server: create a directory. */
  MKDIR: { type: 0, num: 7 },
  /** (0,8) client → server: rename or move a path. */
  RENAME: { type: 0, num: 8 },
  /** (1,0) client → server: download a file. */
  DOWNLOAD: { type: 1, num: 0 },
  /** (1,1) server → client: file data of a download. */
  DOWNLOAD_DATA: { type: 1, num: 1 },
  /** (1,2) client → server: upload a file. */
  UPLOAD: { type: 1, num: 2 },
  /** (1,3) client → server: file data of an upload. */
  UPLOAD_DATA: { type: 1, num: 3 },
  /** (1,4) server → client: size and modification time opening a download. */
  FILE_INFO: { type: 1, num: 4 },
  /** (1,5) client → server: how much of an interrupted upload the server kept. */
  UPLOAD_STATUS: { type: 1, num: 5 },
  /** (1,6) server → client: the kept prefix's length and SHA-256, answering UPLOAD_STATUS. */
  UPLOAD_PARTIAL: { type: 1, num: 6 },
  /** (1,7) client → server: continue an interrupted upload from an offset. */
  UPLOAD_RESUME: { type: 1, num: 7 },
  /** (2,3) client → server: close the server (admin only). */
  CLOSE_SERVER: { type: 2, num: 3 },
  /** (3,0) either way: an operation failed, with a stable code and a message. */
  ERROR: { type: 3, num: 0 },
  /** (3,1) server → client: an operation succeeded (acknowledgement). */
  OK: { type: 3, num: 1 },
  /** (3,2) client → server: cancel a request in flight. */
  CANCEL: { type: 3, num: 2 },
  /** (3,3) either way: end of a file's data, with its length and SHA-256. */
  EOF: { type: 3, num: 3 },
  /** (4,0) client → server: first frame; the versions the client speaks. */
  HELLO: { type: 4, num: 0 },
  /** (4,1) server → client: the version chosen and the server's name. */
  WELCOME: { type: 4, num: 1 },
  /** (4,2) client → server: present an access token. */
  AUTH: { type: 4, num: 2 },
  /** (4,3) server → client: the token was accepted, with the granted role. */
  AUTH_OK: { type: 4, num: 3 },
} as const satisfies Record<string, Service>;

/** The name of a service, e.g. `"DOWNLOAD"`. */
export type ServiceName = keyof typeof SERVICES;

/** A single number identifying a (type, num) pair, for use as a map key. */
export function serviceKey(type: number, num: number): number {
  return type * 0x10000 + num;
}

const NAMES_BY_KEY: ReadonlyMap<number, ServiceName> = new Map(
  (Object.entries(SERVICES) as [ServiceName, Service][]).map((
    [name, s],
  ) => [serviceKey(s.type, s.num), name]),
);

/** The name of the service (type, num), or `undefined` when it is not one ferry knows. */
export function serviceName(type: number, num: number): ServiceName | undefined {
  return NAMES_BY_KEY.get(serviceKey(type, num));
}
