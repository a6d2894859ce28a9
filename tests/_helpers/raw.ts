/**
 * Raw frame connections: a TLS connection to a test server that sends and receives frames
 * written with the protocol codec, for what the client library would never send, and the
 * assertions and small exchanges (login, listing, upload) the tests build on it.
 *
 * @module
 */

import assert from "node:assert/strict";
import { readFrames } from "../../protocol/frame_reader.ts";
import { writeAll } from "../../protocol/frame_writer.ts";
import type { Frame } from "../../protocol/frame.ts";
import {
  decodeAuthOk,
  decodeError,
  decodeListEntries,
  decodeWelcome,
  encodeAuth,
  encodeEof,
  encodeHello,
  encodePathRequest,
  encodeUpload,
  type Entry,
  type ErrorMessage,
} from "../../protocol/messages/mod.ts";
import { type Service, SERVICES } from "../../protocol/services.ts";
import { encodeDataFrames } from "../protocol/_frames.ts";
import { concat } from "./bytes.ts";
import { TOKENS } from "./server.ts";

/** A TLS connection that sends and receives raw frames. */
export interface RawConn {
  /** This end's address, as the server sees it in its log (`peer=127.0.0.1:PORT`). */
  readonly localAddr: Deno.NetAddr;
  /** Writes byte strings (concatenated into one write). */
  send(...parts: Uint8Array[]): Promise<void>;
  /** The next frame from the server, or `null` once it closed; fails after `ms`. */
  next(ms?: number): Promise<Frame | null>;
  /** Resolves once the server has closed the connection, or after `ms` (then `false`). */
  closedWithin(ms: number): Promise<boolean>;
  /** Frames received and not yet taken by `next`. */
  readonly pending: Frame[];
  /** From now on, drops every frame received (and those pending). */
  discard(): void;
  /** Half-closes (TLS close_notify), keeps reading. */
  closeWrite(): Promise<void>;
  /** Closes and waits for the reader to stop. */
  close(): Promise<void>;
}

/** Options of {@linkcode openRaw}. */
export interface RawOptions {
  /** Do not read from the connection at all (a client that stops reading). */
  noRead?: boolean;
  /** Keep no frames (for connections that receive a lot). */
  discard?: boolean;
}

/** Opens a TLS connection to `port` on 127.0.0.1, as `localhost`, that speaks raw frames. */
export async function openRaw(
  port: number,
  ca: string,
  options: RawOptions = {},
): Promise<RawConn> {
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
  tcp.setNoDelay(true);
  const conn = await Deno.startTls(tcp, { hostname: "localhost", caCerts: [ca] });
  await conn.handshake();
  const frames: Frame[] = [];
  let discarding = options.discard ?? false;
  let ended = false;
  let wake = null as (() => void) | null;
  const pump = options.noRead ? Promise.resolve() : (async () => {
    try {
      for await (const f of readFrames(conn)) {
        if (!discarding) frames.push(f);
        wake?.();
      }
    } catch {
      // the server closed abruptly, or we closed: either way the stream is over
    } finally {
      ended = true;
      wake?.();
    }
  })();
  let closed = false;
  async function waitUntil(cond: () => boolean, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((r) => {
        wake = r;
        timer = setTimeout(r, left);
      });
      clearTimeout(timer);
      wake = null;
    }
    return true;
  }
  return {
    localAddr: tcp.localAddr,
    pending: frames,
    discard() {
      discarding = true;
      frames.length = 0;
    },
    async send(...parts) {
      await writeAll(conn, parts.length === 1 ? parts[0] : concat(parts));
    },
    async next(ms = 5_000) {
      if (!(await waitUntil(() => frames.length > 0 || ended, ms))) {
        assert.fail(`no frame from the server within ${ms} ms`);
      }
      return frames.shift() ?? null;
    },
    closedWithin(ms) {
      return waitUntil(() => ended, ms);
    },
    async closeWrite() {
      await conn.closeWrite();
    },
    async close() {
      if (!closed) {
        closed = true;
        try {
          conn.close();
        } catch {
          // already closed
        }
      }
      await pump;
    },
  };
}

/** The name of `f`'s service in {@linkcode SERVICES}, or `(type,num)`. */
export function serviceOf(f: Frame): string {
  const hit = Object.entries(SERVICES).find(([, s]) => s.type === f.type && s.num === f.num);
  return hit ? hit[0] : `(${f.type},${f.num})`;
}

/** Is `f` an ERROR frame? Returns its contents, or `undefined`. */
export function errorOf(f: Frame | null): ErrorMessage | undefined {
  if (f === null || f.type !== SERVICES.ERROR.type || f.num !== SERVICES.ERROR.num) {
    return undefined;
  }
  return decodeError(f.payload);
}

/** Asserts that `f` is an ERROR with `code` (and `id` when given). */
export function expectError(f: Frame | null, code: string, what: string, id?: number): void {
  assert.ok(f !== null, `${what}: the server closed the connection instead of answering`);
  const e = errorOf(f);
  assert.ok(e !== undefined, `${what}: expected ERROR ${code}, got ${serviceOf(f)}`);
  assert.equal(e.code, code, `${what}: ${e.message}`);
  if (id !== undefined) assert.equal(e.id, id, `${what}: request id of the ERROR`);
}

/** Asserts that `f` is the frame of `service`, and returns it. */
export function expectFrame(f: Frame | null, service: Service, what: string): Frame {
  assert.ok(f !== null, `${what}: the server closed the connection`);
  const e = errorOf(f);
  assert.ok(e === undefined, `${what}: got ERROR ${e?.code}: ${e?.message}`);
  assert.deepEqual([f.type, f.num], [service.type, service.num], `${what}: unexpected frame`);
  return f;
}

/** HELLO (id 1) and AUTH (id 2) with `token`, answered WELCOME (id 1) and AUTH_OK (id 2). */
export async function rawLogin(raw: RawConn, token: string = TOKENS.write): Promise<void> {
  await raw.send(
    encodeHello({ id: 1, minVersion: 1, maxVersion: 1, agent: "raw" }),
    encodeAuth({ id: 2, token }),
  );
  const welcome = expectFrame(await raw.next(), SERVICES.WELCOME, "HELLO");
  assert.equal(decodeWelcome(welcome.payload).id, 1, "HELLO: request id of the WELCOME");
  const ok = expectFrame(await raw.next(), SERVICES.AUTH_OK, "AUTH");
  assert.equal(decodeAuthOk(ok.payload).id, 2, "AUTH: request id of the AUTH_OK");
}

/** LIST `path` as request `id` on a raw connection; returns all entries. */
export async function rawList(raw: RawConn, id: number, path = "."): Promise<Entry[]> {
  await raw.send(encodePathRequest(SERVICES.LIST, { id, path }));
  const entries: Entry[] = [];
  while (true) {
    const batch = decodeListEntries(
      expectFrame(await raw.next(), SERVICES.LIST_ENTRIES, "LIST").payload,
    );
    assert.equal(batch.id, id);
    entries.push(...batch.entries);
    if (batch.last) return entries;
  }
}

/** The frames of a complete raw upload of known size with a chosen EOF checksum. */
export function rawUpload(
  id: number,
  path: string,
  data: Uint8Array,
  digest: Uint8Array,
): Uint8Array[] {
  return [
    encodeUpload({ id, size: data.length, mtime: null, path }),
    encodeDataFrames(SERVICES.UPLOAD_DATA, id, data),
    encodeEof({ id, size: data.length, digest }),
  ];
}
