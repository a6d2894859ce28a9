/**
 * Local files the benchmark makes and checks.
 *
 * @module
 */

/** MiB. */
export const MiB = 1024 * 1024;

/** Whether anything exists at `path` (a dangling link counts). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** `size` random bytes. */
export function randomBytes(size: number): Uint8Array {
  const b = new Uint8Array(size);
  for (let o = 0; o < size; o += 65536) crypto.getRandomValues(b.subarray(o, o + 65536));
  return b;
}

/**
 * Writes `size` bytes made of `block` repeated (each copy's first 4 bytes are its index, so no
 * two blocks are equal), unless a file of that size is there already.
 */
export async function makeFile(path: string, size: number, block: Uint8Array): Promise<void> {
  if ((await Deno.stat(path).catch(() => null))?.size === size) return;
  using f = await Deno.open(path, { write: true, create: true, truncate: true });
  const b = block.slice();
  let written = 0;
  for (let n = 0; written < size; n++) {
    new DataView(b.buffer).setUint32(0, n);
    const part = b.subarray(0, Math.min(b.length, size - written));
    let o = 0;
    while (o < part.length) o += await f.write(part.subarray(o));
    written += part.length;
  }
}

/** Regular files below `dir`, at any depth. */
export async function countFiles(dir: string): Promise<number> {
  let n = 0;
  for await (const e of Deno.readDir(dir)) {
    n += e.isDirectory ? await countFiles(`${dir}/${e.name}`) : 1;
  }
  return n;
}

/** Throws unless `dir` holds `expect` files at any depth. */
export async function expectFiles(dir: string, expect: number): Promise<void> {
  const n = await countFiles(dir);
  if (n !== expect) throw new Error(`${dir} holds ${n} files, expected ${expect}`);
}
