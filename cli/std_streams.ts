/**
 * `-` as standard input (`put - NAME`) and standard output (`get NAME -`), and the device paths
 * that mean them (`/dev/stdout`, `/dev/fd/1`, …): Deno lets a program open those only with
 * `--allow-all`, so they are served from the process's own streams instead. Other `/dev/fd/N`
 * and `/proc/self/fd/N` paths are refused with a clear message.
 *
 * @module
 */

import { FerryError, messageOf } from "../protocol/errors.ts";

const STDIN = new Set(["-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"]);
const STDOUT = new Set(["-", "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"]);
const STDERR = new Set(["/dev/stderr", "/dev/fd/2", "/proc/self/fd/2"]);
const DESCRIPTOR = /^\/(?:dev\/fd|proc\/self\/fd)\/\d+$/;

/** Which standard stream a local path written as a destination means, if any. */
export function outputStream(path: string): "stdout" | "stderr" | null {
  if (STDOUT.has(path)) return "stdout";
  if (STDERR.has(path)) return "stderr";
  refuseDescriptor(path);
  return null;
}

/** Whether a local path written as a source means standard input. */
export function isStdin(path: string): boolean {
  if (STDIN.has(path)) return true;
  refuseDescriptor(path);
  return false;
}

function refuseDescriptor(path: string): void {
  if (DESCRIPTOR.test(path)) {
    throw new FerryError(
      "LOCAL_IO",
      `cannot open ${path}: Deno opens /dev/fd and /proc only with --allow-all; use - and a pipe`,
    );
  }
}

/** Writes everything to `file` (a short write is continued). */
async function writeAll(
  file: { write(p: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  for (let o = 0; o < bytes.length;) o += await file.write(bytes.subarray(o));
}

/** A writable stream onto standard output or error that leaves it open when closed. */
export function outputSink(which: "stdout" | "stderr"): WritableStream<Uint8Array> {
  const file = which === "stdout" ? Deno.stdout : Deno.stderr;
  return new WritableStream({
    async write(chunk) {
      try {
        await writeAll(file, chunk);
      } catch (err) {
        throw new FerryError(
          "LOCAL_IO",
          `standard ${which === "stdout" ? "output" : "error"}: ${messageOf(err)}`,
          { cause: err },
        );
      }
    },
  });
}

/** Standard input as a readable stream. */
export function inputSource(): ReadableStream<Uint8Array> {
  return Deno.stdin.readable;
}
