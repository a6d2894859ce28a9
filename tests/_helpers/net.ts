/**
 * Time and network helpers: sleeping and polling, deadlines, free ports, plain TCP sockets, and
 * one TCP relay that can throttle, cut, stall (either way) or record a connection, or make it
 * come from another loopback address.
 *
 * @module
 */

import assert from "node:assert/strict";
import net from "node:net";
import { concat } from "./bytes.ts";

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `cond` every 10 ms until it is true, failing after `ms`. */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string,
  ms = 10_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Resolves `promise`, or rejects after `ms` (the timer is always cleared). */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** How a promise settled within a deadline, from {@linkcode settlesWithin}. */
export type Settled<T> = { settled: true; value?: T; error?: unknown } | { settled: false };

/** Races `p` against a timer; resolves `{ settled: false }` when the timer wins. */
export async function settlesWithin<T>(p: Promise<T>, ms: number): Promise<Settled<T>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<{ settled: false }>((r) => {
    timer = setTimeout(() => r({ settled: false }), ms);
  });
  try {
    return await Promise.race([
      p.then(
        (value) => ({ settled: true as const, value }),
        (error) => ({ settled: true as const, error }),
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A port nothing listened on a moment ago on 127.0.0.1. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Closes a connection, ignoring one that is already closed. */
export function closeQuietly(conn: { close(): void } | undefined): void {
  try {
    conn?.close();
  } catch {
    // already closed
  }
}

/** Opens a plain TCP connection to `port` that sends nothing (or `bytes`). */
export async function openTcp(port: number, bytes?: Uint8Array): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  for (let o = 0; bytes !== undefined && o < bytes.length;) {
    o += await conn.write(bytes.subarray(o));
  }
  return conn;
}

/**
 * Reads from a connection until EOF or a reset, or until `ms` pass. Returns what arrived and
 * whether the connection was closed (EOF or reset) within the time.
 */
export async function readUntilClosed(
  conn: Deno.Conn,
  ms: number,
): Promise<{ bytes: Uint8Array; closed: boolean }> {
  const chunks: Uint8Array[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), ms));
  let closed = false;
  try {
    const buf = new Uint8Array(16 * 1024);
    while (true) {
      const read = conn.read(buf);
      read.catch(() => {}); // still pending when the timer wins; rejects once conn is closed
      const n = await Promise.race([read, timeout]);
      if (n === "timeout") break;
      if (n === null) {
        closed = true;
        break;
      }
      chunks.push(buf.slice(0, n));
    }
  } catch {
    closed = true; // a reset counts as closed
  } finally {
    clearTimeout(timer);
  }
  return { bytes: concat(chunks), closed };
}

/** Reads from a plain connection until EOF or reset (true), or until `ms` pass (false). */
export async function tcpClosedWithin(conn: Deno.Conn, ms: number): Promise<boolean> {
  return (await readUntilClosed(conn, ms)).closed;
}

// ---------------------------------------------------------------------------------------------
// The relay

/** Options of {@linkcode relay}. */
export interface RelayOptions {
  /**
   * Connect to the target from this local address (e.g. 127.0.0.2: all of 127/8 is loopback on
   * Linux), so the server sees another client address.
   */
  from?: string;
  /** Server-to-client bytes per second (default: unlimited). */
  bytesPerSecond?: number;
  /** Cut the first connection after this many server-to-client bytes. */
  cutDownAfter?: number;
  /** Cut the first connection after this many client-to-server bytes. */
  cutUpAfter?: number;
  /** How many connections (the first ones) are cut (default 1). */
  cutConnections?: number;
  /** Forward only this many server bytes per connection, then stop reading until closed. */
  stallDownAfter?: number;
  /** Forward only this many client bytes per connection, then stop reading until closed. */
  stallUpAfter?: number;
  /** Keep every byte relayed, per connection, in {@linkcode Relay.recordings}. */
  record?: boolean;
}

/** The bytes of one relayed connection, each direction in order. */
export interface Recording {
  /** What the client sent. */
  toServer: Uint8Array[];
  /** What the server sent. */
  toClient: Uint8Array[];
}

/** A running relay; closing it (or disposing of it) ends every connection it relays. */
export interface Relay extends AsyncDisposable {
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** How many connections it accepted. */
  connections(): number;
  /** The recorded connections (with `record`), in the order they were accepted. */
  readonly recordings: Recording[];
  /** Stops accepting, closes every relayed connection and waits for them to end. */
  close(): Promise<void>;
}

/** The part of a connection a pump needs. */
interface Pipe {
  read(buf: Uint8Array): Promise<number | null>;
  write(bytes: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
}

/**
 * Connects to `port` on 127.0.0.1 from `source` (Deno.connect cannot bind a local address;
 * node:net can), as a {@linkcode Pipe}.
 */
async function connectFrom(source: string, port: number): Promise<Pipe> {
  const socket = net.connect({ host: "127.0.0.1", port, localAddress: source });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const queue: Uint8Array[] = [];
  let ended = false;
  let failure: Error | null = null;
  let wake: (() => void) | null = null;
  socket.on("data", (chunk: Uint8Array) => {
    queue.push(chunk);
    socket.pause();
    wake?.();
  });
  socket.on("end", () => {
    ended = true;
    wake?.();
  });
  socket.on("close", () => {
    ended = true;
    wake?.();
  });
  socket.on("error", (err: Error) => {
    failure = err;
    wake?.();
  });
  return {
    async read(buf) {
      while (queue.length === 0) {
        if (failure !== null) throw failure;
        if (ended) return null;
        await new Promise<void>((r) => wake = r);
        wake = null;
      }
      const head = queue[0];
      const n = Math.min(buf.length, head.length);
      buf.set(head.subarray(0, n));
      if (n < head.length) {
        queue[0] = head.subarray(n);
      } else {
        queue.shift();
        if (queue.length === 0) socket.resume();
      }
      return n;
    },
    write(bytes) {
      return new Promise((resolve, reject) => {
        socket.write(bytes.slice(), (err) => err ? reject(err) : resolve(bytes.length));
      });
    },
    closeWrite() {
      return new Promise((resolve) => socket.end(() => resolve()));
    },
    close() {
      socket.destroy();
    },
  };
}

/**
 * A TCP relay on 127.0.0.1 to `targetPort`: it forwards every connection both ways and, as
 * `options` say, throttles the server's bytes, cuts the first connections part-way (to
 * interrupt a transfer), stalls the server's bytes (a client that stops reading) or the
 * client's (a server that stops reading), records everything, or connects from another loopback
 * address.
 */
export function relay(targetPort: number, options: RelayOptions = {}): Relay {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Pipe>();
  const relays: Promise<void>[] = [];
  const recordings: Recording[] = [];
  let count = 0;
  let release!: () => void;
  const released = new Promise<void>((r) => release = r);
  let closing: Promise<void> | undefined;

  async function pump(
    from: Pipe,
    to: Pipe,
    { cutAfter = Infinity, stallAfter = Infinity, rate, record }: {
      cutAfter?: number;
      stallAfter?: number;
      rate?: number;
      record?: Uint8Array[];
    },
  ): Promise<void> {
    const buf = new Uint8Array(16 * 1024);
    let sent = 0;
    const started = performance.now();
    try {
      while (true) {
        if (sent >= stallAfter) {
          await released;
          return;
        }
        const max = Math.min(buf.length, cutAfter - sent, stallAfter - sent);
        const n = await from.read(buf.subarray(0, max));
        if (n === null) break;
        record?.push(buf.slice(0, n));
        for (let o = 0; o < n;) o += await to.write(buf.subarray(o, n));
        sent += n;
        if (sent >= cutAfter) {
          closeQuietly(from);
          closeQuietly(to);
          return;
        }
        if (rate !== undefined) {
          const wait = started + (sent / rate) * 1000 - performance.now();
          if (wait > 0) await sleep(wait);
        }
      }
      await to.closeWrite();
    } catch {
      // one side went away: the connection is closed below
    }
  }

  async function relayOne(client: Deno.Conn, cut: boolean): Promise<void> {
    open.add(client);
    let upstream: Pipe | undefined;
    try {
      upstream = options.from === undefined
        ? await Deno.connect({ hostname: "127.0.0.1", port: targetPort })
        : await connectFrom(options.from, targetPort);
      open.add(upstream);
      const rec: Recording = { toServer: [], toClient: [] };
      if (options.record) recordings.push(rec);
      await Promise.all([
        pump(client, upstream, {
          cutAfter: cut ? options.cutUpAfter : undefined,
          stallAfter: options.stallUpAfter,
          record: options.record ? rec.toServer : undefined,
        }),
        pump(upstream, client, {
          cutAfter: cut ? options.cutDownAfter : undefined,
          stallAfter: options.stallDownAfter,
          rate: options.bytesPerSecond,
          record: options.record ? rec.toClient : undefined,
        }),
      ]);
    } finally {
      for (const c of [client, upstream]) {
        closeQuietly(c);
        if (c !== undefined) open.delete(c);
      }
    }
  }

  const accepting = (async () => {
    try {
      for await (const client of listener) {
        const cut = count++ < (options.cutConnections ?? 1);
        relays.push(relayOne(client, cut).catch(() => {}));
      }
    } catch {
      // listener closed
    }
  })();

  function close(): Promise<void> {
    closing ??= (async () => {
      listener.close();
      await accepting;
      release();
      for (const c of open) closeQuietly(c);
      await Promise.allSettled(relays);
    })();
    return closing;
  }

  return {
    port: (listener.addr as Deno.NetAddr).port,
    connections: () => count,
    recordings,
    close,
    [Symbol.asyncDispose]: close,
  };
}
