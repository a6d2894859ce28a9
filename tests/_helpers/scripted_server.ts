/**
 * A scripted fake ferry server for testing the client against answers a real server would not
 * give (an older server's, a hostile one's): TLS with the test certificates on 127.0.0.1, each
 * frame of each connection handed to a script that writes the answer.
 *
 * @module
 */

import type { Frame } from "../../protocol/frame.ts";
import { readFrames } from "../../protocol/frame_reader.ts";
import { writeAll } from "../../protocol/frame_writer.ts";
import { testCertificates } from "./server.ts";

/** A running scripted server; disposing of it closes the listener and every connection. */
export interface ScriptedServer extends AsyncDisposable {
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** The CA certificate (PEM) that signed its certificate. */
  readonly ca: string;
}

/**
 * Starts a server that calls `answer` with every frame it reads, in order per connection, and a
 * `send` that writes bytes to that connection. A connection ends when its client goes away or
 * `answer` throws.
 */
export async function scriptedServer(
  answer: (frame: Frame, send: (bytes: Uint8Array) => Promise<void>) => Promise<void>,
): Promise<ScriptedServer> {
  const set = await testCertificates();
  const listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert: set.cert, key: set.key });
  const conns = new Set<Deno.Conn>();
  const serving: Promise<void>[] = [];
  const close = (conn: Deno.Conn) => {
    try {
      conn.close();
    } catch {
      // closed
    }
  };

  async function serve(conn: Deno.TlsConn): Promise<void> {
    const send = (bytes: Uint8Array) => writeAll(conn, bytes);
    try {
      for await (const frame of readFrames(conn)) await answer(frame, send);
    } catch {
      // the client went away
    } finally {
      conns.delete(conn);
      close(conn);
    }
  }

  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        conns.add(conn);
        serving.push(serve(conn));
      }
    } catch {
      // closed
    }
  })();

  return {
    port: (listener.addr as Deno.NetAddr).port,
    ca: set.caCert,
    async [Symbol.asyncDispose]() {
      listener.close();
      await accepting;
      for (const conn of conns) close(conn);
      await Promise.allSettled(serving);
    },
  };
}
