/**
 * Frees the file descriptors that closing a `Deno.TlsConn` leaves open.
 *
 * Deno's TLS stream (rustls-tokio-stream) keeps the TCP socket in a background task until the
 * TLS handshake ends, and a close waits to flush what it still holds: so a socket closed
 * before its peer sent a ClientHello, or while the peer is not reading, stays open (measured on
 * Deno 2.9.6: 20 silent sockets closed after `accept`, with or without `handshake()`, kept all
 * 20 descriptors until the peers left). The reaper ends that wait from below: it finds the
 * socket's descriptor by its two addresses (`getsockname`/`getpeername` over the process's
 * descriptors) and calls `shutdown(fd, SHUT_RDWR)`. The background task then reads end of
 * stream, fails, and drops the socket, which closes the descriptor. `shutdown` never closes
 * or reuses a descriptor number, so it cannot hit anything else: only an open socket with the
 * very same local and remote address and port is touched.
 *
 * The descriptors are listed with `open("/proc/self/fd")` and `getdents64` through FFI too
 * (Deno's own `readDir` wants `--allow-all` for that directory). This needs Linux (glibc, on
 * x86_64 or aarch64) and `--allow-ffi` (for the whole process or for the C library's path,
 * found as the race-free storage finds it: `findLibc` of `server/storage/beneath/`); elsewhere
 * {@linkcode createSocketReaper} returns a reaper that does nothing (`active` false), and such
 * sockets stay open until their peer speaks or leaves, as SECURITY.md says.
 *
 * @module
 */

import { expandIpv6 } from "./limits.ts";
import { findLibc } from "./storage/beneath/support.ts";

