/**
 * Decoding of Linux `struct statx` (the same layout on every architecture) into a
 * {@linkcode FileStat}. Pure: bytes in, object out.
 *
 * @module
 */

/** What a directory entry is. `"other"` covers FIFOs, sockets and device nodes. */
export type FileKind = "file" | "dir" | "symlink" | "other";

/** The metadata this layer reports, from `statx(2)`. */
export interface FileStat {
  /** What the entry is (for a followed lookup, what the symlink led to). */
  readonly kind: FileKind;
  /** Size in bytes (for a symlink, the length of its target). */
  readonly size: number;
  /** Last modification, in milliseconds since the epoch (fractional part kept). */
  readonly mtimeMs: number;
  /** Last status change, in milliseconds since the epoch. */
  readonly ctimeMs: number;
  /** Device number (major and minor folded as `makedev` does), with `ino` naming the inode. */
  readonly dev: number;
  /** Inode number. */
  readonly ino: number;
  /** Permission bits (`mode & 0o7777`). */
  readonly mode: number;
  /** Number of hard links. */
  readonly nlink: number;
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

/** Kind of a file from the type bits of its mode. */
export function kindOfMode(mode: number): FileKind {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return "file";
    case S_IFDIR:
      return "dir";
    case S_IFLNK:
      return "symlink";
    default:
      return "other";
  }
}

/** Milliseconds of the `struct statx_timestamp` at `offset`. */
function timestampMs(view: DataView, offset: number): number {
  const seconds = Number(view.getBigInt64(offset, true));
  const nanos = view.getUint32(offset + 8, true);
  return seconds * 1000 + nanos / 1e6;
}

/**
 * Decodes a filled `struct statx` (little-endian, as on x86_64 and aarch64).
 *
 * @example Usage
 * ```ts
 * import { decodeStatx } from "./statx.ts";
 * const buf = new Uint8Array(256);
 * new DataView(buf.buffer).setUint16(28, 0o100644, true);
 * decodeStatx(buf).kind; // => "file"
 * ```
 */
export function decodeStatx(buf: Uint8Array): FileStat {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const mode = view.getUint16(28, true);
  const devMajor = view.getUint32(136, true);
  const devMinor = view.getUint32(140, true);
  return {
    kind: kindOfMode(mode),
    size: Number(view.getBigUint64(40, true)),
    mtimeMs: timestampMs(view, 112),
    ctimeMs: timestampMs(view, 96),
    dev: devMajor * 256 + (devMinor & 0xff) + (devMinor >>> 8) * 0x100000,
    ino: Number(view.getBigUint64(32, true)),
    mode: mode & 0o7777,
    nlink: view.getUint32(16, true),
  };
}
