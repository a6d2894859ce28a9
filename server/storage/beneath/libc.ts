/**
 * The C library calls this layer needs, opened with `Deno.dlopen` (Linux, glibc), with the
 * constants of the two architectures Deno ships for (x86_64, aarch64).
 *
 * Calling conventions:
 * - Every *sync* wrapper returns the C result when it is not negative, and `-errno` when the
 *   call failed, read right after the call on the same thread. A {@linkcode Libc} therefore
 *   belongs to the thread (main or Worker) that opened it.
 * - The *nonblocking* symbols (file data, fsync, close) run on Deno's blocking thread pool, so a
 *   slow disk never stalls the event loop. Their errno is set on that pool thread and cannot be
 *   read here; callers that need it repeat the (idempotent) call synchronously, see
 *   `file.ts`.
 * - Path arguments are encoded into scratch buffers owned by the instance; this is safe because
 *   only sync calls take paths and JavaScript runs them one at a time.
 *
 * @module
 */

/** Open flags that differ between architectures. */
interface ArchFlags {
  readonly O_DIRECTORY: number;
}

const ARCH_FLAGS: Readonly<Record<string, ArchFlags>> = {
  x86_64: { O_DIRECTORY: 0o200000 },
  aarch64: { O_DIRECTORY: 0o40000 },
};

/** The open flags used here, for the running architecture (`O_*` of `open(2)`). */
export interface OpenFlags {
  /** Read only. */
  readonly O_RDONLY: number;
  /** Write only. */
  readonly O_WRONLY: number;
  /** Read and write. */
  readonly O_RDWR: number;
  /** Create if missing. */
  readonly O_CREAT: number;
  /** With `O_CREAT`: fail with EEXIST if the name exists (never follows a symlink). */
  readonly O_EXCL: number;
  /** Never become the controlling terminal. */
  readonly O_NOCTTY: number;
  /** Opening a FIFO does not wait for a writer. */
  readonly O_NONBLOCK: number;
  /** Fail unless the result is a directory. */
  readonly O_DIRECTORY: number;
  /** Close on exec (subprocesses never inherit the descriptor). */
  readonly O_CLOEXEC: number;
  /** A location-only descriptor: enough for `*at` calls and `fstat`, no reads or writes. */
  readonly O_PATH: number;
}

/** `RESOLVE_*` flags of `openat2(2)`. */
export const RESOLVE = {
  /** Refuse to cross mount points. */
  NO_XDEV: 0x01,
  /** Refuse procfs magic links (`/proc/self/fd/N`). */
  NO_MAGICLINKS: 0x02,
  /** Refuse every symbolic link, the final component included (fails with ELOOP). */
  NO_SYMLINKS: 0x04,
  /** Refuse any resolution that leaves the directory descriptor (fails with EXDEV). */
  BENEATH: 0x08,
} as const;

/** `AT_*` flags. */
export const AT = {
  /** The directory argument of `*at` calls meaning "the current directory". */
  FDCWD: -100,
  /** Do not follow a final symbolic link. */
  SYMLINK_NOFOLLOW: 0x100,
  /** `unlinkat`: remove a directory. */
  REMOVEDIR: 0x200,
  /** An empty path means the descriptor itself. */
  EMPTY_PATH: 0x1000,
} as const;

/** `renameat2(2)` flags. */
export const RENAME = {
  /** Fail with EEXIST instead of replacing the target. */
  NOREPLACE: 1,
  /** Atomically exchange the two names. */
  EXCHANGE: 2,
} as const;

/** `statx(2)` mask asking for the basic fields (type, mode, nlink, ids, times, ino, size...). */
export const STATX_BASIC_STATS = 0x7ff;

/** `futimens(2)` nanosecond value meaning "leave this time as it is". */
export const UTIME_OMIT = (1 << 30) - 2;

/** Size of `struct statx`. */
export const STATX_SIZE = 256;

/** Longest path handed to the kernel, with its NUL (`PATH_MAX`). */
const PATH_MAX = 4096;

/** System call number of `openat2`: the same on every Linux architecture (added in 5.6). */
const SYS_OPENAT2 = 437n;

/** Size of `struct open_how`: flags, mode and resolve, three u64. */
const OPEN_HOW_SIZE = 24;
const OPEN_HOW_SIZE_ARG = 24n;

