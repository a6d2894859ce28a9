/**
 * Where the sending side of a ferry transfer spends its time (the server in a `get`, the client
 * in a `put`): a cost ladder. A peer process receives and discards with one reused buffer; this
 * process sends a page-cache-warm file with one variant at a time, adding one piece of ferry's
 * send path per step (server/handlers/download.ts), and reports MB/s and its own CPU per GiB.
 *
 * ```sh
 * deno run -A bench/experiments/send_ladder.ts [--mib 512] [--reps 3] [--dir /tmp]
 * ```
 *
 * @module
 */

import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import { createDataFrameBuffer, DATA_CHUNK, ID_SIZE } from "../../protocol/messages/mod.ts";
import { encodeHeader, HEADER_SIZE } from "../../protocol/frame.ts";
import { SERVICES } from "../../protocol/services.ts";
import { PROTOCOL_VERSION } from "../../protocol/services.ts";
import { createFrameWriter, writeAll } from "../../protocol/frame_writer.ts";
import { LADDER_OPTIONS, listenPeer, MiB, runLadder, timed } from "./common.ts";

/** The server's batch: four full data frames. */
const CHUNK = 4 * DATA_CHUNK;

async function readFull(file: Deno.FsFile, buf: Uint8Array): Promise<number> {
  let filled = 0;
  while (filled < buf.length) {
    const n = await file.read(buf.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return filled;
}

/** The peer: reads every connection to its end with one reused buffer. */
async function receive(port: number, cert: string, key: string): Promise<void> {
  const listener = await listenPeer(port, cert, key);
  for await (const conn of listener) {
    (async () => {
      const buf = new Uint8Array(256 * 1024);
      try {
        while ((await conn.read(buf)) !== null) { /* discard */ }
        await writeAll(conn, new Uint8Array([1]));
      } finally {
        conn.close();
      }
    })().catch(() => {});
  }
}

interface Variant {
  name: string;
  run(conn: Deno.TlsConn, file: Deno.FsFile): Promise<void>;
}

/** Reads `file` in CHUNK-sized pieces and hands each to `body`. */
async function eachChunk(file: Deno.FsFile, body: (chunk: Uint8Array) => Promise<unknown>) {
  const buf = new Uint8Array(CHUNK);
  while (true) {
    const n = await readFull(file, buf);
    if (n === 0) break;
    await body(buf.subarray(0, n));
  }
}

/** The frames of one chunk, encoded into a reused buffer, after hashing the chunk. */
function framing() {
  const out = createDataFrameBuffer(SERVICES.DOWNLOAD_DATA, CHUNK);
  const h = createHash("sha256");
  return (chunk: Uint8Array) => {
    h.update(chunk);
    return out.frameCopy(1, chunk);
  };
}

const variants: Variant[] = [
  {
    name: "A. file read 256 KiB + TLS write (ceiling)",
    run: (conn, file) => eachChunk(file, (chunk) => writeAll(conn, chunk)),
  },
  {
    name: "B. + SHA-256",
    run(conn, file) {
      const h = createHash("sha256");
      return eachChunk(file, (chunk) => {
        h.update(chunk);
        return writeAll(conn, chunk);
      });
    },
  },
  {
    name: "C. + a data-frame buffer filled by copy (one copy)",
    run(conn, file) {
      const frames = framing();
      return eachChunk(file, (chunk) => writeAll(conn, frames(chunk)));
    },
  },
  {
    name: "D. + FrameWriter.send (= server download loop today)",
    run(conn, file) {
      const writer = createFrameWriter(conn);
      const frames = framing();
      return eachChunk(file, (chunk) => writer.send(frames(chunk)));
    },
  },
  {
    name: "D2. file read straight into the frames (no copy), 16 frames (1 MiB) per write",
    async run(conn, file) {
      const frames = 16;
      const out = new Uint8Array(frames * (HEADER_SIZE + ID_SIZE + DATA_CHUNK));
      const view = new DataView(out.buffer);
      const h = createHash("sha256");
      let done = false;
      while (!done) {
        let dst = 0;
        for (let i = 0; i < frames; i++) {
          const start = dst + HEADER_SIZE + ID_SIZE;
          const n = await readFull(file, out.subarray(start, start + DATA_CHUNK));
          if (n === 0) {
            done = true;
            break;
          }
          encodeHeader(
            {
              ...SERVICES.DOWNLOAD_DATA,
              version: PROTOCOL_VERSION,
              length: ID_SIZE + n,
            },
            out,
            dst,
          );
          view.setUint32(dst + HEADER_SIZE, 1, false);
          h.update(out.subarray(start, start + n));
          dst = start + n;
          if (n < DATA_CHUNK) {
            done = true;
            break;
          }
        }
        if (dst > 0) await writeAll(conn, out.subarray(0, dst));
      }
    },
  },
];

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: LADDER_OPTIONS,
  });
  if (positionals[0] === "receive") {
    await receive(Number(values.port), values.cert!, values.key!);
    return;
  }
  const bytes = Number(values.mib) * MiB;
  const path = `${values.dir}/send-ladder-${Deno.pid}.bin`;
  {
    using f = await Deno.open(path, { write: true, create: true, truncate: true });
    const block = new Uint8Array(MiB);
    for (let o = 0; o < MiB; o += 65536) crypto.getRandomValues(block.subarray(o, o + 65536));
    for (let i = 0; i < bytes / MiB; i++) await writeAll(f, block);
  }
  await new Deno.Command("sync").output();
  await runLadder({
    script: new URL(import.meta.url).pathname,
    peerArgs: ["receive"],
    bytes,
    reps: Number(values.reps),
    title: `sending ${values.mib} MiB per run`,
    rungs: variants,
    startsSeries: (name) => name.startsWith("D2"),
    async sample(v, conn) {
      using file = await Deno.open(path, { read: true });
      return await timed(async () => {
        await v.run(conn, file);
        await conn.closeWrite();
        await conn.read(new Uint8Array(1)); // the peer has everything
      });
    },
    cleanup: () => Deno.remove(path).catch(() => {}),
  });
}

if (import.meta.main) await main();
