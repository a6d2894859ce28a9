/**
 * A TCP relay that delays every byte by a fixed time in each direction, standing in for a
 * long-distance link where the kernel has no netem:
 *
 * ```sh
 * deno run --allow-net=127.0.0.1 bench/harness/delay_proxy.ts --listen 127.0.0.1:0 --target 127.0.0.1:4433 \
 *   [--delay-ms 25] [--window-mib 16]
 * ```
 *
 * It prints `delay_proxy listening on HOST:PORT` on stdout once it accepts connections, and
 * relays each connection to `--target`. Bytes read from one side are written to the other
 * `--delay-ms` later (so a request/answer round trip costs twice the delay), in order and without
 * throttling the rate. At most `--window-mib` MiB wait in each direction; past that it stops
 * reading, as a TCP window of about twice that size would over a round trip of twice the delay
 * (Linux here autotunes receive windows up to net.ipv4.tcp_rmem's maximum, 32 MiB).
 *
 * What it does not model: loss, TCP slow start on the long leg (both legs it joins are
 * loopback), and a bandwidth limit.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { closeQuietly } from "./process.ts";

interface Chunk {
  due: number;
  data: Uint8Array;
}

const READ_SIZE = 256 * 1024;

function hostPort(value: string): { hostname: string; port: number } {
  const i = value.lastIndexOf(":");
  if (i < 0) throw new Error(`expected HOST:PORT, got ${value}`);
  return { hostname: value.slice(0, i), port: Number(value.slice(i + 1)) };
}

/** Relays `from` to `to` with a delay; half-closes `to` when `from` ends. */
async function pump(
  from: Deno.Conn,
  to: Deno.Conn,
  delayMs: number,
  windowBytes: number,
): Promise<void> {
  const queue: Chunk[] = [];
  let queued = 0;
  let ended = false;
  let failed = false;
  let wakeWriter: (() => void) | null = null;
  let wakeReader: (() => void) | null = null;
  const poke = (which: "reader" | "writer") => {
    const wake = which === "reader" ? wakeReader : wakeWriter;
    if (which === "reader") wakeReader = null;
    else wakeWriter = null;
    wake?.();
  };

  const reader = (async () => {
    try {
      while (!failed) {
        while (queued >= windowBytes && !failed) {
          await new Promise<void>((r) => wakeReader = r);
        }
        const buf = new Uint8Array(READ_SIZE);
        const n = await from.read(buf);
        if (n === null) break;
        queue.push({ due: performance.now() + delayMs, data: buf.subarray(0, n) });
        queued += n;
        poke("writer");
      }
    } catch {
      // reset by the peer: treated as its end
    }
    ended = true;
    poke("writer");
  })();

  const writer = (async () => {
    try {
      while (true) {
        if (queue.length === 0) {
          if (ended) break;
          await new Promise<void>((r) => wakeWriter = r);
          continue;
        }
        const wait = queue[0].due - performance.now();
        if (wait > 0) {
          await new Promise((r) => setTimeout(r, Math.ceil(wait)));
          continue;
        }
        // Everything that is due goes out in one write.
        const now = performance.now();
        let count = 0;
        let size = 0;
        while (count < queue.length && queue[count].due <= now && size < 1 << 20) {
          size += queue[count++].data.length;
        }
        let out = queue[0].data;
        if (count > 1) {
          out = new Uint8Array(size);
          let o = 0;
          for (let i = 0; i < count; i++) {
            out.set(queue[i].data, o);
            o += queue[i].data.length;
          }
        }
        queue.splice(0, count);
        let o = 0;
        while (o < out.length) o += await to.write(out.subarray(o));
        queued -= size;
        poke("reader");
      }
      await to.closeWrite().catch(() => {});
    } catch {
      failed = true;
      poke("reader");
      closeQuietly(from);
    }
  })();
  await Promise.all([reader, writer]);
}

async function relay(
  client: Deno.TcpConn,
  target: { hostname: string; port: number },
  delayMs: number,
  windowBytes: number,
): Promise<void> {
  let server: Deno.TcpConn;
  try {
    server = await Deno.connect(target);
  } catch {
    client.close();
    return;
  }
  client.setNoDelay(true);
  server.setNoDelay(true);
  await Promise.all([
    pump(client, server, delayMs, windowBytes),
    pump(server, client, delayMs, windowBytes),
  ]);
  closeQuietly(client);
  closeQuietly(server);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      listen: { type: "string", default: "127.0.0.1:0" },
      target: { type: "string" },
      "delay-ms": { type: "string", default: "25" },
      "window-mib": { type: "string", default: "16" },
    },
  });
  if (values.target === undefined) throw new Error("--target HOST:PORT is required");
  const target = hostPort(values.target);
  const delayMs = Number(values["delay-ms"]);
  const windowBytes = Number(values["window-mib"]) * 1024 * 1024;
  const listener = Deno.listen(hostPort(values.listen));
  const addr = listener.addr as Deno.NetAddr;
  console.log(`delay_proxy listening on ${addr.hostname}:${addr.port}`);
  for await (const conn of listener) {
    relay(conn, target, delayMs, windowBytes).catch(() => {});
  }
}

if (import.meta.main) await main();