const SYMBOLS = {
  __errno_location: { parameters: [], result: "pointer" },
  // Copies errno out: UnsafePointerView needs unscoped --allow-ffi, calls do not.
  memcpy: { parameters: ["buffer", "pointer", "usize"], result: "pointer" },
  // long syscall(long number, ...): called with the four arguments of openat2. Linux x86_64
  // and aarch64 pass variadic integer arguments in the same registers as fixed ones.
  syscall: { parameters: ["i64", "i64", "buffer", "buffer", "i64"], result: "i64" },
  statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
  mkdirat: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  unlinkat: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  renameat2: { parameters: ["i32", "buffer", "i32", "buffer", "u32"], result: "i32" },
  readlinkat: { parameters: ["i32", "buffer", "buffer", "usize"], result: "isize" },
  getdents64: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  futimens: { parameters: ["i32", "buffer"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  pread: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
  pwrite: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
  ftruncate: { parameters: ["i32", "i64"], result: "i32" },
  fsync: { parameters: ["i32"], result: "i32" },
  preadAsync: {
    name: "pread",
    parameters: ["i32", "buffer", "usize", "i64"],
    result: "isize",
    nonblocking: true,
  },
  pwriteAsync: {
    name: "pwrite",
    parameters: ["i32", "buffer", "usize", "i64"],
    result: "isize",
    nonblocking: true,
  },
  ftruncateAsync: {
    name: "ftruncate",
    parameters: ["i32", "i64"],
    result: "i32",
    nonblocking: true,
  },
  fsyncAsync: { name: "fsync", parameters: ["i32"], result: "i32", nonblocking: true },
  fdatasyncAsync: { name: "fdatasync", parameters: ["i32"], result: "i32", nonblocking: true },
  closeAsync: { name: "close", parameters: ["i32"], result: "i32", nonblocking: true },
} as const satisfies Deno.ForeignLibraryInterface;

/**
 * The C library's default name, found by the dynamic loader's search path. Give an absolute
 * path instead to run under a scoped `--allow-ffi=/lib/x86_64-linux-gnu/libc.so.6` (Deno
 * matches scopes against the name as given).
 */
export const DEFAULT_LIBC = "libc.so.6";

/**
 * The C library, opened once per thread. Methods named after a C call return its result, or
 * `-errno` on failure.
 */
export class Libc {
  /** Open flags of the running architecture. */
  readonly flags: OpenFlags;
  readonly #lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  readonly #errnoAt: Deno.PointerObject;
  readonly #errnoCopy = new Int32Array(1);
  readonly #errnoBytes = new Uint8Array(this.#errnoCopy.buffer);
  readonly #encoder = new TextEncoder();
  readonly #path1 = new Uint8Array(PATH_MAX);
  readonly #path2 = new Uint8Array(PATH_MAX);
  readonly #how = new BigUint64Array(OPEN_HOW_SIZE / 8);
  readonly #howBytes = new Uint8Array(this.#how.buffer);
  readonly #times = new BigInt64Array(4);
  #refs = 1;

  private constructor(lib: Deno.DynamicLibrary<typeof SYMBOLS>, flags: OpenFlags) {
    this.#lib = lib;
    this.flags = flags;
    const where = lib.symbols.__errno_location();
    if (where === null) throw new Error("__errno_location returned NULL");
    this.#errnoAt = where;
  }

  /**
   * Opens the C library (`path`, default {@linkcode DEFAULT_LIBC}) for the calling thread.
   *
   * @throws {Error} when the platform is not Linux on x86_64 or aarch64, when FFI is not
   * permitted (`--allow-ffi`), or when the library could not be loaded.
   */
  static open(path: string = DEFAULT_LIBC): Libc {
    if (Deno.build.os !== "linux") throw new Error(`not Linux (${Deno.build.os})`);
    const arch = ARCH_FLAGS[Deno.build.arch];
    if (arch === undefined) throw new Error(`unsupported architecture ${Deno.build.arch}`);
    const lib = Deno.dlopen(path, SYMBOLS);
    try {
      return new Libc(lib, {
        O_RDONLY: 0,
        O_WRONLY: 1,
        O_RDWR: 2,
        O_CREAT: 0o100,
        O_EXCL: 0o200,
        O_NOCTTY: 0o400,
        O_NONBLOCK: 0o4000,
        O_CLOEXEC: 0o2000000,
        O_PATH: 0o10000000,
        ...arch,
      });
    } catch (err) {
      lib.close();
      throw err;
    }
  }

  /**
   * Counts one more user of this instance (an open file or directory); each calls
   * {@linkcode Libc.release} once when done.
   */
  retain(): void {
    if (this.#refs === 0) throw new Error("the C library was already unloaded");
    this.#refs++;
  }

  /** Drops one user; the last one unloads the library, which must not be used afterwards. */
  release(): void {
    if (this.#refs === 0) return;
    if (--this.#refs === 0) this.#lib.close();
  }

  /** The calling thread's errno, as left by the last sync call. */
  #lastErrno(): number {
    this.#lib.symbols.memcpy(this.#errnoBytes, this.#errnoAt, 4n);
    return this.#errnoCopy[0];
  }

  #result(n: number | bigint): number {
    const value = Number(n);
    return value < 0 ? -this.#lastErrno() : value;
  }

  /** Encodes `path` NUL-terminated into `scratch`; `-ENAMETOOLONG` when it does not fit. */
  #cstring(path: string, scratch: Uint8Array): Uint8Array | number {
    const { read, written } = this.#encoder.encodeInto(path, scratch.subarray(0, PATH_MAX - 1));
    if (read !== path.length) return -ERRNO_ENAMETOOLONG;
    scratch[written] = 0;
    return scratch;
  }

  /** `openat2(dirfd, path, {flags, mode, resolve})`: a descriptor, or `-errno`. */
  openat2(dirfd: number, path: string, flags: number, mode: number, resolve: number): number {
    const p = this.#cstring(path, this.#path1);
    if (typeof p === "number") return p;
    this.#how[0] = BigInt(flags);
    this.#how[1] = BigInt(mode);
    this.#how[2] = BigInt(resolve);
    return this.#result(
      this.#lib.symbols.syscall(SYS_OPENAT2, BigInt(dirfd), p, this.#howBytes, OPEN_HOW_SIZE_ARG),
    );
  }

  /** `statx(dirfd, path, flags, mask, out)`: 0 or `-errno`; `out` must hold {@linkcode STATX_SIZE} bytes. */
  statx(dirfd: number, path: string, flags: number, mask: number, out: Uint8Array): number {
    const p = this.#cstring(path, this.#path1);
    if (typeof p === "number") return p;
    return this.#result(this.#lib.symbols.statx(dirfd, p, flags, mask, out));
  }

  /**
   * `statx` of a name given as raw bytes (a directory entry whose name is not valid UTF-8),
   * relative to `dirfd`: 0 or `-errno`.
   */
  statxBytes(
    dirfd: number,
    name: Uint8Array,
    flags: number,
    mask: number,
    out: Uint8Array,
  ): number {
    if (name.length >= PATH_MAX || name.includes(0)) return -ERRNO_ENAMETOOLONG;
    this.#path1.set(name);
    this.#path1[name.length] = 0;
    return this.#result(this.#lib.symbols.statx(dirfd, this.#path1, flags, mask, out));
  }

  /** `mkdirat(dirfd, name, mode)`: 0 or `-errno`. */
  mkdirat(dirfd: number, name: string, mode: number): number {
    const p = this.#cstring(name, this.#path1);
    if (typeof p === "number") return p;
    return this.#result(this.#lib.symbols.mkdirat(dirfd, p, mode));
  }

  /** `unlinkat(dirfd, name, flags)`: 0 or `-errno`. */
  unlinkat(dirfd: number, name: string, flags: number): number {
    const p = this.#cstring(name, this.#path1);
    if (typeof p === "number") return p;
    return this.#result(this.#lib.symbols.unlinkat(dirfd, p, flags));
  }

  /** `renameat2(fromDir, fromName, toDir, toName, flags)`: 0 or `-errno`. */
  renameat2(fromDir: number, from: string, toDir: number, to: string, flags: number): number {
    const p1 = this.#cstring(from, this.#path1);
    if (typeof p1 === "number") return p1;
    const p2 = this.#cstring(to, this.#path2);
    if (typeof p2 === "number") return p2;
    return this.#result(this.#lib.symbols.renameat2(fromDir, p1, toDir, p2, flags));
  }

  /**
   * `readlinkat(dirfd, name)`: the link's target bytes, or `-errno`. A target that fills
   * `PATH_MAX` is reported as `-ENAMETOOLONG`.
   */
  readlinkat(dirfd: number, name: string): Uint8Array | number {
    const p = this.#cstring(name, this.#path1);
    if (typeof p === "number") return p;
    const n = this.#result(this.#lib.symbols.readlinkat(dirfd, p, this.#path2, BigInt(PATH_MAX)));
    if (n < 0) return n;
    if (n >= PATH_MAX) return -ERRNO_ENAMETOOLONG;
    return this.#path2.slice(0, n);
  }

  /** `getdents64(fd, buf)`: bytes filled (0 at the end), or `-errno`. */
  getdents64(fd: number, buf: Uint8Array): number {
    return this.#result(this.#lib.symbols.getdents64(fd, buf, BigInt(buf.length)));
  }

  /**
   * `futimens(fd, [atime, mtime])`, times in nanoseconds since the epoch; `null` leaves that
   * time unchanged. Returns 0 or `-errno`.
   */
  futimens(fd: number, atimeNs: bigint | null, mtimeNs: bigint | null): number {
    const put = (i: number, ns: bigint | null) => {
      this.#times[i] = ns === null ? 0n : ns / 1_000_000_000n;
      this.#times[i + 1] = ns === null ? BigInt(UTIME_OMIT) : ns % 1_000_000_000n;
    };
    put(0, atimeNs);
    put(2, mtimeNs);
    return this.#result(
      this.#lib.symbols.futimens(fd, new Uint8Array(this.#times.buffer)),
    );
  }

  /** `close(fd)`, synchronously: 0 or `-errno`. */
  close(fd: number): number {
    return this.#result(this.#lib.symbols.close(fd));
  }

  /** `pread` on the calling thread: bytes read or `-errno`. Blocks the event loop. */
  pread(fd: number, buf: Uint8Array, position: number): number {
    return this.#result(this.#lib.symbols.pread(fd, buf, BigInt(buf.length), BigInt(position)));
  }

  /** `pwrite` on the calling thread: bytes written or `-errno`. Blocks the event loop. */
  pwrite(fd: number, buf: Uint8Array, position: number): number {
    return this.#result(this.#lib.symbols.pwrite(fd, buf, BigInt(buf.length), BigInt(position)));
  }

  /** `ftruncate` on the calling thread: 0 or `-errno`. */
  ftruncate(fd: number, length: number): number {
    return this.#result(this.#lib.symbols.ftruncate(fd, BigInt(length)));
  }

  /** `fsync` on the calling thread: 0 or `-errno`. */
  fsync(fd: number): number {
    return this.#result(this.#lib.symbols.fsync(fd));
  }

  /** `pread` on the blocking pool: bytes read, or -1 (errno unknown; see the module doc). */
  async preadAsync(fd: number, buf: Uint8Array, position: number): Promise<number> {
    return Number(
      await this.#lib.symbols.preadAsync(fd, buf, BigInt(buf.length), BigInt(position)),
    );
  }

  /** `pwrite` on the blocking pool: bytes written, or -1 (errno unknown). */
  async pwriteAsync(fd: number, buf: Uint8Array, position: number): Promise<number> {
    return Number(
      await this.#lib.symbols.pwriteAsync(fd, buf, BigInt(buf.length), BigInt(position)),
    );
  }

  /** `ftruncate` on the blocking pool: 0, or -1 (errno unknown). */
  ftruncateAsync(fd: number, length: number): Promise<number> {
    return this.#lib.symbols.ftruncateAsync(fd, BigInt(length));
  }

  /** `fsync` on the blocking pool: 0, or -1 (errno unknown). */
  fsyncAsync(fd: number): Promise<number> {
    return this.#lib.symbols.fsyncAsync(fd);
  }

  /** `fdatasync` on the blocking pool: 0, or -1 (errno unknown). */
  fdatasyncAsync(fd: number): Promise<number> {
    return this.#lib.symbols.fdatasyncAsync(fd);
  }

  /** `close` on the blocking pool (closing the last link of a large file can take a while). */
  closeAsync(fd: number): Promise<number> {
    return this.#lib.symbols.closeAsync(fd);
  }
}

/** ENAMETOOLONG, used for paths that do not fit `PATH_MAX` before any call is made. */
const ERRNO_ENAMETOOLONG = 36;
