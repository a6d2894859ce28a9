/**
 * The ceiling for ferry's transfers: a minimal Deno TLS sender/receiver pair that moves the same
 * bytes with 256 KiB writes, one reused buffer, and nothing else (no framing, no hashing, no
 * fsync).
 *
 * ```sh
 * C="deno run --allow-net=127.0.0.1 --allow-read --allow-write bench/harness/ceiling.ts"
 * # the server side: sends --file to a `get`, stores a `put` in --out-dir
 * $C serve --cert server.pem --key server-key.pem \
 *   [--host 127.0.0.1] [--port 0] [--file BIG] [--bytes N] [--out-dir DIR|-]
 * # the client side, one transfer per run:
 * $C get --port P --ca ca.pem --out PATH|-
 * $C put --port P --ca ca.pem (--file PATH | --bytes N)
 * ```
 *
 * `serve` prints `ceiling listening on HOST:PORT` on stderr. With `--bytes` instead of `--file`,
 * and `-` as the output, no disk is involved (the transport's own ceiling). The client sends one
 * byte, `g` or `p`; a `put` ends with the client half-closing and the server answering one byte
 * once everything is written, so the time a client measures covers the data reaching the other
 * side's file. `--fsync` (on `serve`, or on the client for one transfer) makes the receiving side
 * fsync its file before it finishes, as ferry does.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { closeQuietly } from "./process.ts";

/** Size of every write and read. */
export const IO_SIZE = 256 * 1024;

async function writeAll(w: { write(p: Uint8Array): Promise<number> }, p: Uint8Array) {
  let o = 0;
  while (o < p.length) o += await w.write(p.subarray(o));
}

/** Sends a file (or `bytes` zero bytes) to `conn` in IO_SIZE writes; returns the count. */
async function sendData(conn: Deno.Conn, file: string | undefined, bytes: number) {
  const buf = new Uint8Array(IO_SIZE);
  let sent = 0;
  if (file === undefined) {
    while (sent < bytes) {
      const n = Math.min(IO_SIZE, bytes - sent);
      await writeAll(conn, buf.subarray(0, n));
      sent += n;
    }
    return sent;
  }
  using f = await Deno.open(file, { read: true });
  while (true) {
    let filled = 0;
    while (filled < IO_SIZE) {
      const n = await f.read(buf.subarray(filled));
      if (n === null) break;
      filled += n;
    }
    if (filled === 0) break;
    await writeAll(conn, buf.subarray(0, filled));
    sent += filled;
    if (filled < IO_SIZE) break;
  }
  return sent;
}

/**
 * Reads `conn` to its end into `out` (a path, or `-` to discard) with one reused buffer.
 * A TLS read returns at most one record (16 KiB), so reads are gathered into IO_SIZE writes.
 */
async function receiveData(conn: Deno.Conn, out: string, fsync: boolean): Promise<number> {
  const buf = new Uint8Array(IO_SIZE);
  let file: Deno.FsFile | null = null;
  if (out !== "-") file = await Deno.open(out, { write: true, create: true, truncate: true });
  let received = 0;
  let fill = 0;
  try {
    while (true) {
      const n = await conn.read(buf.subarray(fill));
      if (n === null) break;
      fill += n;
      received += n;
      if (fill === IO_SIZE) {
        if (file !== null) await writeAll(file, buf);
        fill = 0;
      }
    }
    if (file !== null && fill > 0) await writeAll(file, buf.subarray(0, fill));
    if (file !== null && fsync) await file.sync();
  } finally {
    file?.close();
  }
  return received;
}

async function serve(values: Record<string, string | boolean | undefined>): Promise<void> {
  const cert = await Deno.readTextFile(String(values.cert));
  const key = await Deno.readTextFile(String(values.key));
  const listener = Deno.listenTls({
    hostname: String(values.host ?? "127.0.0.1"),
    port: Number(values.port ?? 0),
    cert,
    key,
  });
  const addr = listener.addr as Deno.NetAddr;
  console.error(`ceiling listening on ${addr.hostname}:${addr.port}`);
  const file = values.file as string | undefined;
  const bytes = Number(values.bytes ?? 0);
  const outDir = String(values["out-dir"] ?? "-");
  const fsync = values.fsync === true;
  for await (const conn of listener) {
    (async () => {
      try {
        const op = new Uint8Array(1);
        if ((await conn.read(op)) !== 1) return;
        if (op[0] === 0x67) { // g
          await sendData(conn, file, bytes);
        } else if (op[0] === 0x70 || op[0] === 0x50) { // p, or P to fsync
          const out = outDir === "-" ? "-" : `${outDir}/ceiling-put`;
          await receiveData(conn, out, fsync || op[0] === 0x50);
          await writeAll(conn, new Uint8Array([1]));
        }
      } catch (err) {
        console.error(`ceiling: ${err instanceof Error ? err.message : err}`);
      } finally {
        closeQuietly(conn);
      }
    })();
  }
}

async function client(
  command: "get" | "put",
  values: Record<string, string | boolean | undefined>,
): Promise<void> {
  const ca = await Deno.readTextFile(String(values.ca));
  const hostname = String(values.host ?? "127.0.0.1");
  const started = performance.now();
  const tcp = await Deno.connect({ hostname, port: Number(values.port) });
  tcp.setNoDelay(true);
  const conn = await Deno.startTls(tcp, { hostname, caCerts: [ca] });
  let bytes: number;
  if (command === "get") {
    await writeAll(conn, new Uint8Array([0x67]));
    bytes = await receiveData(conn, String(values.out ?? "-"), values.fsync === true);
  } else {
    await writeAll(conn, new Uint8Array([values.fsync === true ? 0x50 : 0x70]));
    bytes = await sendData(
      conn,
      values.file as string | undefined,
      Number(values.bytes ?? 0),
    );
    await conn.closeWrite();
    const ack = new Uint8Array(1);
    if ((await conn.read(ack)) !== 1) throw new Error("the server did not confirm the put");
  }
  conn.close();
  const ms = performance.now() - started;
  console.log(JSON.stringify({ op: command, bytes, ms, mbps: bytes / 1e6 / (ms / 1000) }));
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      host: { type: "string" },
      port: { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
      ca: { type: "string" },
      file: { type: "string" },
      bytes: { type: "string" },
      out: { type: "string" },
      "out-dir": { type: "string" },
      fsync: { type: "boolean", default: false },
    },
  });
  const command = positionals[0];
  if (command === "serve") await serve(values);
  else if (command === "get" || command === "put") await client(command, values);
  else {
    console.error("usage: ceiling.ts serve|get|put [options] (see the module comment)");
    Deno.exit(2);
  }
}
