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
import {
  connectTls,
  medianSample,
  MiB,
  row,
  ROW_HEADER,
  type Sample,
  startPeer,
  timed,
  tlsFiles,
} from "./common.ts";

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
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port,
    cert: await Deno.readTextFile(cert),
    key: await Deno.readTextFile(key),
  });
  console.log(`ready ${(listener.addr as Deno.NetAddr).port}`);
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

const variants: Variant[] = [
  {
    name: "A. file read 256 KiB + TLS write (ceiling)",
    async run(conn, file) {
      const buf = new Uint8Array(CHUNK);
      while (true) {
        const n = await readFull(file, buf);
        if (n === 0) break;
        await writeAll(conn, buf.subarray(0, n));
      }
    },
  },
  {
    name: "B. + SHA-256",
    async run(conn, file) {
      const buf = new Uint8Array(CHUNK);
      const h = createHash("sha256");
      while (true) {
        const n = await readFull(file, buf);
        if (n === 0) break;
        h.update(buf.subarray(0, n));
        await writeAll(conn, buf.subarray(0, n));
      }
    },
  },
  {
    name: "C. + a data-frame buffer filled by copy (one copy)",
    async run(conn, file) {
      const buf = new Uint8Array(CHUNK);
      const out = createDataFrameBuffer(SERVICES.DOWNLOAD_DATA, CHUNK);
      const h = createHash("sha256");
      while (true) {
        const n = await readFull(file, buf);
        if (n === 0) break;
        h.update(buf.subarray(0, n));
        await writeAll(conn, out.frameCopy(1, buf.subarray(0, n)));
      }
    },
  },
  {
    name: "D. + FrameWriter.send (= server download loop today)",
    async run(conn, file) {
      const writer = createFrameWriter(conn);
      const buf = new Uint8Array(CHUNK);
      const out = createDataFrameBuffer(SERVICES.DOWNLOAD_DATA, CHUNK);
      const h = createHash("sha256");
      while (true) {
        const n = await readFull(file, buf);
        if (n === 0) break;
        h.update(buf.subarray(0, n));
        await writer.send(out.frameCopy(1, buf.subarray(0, n)));
      }
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
    options: {
      mib: { type: "string", default: "512" },
      reps: { type: "string", default: "3" },
      dir: { type: "string", default: "/tmp" },
      port: { type: "string", default: "0" },
      cert: { type: "string" },
      key: { type: "string" },
    },
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
  const tls = await tlsFiles();
  const peer = await startPeer(new URL(import.meta.url).pathname, [
    "receive",
    "--cert",
    tls.cert,
    "--key",
    tls.key,
  ]);
  const reps = Number(values.reps);
  console.log(`sending ${values.mib} MiB per run, median of ${reps}\n`);
  console.log(ROW_HEADER);
  let previous: Sample | undefined;
  try {
    for (const v of variants) {
      const samples: Sample[] = [];
      for (let r = 0; r < reps; r++) {
        const conn = await connectTls(peer.port, await Deno.readTextFile(tls.ca));
        using file = await Deno.open(path, { read: true });
        samples.push(
          await timed(async () => {
            await v.run(conn, file);
            await conn.closeWrite();
            await conn.read(new Uint8Array(1)); // the peer has everything
          }),
        );
        conn.close();
      }
      const s = medianSample(samples);
      console.log(row(v.name, bytes, s, v.name.startsWith("D2") ? undefined : previous));
      previous = s;
    }
  } finally {
    peer.child.kill();
    await peer.child.status;
    await Deno.remove(path).catch(() => {});
    await Deno.remove(tls.dir, { recursive: true });
  }
}

if (import.meta.main) await main();
