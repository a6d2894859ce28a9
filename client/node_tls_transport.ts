/**
 * The plumbing under a fingerprint-pinned connection (`pinned_tls.ts`): a `Deno.TcpConn` as the
 * `Duplex` that `node:tls` runs over, read by Deno itself so the end of the connection is always
 * seen (a paused `node:tls` socket in Deno can miss it and wait forever) and read only while
 * the multiplexer keeps up (backpressure); and the TLS socket on top of it as the
 * {@linkcode Connection} the multiplexer reads and writes.
 *
 * @module
 */

import type tls from "node:tls";
import { Duplex } from "node:stream";
import type { Connection } from "./mux.ts";

/** Decrypted bytes buffered before the TCP connection is no longer read (backpressure). */
const HIGH_WATER = 1024 * 1024;

/** Time `node:tls` gets to report the end of the stream once TCP ended, in ms. */
const END_GRACE_MS = 1000;

/** A TCP connection as the `Duplex` that `node:tls` runs over, read only while there is room. */
export interface TcpTransport {
  /** The stream `tls.connect({ socket })` reads from and writes to. */
  readonly duplex: Duplex;
  /** Resolves once TCP ended: `null` at a clean end of stream, else the error. */
  readonly ended: Promise<Error | null>;
  /** Stops (`false`) or resumes (`true`) reading from TCP. */
  setFlowing(flowing: boolean): void;
  /** Closes the TCP connection. */
  close(): void;
}

/**
 * Wraps `tcp` as a `Duplex` for `node:tls`. This module reads TCP itself, so its end is always
 * seen, and reads only while the consumer has room ({@linkcode TcpTransport.setFlowing}).
 */
export function tcpTransport(tcp: Deno.TcpConn): TcpTransport {
  let flowing = true;
  let wakeReader: (() => void) | null = null;
  let closed = false;
  const closeTcp = () => {
    if (closed) return;
    closed = true;
    try {
      tcp.close();
    } catch {
      // already closed
    }
  };
  const duplex = new Duplex({
    read() {},
    write(chunk: Uint8Array, _encoding, callback) {
      writeAll(tcp, chunk).then(() => callback(), (err) => callback(err));
    },
    final(callback) {
      tcp.closeWrite().then(() => callback(), () => callback());
    },
    destroy(err, callback) {
      closeTcp();
      callback(err);
    },
  });
  const ended = (async (): Promise<Error | null> => {
    const buf = new Uint8Array(64 * 1024);
    try {
      while (true) {
        while (!flowing && !closed) await new Promise<void>((r) => wakeReader = r);
        if (closed) return new Error("the connection is closed");
        const n = await tcp.read(buf);
        if (n === null) break;
        duplex.push(buf.slice(0, n));
      }
      duplex.push(null);
      return null;
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      duplex.destroy(error);
      return error;
    }
  })();
  return {
    duplex,
    ended,
    setFlowing(value) {
      flowing = value;
      if (value) {
        const wake = wakeReader;
        wakeReader = null;
        wake?.();
      }
    },
    close() {
      closeTcp();
      const wake = wakeReader;
      wakeReader = null;
      wake?.();
    },
  };
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let o = 0; o < bytes.length;) o += await conn.write(bytes.subarray(o));
}

/** Wraps a connected TLS socket over `transport` as a {@linkcode Connection}. */
export function socketConnection(socket: tls.TLSSocket, transport: TcpTransport): Connection {
  const chunks: Uint8Array[] = [];
  let buffered = 0;
  let ended = false;
  let failure: Error | null = null;
  let wake: (() => void) | null = null;
  let drained: (() => void) | null = null;

  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const release = () => {
    const d = drained;
    drained = null;
    d?.();
  };
  socket.setNoDelay(true);
  socket.on("data", (data: Uint8Array) => {
    chunks.push(data);
    buffered += data.length;
    if (buffered >= HIGH_WATER) transport.setFlowing(false);
    notify();
  });
  socket.on("end", () => {
    ended = true;
    notify();
  });
  socket.on("close", () => {
    ended = true;
    notify();
    release();
  });
  socket.on("error", (err: Error) => {
    failure ??= err;
    notify();
    release();
  });
  socket.on("drain", release);
  // Once TCP ended, node:tls has a moment to deliver the last bytes and say so; after that the
  // connection counts as ended whatever it said, so no read waits forever.
  transport.ended.then((err) => {
    const timer = setTimeout(() => {
      if (err !== null) failure ??= err;
      ended = true;
      notify();
      release();
    }, END_GRACE_MS);
    Deno.unrefTimer(timer);
  });

  return {
    async read(p) {
      while (chunks.length === 0) {
        if (failure !== null) throw failure;
        if (ended) return null;
        await new Promise<void>((r) => wake = r);
      }
      let n = 0;
      while (chunks.length > 0 && n < p.length) {
        const chunk = chunks[0];
        const take = Math.min(chunk.length, p.length - n);
        p.set(chunk.subarray(0, take), n);
        n += take;
        if (take === chunk.length) chunks.shift();
        else chunks[0] = chunk.subarray(take);
      }
      buffered -= n;
      if (buffered < HIGH_WATER) transport.setFlowing(true);
      return n;
    },
    async write(p) {
      if (failure !== null) throw failure;
      if (socket.destroyed) throw new Error("the connection is closed");
      // A copy: callers reuse their buffers once write resolves, node may still hold them.
      if (!socket.write(p.slice())) {
        await new Promise<void>((r) => drained = r);
        if (failure !== null) throw failure;
        if (socket.destroyed) throw new Error("the connection closed");
      }
      return p.length;
    },
    close() {
      socket.destroy();
      transport.close();
      ended = true;
      notify();
      release();
    },
  };
}
