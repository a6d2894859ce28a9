/**
 * Where the receiving side of a ferry transfer spends its time (the client in a `get`, the
 * server in a `put`): a cost ladder. A peer process sends the same DOWNLOAD_DATA frames a ferry
 * server sends (four 65,531-byte frames per 256 KiB write, from memory, so it is never the
 * bottleneck); this process receives them with one variant at a time, adding one piece of
 * ferry's receive path per step, and reports MB/s and its own CPU time per GiB.
 *
 * ```sh
 * deno run -A bench/experiments/receive_ladder.ts [--mib 512] [--reps 3] [--dir /tmp]
 * ```
 *
 * The steps use the real modules (protocol/frame_reader.ts, client/local_files.ts, protocol/messages/)
 * read-only; the "fixed" steps use {@linkcode readFramesDirect}, a prototype reader.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import { readFrames } from "../../protocol/frame_reader.ts";
import { decodeHeader, HEADER_SIZE } from "../../protocol/frame.ts";
import {
  createDataFrameBuffer,
  DATA_CHUNK,
  decodeData,
  peekRequestId,
} from "../../protocol/messages/mod.ts";
import { SERVICES } from "../../protocol/services.ts";
import type { Frame } from "../../protocol/frame.ts";
import { openDownloadFile } from "../../client/local_files.ts";
import { LADDER_OPTIONS, listenPeer, MiB, runLadder, timed } from "./common.ts";

const READ_SIZE = 256 * 1024;

/**
 * A frame reader that allocates nothing per read: one scratch buffer is reused for headers and
 * small frames, and a large payload gets an array of its exact size that the rest of it is read
 * into directly (a TLS read returns at most one 16 KiB record, so most of a 64 KiB payload never
 * passes through the scratch buffer). Payloads never alias the scratch buffer.
 */
export async function* readFramesDirect(
  source: { read(p: Uint8Array): Promise<number | null> },
): AsyncGenerator<Frame> {
  const scratch = new Uint8Array(READ_SIZE);
  let start = 0;
  let end = 0;
  while (true) {
    while (end - start < HEADER_SIZE) {
      if (start > 0) {
        scratch.copyWithin(0, start, end);
        end -= start;
        start = 0;
      }
      const n = await source.read(scratch.subarray(end));
      if (n === null) {
        if (end - start > 0) throw new Error("truncated frame");
        return;
      }
      end += n;
    }
    const h = decodeHeader(scratch, start);
    start += HEADER_SIZE;
    const payload = new Uint8Array(h.length);
    const have = Math.min(h.length, end - start);
    payload.set(scratch.subarray(start, start + have));
    start += have;
    let filled = have;
    while (filled < h.length) {
      const n = await source.read(payload.subarray(filled));
      if (n === null) throw new Error("truncated frame");
      filled += n;
    }
    if (start === end) start = end = 0;
    yield { type: h.type, num: h.num, version: h.version, payload };
  }
}

/** The peer: sends `bytes` of DOWNLOAD_DATA frames to every connection, then closes it. */
async function send(port: number, cert: string, key: string, bytes: number): Promise<void> {
  const listener = await listenPeer(port, cert, key);
  const data = new Uint8Array(4 * DATA_CHUNK);
  for (let o = 0; o < data.length; o += 65536) crypto.getRandomValues(data.subarray(o, o + 65536));
  const frames = createDataFrameBuffer(SERVICES.DOWNLOAD_DATA, data.length).frameCopy(1, data);
  for await (const conn of listener) {
    (async () => {
      try {
        await conn.handshake();
        for (let sent = 0; sent < bytes; sent += data.length) {
          let o = 0;
          while (o < frames.length) o += await conn.write(frames.subarray(o));
        }
      } finally {
        conn.close();
      }
    })().catch(() => {});
  }
}

type Sink = (data: Uint8Array) => void | Promise<void>;

/**
 * The client's routing of one download's frames as client/mux.ts and client/download.ts do it:
 * the mux awaits the request wrapper's async onFrame, which awaits the download's async handler.
 */
async function muxLike(frames: AsyncIterable<Frame>, sink: Sink): Promise<number> {
  let bytes = 0;
  const download = async (f: Frame) => {
    if (f.type === SERVICES.DOWNLOAD_DATA.type && f.num === SERVICES.DOWNLOAD_DATA.num) {
      const { data } = decodeData(f.payload);
      bytes += data.length;
      await sink(data);
      return undefined;
    }
    throw new Error("unexpected frame");
  };
  const pending = new Map<number, { onFrame(f: Frame): Promise<void> }>();
  pending.set(1, {
    async onFrame(frame) {
      if (frame.type === SERVICES.ERROR.type && frame.num === SERVICES.ERROR.num) return;
      const value = await download(frame);
      if (value !== undefined) pending.delete(1);
    },
  });
  for await (const frame of frames) {
    const id = peekRequestId(frame.payload);
    const handler = id === undefined ? undefined : pending.get(id);
    if (handler === undefined) continue;
    await handler.onFrame(frame);
  }
  return bytes;
}

