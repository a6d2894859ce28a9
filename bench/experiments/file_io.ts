/**
 * What moving 1 GiB between a file and memory costs in CPU, by the way it is done: the size of
 * each call (64 KiB to 1 MiB), and whether it runs on the calling thread (`readSync`,
 * `writeSync`) or on the runtime's thread pool (`read`, `write`). Each run is its own process;
 * time it from outside, one configuration after another, interleaved:
 *
 * ```sh
 * for size in 1024 256; do for how in async sync; do
 *   rm -f /tmp/io.bin; sync; sleep 3   # the page cache freed a moment before, as in the bench
 *   /usr/bin/time -f "%U %S %e" deno run -A bench/experiments/file_io.ts write $how $size /tmp/io.bin
 * done; done
 * deno run -A bench/experiments/file_io.ts read sync 256 BIG_FILE   # page-cache warm
 * ```
 *
 * `write` writes 1 GiB from two alternating buffers (one write at a time, as the atomic file
 * does), then fsyncs; `read` reads a file to its end into one buffer. Measured on 2026-11-30
 * (BENCHMARKS.md, "The download receiver's write buffers"): 1 MiB writes cost 0.6-3 system
 * CPU-s per GiB against 0.25-0.45 for 256 KiB; pool calls 0.2 (writes) to 0.45 (reads) CPU-s
 * per GiB more than calls on the calling thread.
 *
 * @module
 */

const [op, how, kib, path] = Deno.args;
if (!["read", "write"].includes(op) || !["async", "sync"].includes(how) || path === undefined) {
  console.error("usage: file_io.ts read|write async|sync KIB PATH");
  Deno.exit(2);
}
const size = Number(kib) * 1024;
const total = 1024 ** 3;
const started = performance.now();
let bytes = 0;
if (op === "write") {
  using file = Deno.openSync(path, { write: true, create: true, truncate: true });
  const buffers = [new Uint8Array(size), new Uint8Array(size)];
  for (const b of buffers) crypto.getRandomValues(b.subarray(0, 65536));
  for (let i = 0; bytes < total; i++) {
    const b = buffers[i & 1];
    for (let o = 0; o < b.length;) {
      o += how === "sync" ? file.writeSync(b.subarray(o)) : await file.write(b.subarray(o));
    }
    bytes += b.length;
  }
  await file.sync();
} else {
  using file = Deno.openSync(path, { read: true });
  const buffer = new Uint8Array(size);
  while (true) {
    const n = how === "sync" ? file.readSync(buffer) : await file.read(buffer);
    if (n === null) break;
    bytes += n;
  }
}
console.log(
  `${op} ${how} ${kib} KiB: ${bytes} bytes in ${(performance.now() - started).toFixed(0)} ms`,
);
