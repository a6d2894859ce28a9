/**
 * Lines of data to standard output in large writes: a listing of 100,000 names is a few dozen
 * writes of about 64 KiB, not one `console.log` per line, nor one string of the whole listing.
 *
 * @module
 */

/** Anything with a synchronous `writeSync` like `Deno.stdout`. */
export interface SyncSink {
  /** Writes some of `p`, returning how many bytes were written. */
  writeSync(p: Uint8Array): number;
}

/** Characters gathered before one write. */
export const CHUNK_CHARS = 64 * 1024;

const utf8 = new TextEncoder();

/** Writes all of `bytes` to `sink`, looping over short writes. */
function writeAllSync(sink: SyncSink, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length;) done += sink.writeSync(bytes.subarray(done));
}

/**
 * Writes each of `lines` followed by a newline, gathered into writes of about
 * {@linkcode CHUNK_CHARS} characters, so that memory does not grow with the number of lines.
 * Returns the number of writes.
 */
export function writeLines(lines: Iterable<string>, sink: SyncSink = Deno.stdout): number {
  let chunk: string[] = [];
  let chars = 0;
  let writes = 0;
  const flush = () => {
    writeAllSync(sink, utf8.encode(chunk.join("")));
    writes++;
    chunk = [];
    chars = 0;
  };
  for (const line of lines) {
    chunk.push(line, "\n");
    chars += line.length + 1;
    if (chars >= CHUNK_CHARS) flush();
  }
  if (chars > 0) flush();
  return writes;
}