/** The C library functions the reaper calls. */
const SYMBOLS = {
  open: { parameters: ["buffer", "i32"], result: "i32" },
  getdents64: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** `O_RDONLY | O_DIRECTORY | O_CLOEXEC` on the architectures Deno ships for. */
const OPEN_DIRECTORY: Readonly<Record<string, number>> = {
  x86_64: 0o200000 | 0o2000000,
  aarch64: 0o40000 | 0o2000000,
};
/** The directory listing the process's descriptors, NUL-terminated for `open`. */
const FD_DIRECTORY = new TextEncoder().encode("/proc/self/fd\0");

/** `shutdown(2)`: both directions. */
const SHUT_RDWR = 2;
/** `AF_INET` and `AF_INET6` on Linux. */
const AF_INET = 2;
const AF_INET6 = 10;
/** How long immediate reaps wait to be swept together, in ms. */
const BATCH_MS = 20;

/** Shuts down the sockets of closed TLS connections; see the module documentation. */
export interface SocketReaper {
  /** True when it can act here; false when it does nothing (and why is in `reason`). */
  readonly active: boolean;
  /** Why it is inactive, when it is. */
  readonly reason: string | undefined;
  /**
   * Shuts the socket of `conn` down after `delayMs` (default: as soon as possible, batched
   * with others), unless it is gone by then. Call it with the connection closed, or about to
   * be: the socket is of no use afterwards.
   */
  reap(conn: Deno.Conn, delayMs?: number): void;
  /** Sockets shut down so far. */
  readonly reaped: number;
  /** Stops: pending reaps, delayed ones included, are done at once; later ones are ignored. */
  stop(): void;
}

/** An address and port as the key both sides can compute: hex of the address bytes, port. */
function addrKey(hostname: string, port: number): string | undefined {
  let host = hostname.startsWith("[") ? hostname.slice(1, -1) : hostname;
  const zone = host.indexOf("%");
  if (zone !== -1) host = host.slice(0, zone);
  if (!host.includes(":")) {
    const parts = host.split(".").map(Number);
    if (parts.length !== 4 || parts.some((n) => !(n >= 0 && n <= 255))) return undefined;
    return `${parts.map((n) => n.toString(16).padStart(2, "0")).join("")}/${port}`;
  }
  const groups = expandIpv6(host);
  return groups === undefined
    ? undefined
    : `${groups.map((g) => g.padStart(4, "0")).join("")}/${port}`;
}

/** The key of a `sockaddr` as `getsockname` fills it, or `undefined` for other families. */
function sockaddrKey(sa: Uint8Array, length: number): string | undefined {
  const family = sa[0] | (sa[1] << 8); // sa_family_t is host order (little-endian here)
  const port = (sa[2] << 8) | sa[3];
  const hex = (from: number, to: number) =>
    Array.from(sa.subarray(from, to), (b) => b.toString(16).padStart(2, "0")).join("");
  if (family === AF_INET && length >= 8) return `${hex(4, 8)}/${port}`;
  if (family === AF_INET6 && length >= 24) return `${hex(8, 24)}/${port}`;
  return undefined;
}

/** The key of a connection: its local and remote keys. */
function connKey(conn: Deno.Conn): string | undefined {
  const local = conn.localAddr as Deno.NetAddr;
  const remote = conn.remoteAddr as Deno.NetAddr;
  const l = addrKey(local.hostname, local.port);
  const r = addrKey(remote.hostname, remote.port);
  return l === undefined || r === undefined ? undefined : `${l}>${r}`;
}

/**
 * Why the reaper cannot work here with the C library at `libraryPath`, or `undefined` when it
 * can. FFI may be granted for that path only (the `serve` task's `--allow-ffi=...`).
 */
function unsupported(libraryPath: string): string | undefined {
  if (Deno.build.os !== "linux") return `not Linux (${Deno.build.os})`;
  if (OPEN_DIRECTORY[Deno.build.arch] === undefined) {
    return `unsupported architecture ${Deno.build.arch}`;
  }
  const query: Deno.PermissionDescriptor = libraryPath.includes("/")
    ? { name: "ffi", path: libraryPath }
    : { name: "ffi" };
  if (Deno.permissions.querySync(query).state !== "granted") {
    return "FFI is not permitted (run with --allow-ffi)";
  }
  return undefined;
}

/** The descriptor numbers in a `getdents64` buffer (`linux_dirent64` records). */
function* direntNumbers(buf: Uint8Array, length: number): Generator<number> {
  const view = new DataView(buf.buffer, buf.byteOffset, length);
  for (let at = 0; at + 19 < length;) {
    const reclen = view.getUint16(at + 16, true);
    if (reclen === 0) return;
    let n = 0;
    let digits = 0;
    for (let i = at + 19; i < at + reclen && buf[i] !== 0; i++, digits++) {
      const d = buf[i] - 48;
      if (d < 0 || d > 9) {
        digits = 0;
        break;
      }
      n = n * 10 + d;
    }
    if (digits > 0) yield n;
    at += reclen;
  }
}

/**
 * Creates the reaper of one server. It is inactive (does nothing) where it cannot work; its
 * `reason` says why.
 */
export function createSocketReaper(): SocketReaper {
  const libraryPath = findLibc();
  let reason = unsupported(libraryPath);
  let lib: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;
  if (reason === undefined) {
    try {
      lib = Deno.dlopen(libraryPath, SYMBOLS);
    } catch (err) {
      reason = `cannot load ${libraryPath}: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
  const due = new Set<string>();
  const later = new Map<ReturnType<typeof setTimeout>, string>();
  let batch: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  let reaped = 0;
  const sa = new Uint8Array(128);
  const len = new Uint32Array(1);
  const lenBytes = new Uint8Array(len.buffer);

  const dents = new Uint8Array(32 * 1024);

  /** The process's open descriptors (the one used to list them included). */
  function descriptors(libc: Deno.DynamicLibrary<typeof SYMBOLS>): number[] {
    const dir = libc.symbols.open(FD_DIRECTORY, OPEN_DIRECTORY[Deno.build.arch]);
    if (dir < 0) throw new Error("cannot open /proc/self/fd");
    const fds: number[] = [];
    try {
      while (true) {
        const n = Number(libc.symbols.getdents64(dir, dents, BigInt(dents.length)));
        if (n < 0) throw new Error("cannot list /proc/self/fd");
        if (n === 0) return fds;
        for (const fd of direntNumbers(dents, n)) if (fd !== dir) fds.push(fd);
      }
    } finally {
      libc.symbols.close(dir);
    }
  }

  /** Every open socket of this process by its key. */
  function sockets(libc: Deno.DynamicLibrary<typeof SYMBOLS>): Map<string, number> {
    const found = new Map<string, number>();
    for (const fd of descriptors(libc)) {
      len[0] = sa.length;
      if (libc.symbols.getsockname(fd, sa, lenBytes) !== 0) continue;
      const local = sockaddrKey(sa, len[0]);
      len[0] = sa.length;
      if (local === undefined || libc.symbols.getpeername(fd, sa, lenBytes) !== 0) continue;
      const remote = sockaddrKey(sa, len[0]);
      if (remote !== undefined) found.set(`${local}>${remote}`, fd);
    }
    return found;
  }

  function sweep(): void {
    batch = undefined;
    if (lib === undefined || due.size === 0) return;
    let open: Map<string, number>;
    try {
      open = sockets(lib);
    } catch {
      due.clear();
      return;
    }
    for (const key of due) {
      const fd = open.get(key);
      if (fd !== undefined && lib.symbols.shutdown(fd, SHUT_RDWR) === 0) reaped++;
    }
    due.clear();
  }

  function schedule(key: string): void {
    due.add(key);
    batch ??= setTimeout(sweep, BATCH_MS);
  }

  return {
    get active() {
      return lib !== undefined;
    },
    reason,
    get reaped() {
      return reaped;
    },
    reap(conn, delayMs = 0) {
      if (lib === undefined || stopped) return;
      const key = connKey(conn);
      if (key === undefined) return;
      if (delayMs <= 0) return schedule(key);
      const timer = setTimeout(() => {
        later.delete(timer);
        schedule(key);
      }, delayMs);
      later.set(timer, key);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      for (const [timer, key] of later) {
        clearTimeout(timer);
        due.add(key);
      }
      later.clear();
      clearTimeout(batch);
      sweep();
      lib?.close();
      lib = undefined;
    },
  };
}