/** A 1 MiB write buffer like AtomicFile's, without its hash. */
function bufferedFile(file: Deno.FsFile) {
  const buffer = new Uint8Array(MiB);
  let fill = 0;
  const flush = async () => {
    let o = 0;
    while (o < fill) o += await file.write(buffer.subarray(o, fill));
    fill = 0;
  };
  return {
    write(data: Uint8Array): Promise<void> | void {
      let offset = 0;
      let pending: Promise<void> | undefined;
      while (offset < data.length) {
        const n = Math.min(data.length - offset, MiB - fill);
        buffer.set(data.subarray(offset, offset + n), fill);
        fill += n;
        offset += n;
        if (fill === MiB) {
          // Only a full buffer costs an await; data frames never straddle two flushes here.
          pending = flush();
          if (offset < data.length) return pending.then(() => this.write(data.subarray(offset)));
        }
      }
      return pending;
    },
    flush,
  };
}

interface Variant {
  name: string;
  run(conn: Deno.TlsConn, out: string): Promise<void>;
}

/** The real sink as today: client.ts's hash, then AtomicFile (its own hash, 1 MiB writes). */
async function atomicSink(frames: AsyncIterable<Frame>, out: string, commit: boolean) {
  const file = await openDownloadFile(out);
  const h = createHash("sha256");
  await muxLike(frames, async (data) => {
    h.update(data);
    await file.write(data);
  });
  if (commit) await file.commit();
  else await file.discard();
}

/** One hash and 1 MiB buffered writes, optionally fsynced. */
async function bufferedSink(frames: AsyncIterable<Frame>, out: string, fsync: boolean) {
  using file = await Deno.open(out, { write: true, create: true, truncate: true });
  const w = bufferedFile(file);
  const h = createHash("sha256");
  await muxLike(frames, (data) => {
    h.update(data);
    return w.write(data);
  });
  await w.flush();
  if (fsync) await file.sync();
}

function variants(): Variant[] {
  const hashSink = (n: number): Sink => {
    const hashes = Array.from({ length: n }, () => createHash("sha256"));
    return (data) => {
      for (const h of hashes) h.update(data);
    };
  };
  return [
    {
      name: "A. TLS read, one reused 256 KiB buffer (ceiling)",
      async run(conn) {
        const buf = new Uint8Array(READ_SIZE);
        while ((await conn.read(buf)) !== null) { /* count only */ }
      },
    },
    {
      name: "B. + a fresh 256 KiB buffer per read (the old protocol/reader.ts)",
      async run(conn) {
        while ((await conn.read(new Uint8Array(READ_SIZE))) !== null) { /* count only */ }
      },
    },
    {
      name: "C. readFrames: reader + decoder, frames assembled by copy",
      async run(conn) {
        for await (const _ of readFrames(conn)) { /* count only */ }
      },
    },
    {
      name: "D. + mux routing, two awaited async handlers per frame",
      async run(conn) {
        await muxLike(readFrames(conn), () => {});
      },
    },
    {
      name: "E. + SHA-256 of the data (client.ts)",
      async run(conn) {
        await muxLike(readFrames(conn), hashSink(1));
      },
    },
    {
      name: "F. + a second SHA-256 (AtomicFile hashes again)",
      async run(conn) {
        await muxLike(readFrames(conn), hashSink(2));
      },
    },
    {
      name: "G. real sink: client.ts hash + AtomicFile.write (hash, 1 MiB writes)",
      run: (conn, out) => atomicSink(readFrames(conn), out, false),
    },
    {
      name: "H. + commit: fsync and rename (= ferry get today, in-process)",
      run: (conn, out) => atomicSink(readFrames(conn), out, true),
    },
    {
      name: "C2. readFramesDirect: reused scratch, payload read in place",
      async run(conn) {
        for await (const _ of readFramesDirect(conn)) { /* count only */ }
      },
    },
    {
      name: "D2. C2 + mux routing as today",
      async run(conn) {
        await muxLike(readFramesDirect(conn), () => {});
      },
    },
    {
      name: "G1. C2 + mux + the real sink as today (two hashes, AtomicFile)",
      run: (conn, out) => atomicSink(readFramesDirect(conn), out, false),
    },
    {
      name: "G2. C2 + mux + one hash + 1 MiB buffered writes (no second hash)",
      run: (conn, out) => bufferedSink(readFramesDirect(conn), out, false),
    },
    {
      name: "H2. G2 + fsync",
      run: (conn, out) => bufferedSink(readFramesDirect(conn), out, true),
    },
  ];
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      ...LADDER_OPTIONS,
      only: { type: "string" },
    },
  });
  // Rounded to whole 4-frame batches, as the peer sends them.
  const bytes = Math.ceil(Number(values.mib) * MiB / (4 * DATA_CHUNK)) * 4 * DATA_CHUNK;
  if (positionals[0] === "send") {
    await send(Number(values.port), values.cert!, values.key!, bytes);
    return;
  }
  const out = `${values.dir}/receive-ladder-${Deno.pid}.bin`;
  await runLadder({
    script: new URL(import.meta.url).pathname,
    peerArgs: ["send", "--mib", values.mib],
    bytes,
    reps: Number(values.reps),
    title: `receiving ${(bytes / MiB).toFixed(0)} MiB per run`,
    rungs: variants().filter((v) => !values.only || v.name.startsWith(values.only)),
    startsSeries: (name) => name.startsWith("C2") || name.startsWith("G1"),
    async sample(v, conn) {
      await Deno.remove(out).catch(() => {});
      await new Deno.Command("sync").output();
      return await timed(() => v.run(conn, out));
    },
    async cleanup() {
      await Deno.remove(out).catch(() => {});
      await Deno.remove(`${values.dir}/.receive-ladder-${Deno.pid}.bin.ferry-partial`).catch(
        () => {},
      );
    },
  });
}

if (import.meta.main) await main();
