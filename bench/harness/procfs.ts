/**
 * /proc, read and written through one long-running `awk` process.
 *
 * Deno 2 lets nothing short of `--allow-all` open a file under /proc, and the benchmark asks only
 * for the permissions it needs; it does need other processes' CPU time and memory. One helper
 * process answers every request over a pipe, so sampling every 10 ms costs no process start,
 * and no short-lived child is reaped while a client's CPU time is being counted (see
 * {@linkcode childrenCpuSeconds}).
 *
 * @module
 */

import { stopChild, which } from "./process.ts";

/** Ends every answer; a line of its own. */
const END = "\x1e";
/** Stands in for the answer when the file could not be opened. */
const MISSING = "\x1d";

/**
 * The helper: `R PATH` answers the file's lines, or MISSING; `W VALUE PATH` writes VALUE to the
 * file through the shell (an awk redirection that fails would end awk) and answers its status;
 * `T PID` answers the stat line of every thread of PID (/proc/PID/task/TID/stat).
 */
const PROGRAM = `
{
  op = substr($0, 1, 1)
  if (op == "R") {
    path = substr($0, 3)
    while ((r = (getline line < path)) > 0) print line
    if (r < 0) print "\\035"
    close(path)
  } else if (op == "W") {
    print system("printf %s " $2 " > " $3 " 2>/dev/null")
  } else if (op == "T") {
    cmd = "cat /proc/" $2 "/task/*/stat 2>/dev/null"
    while ((cmd | getline line) > 0) print line
    close(cmd)
  }
  print "\\036"
  fflush()
}`;

/** Reads and writes /proc files of any process this user may see. */
export interface Procfs {
  /** The file's text, or null when it cannot be read (e.g. the process is gone). */
  read(path: string): Promise<string | null>;
  /** Writes `value` to the file; false when that was refused. */
  write(path: string, value: string): Promise<boolean>;
  /** The /proc/PID/task/TID/stat lines of every thread of `pid` (none when it is gone). */
  threads(pid: number): Promise<string[]>;
  /** Ends the helper process. */
  close(): Promise<void>;
}

/** Starts the helper process. */
export async function createProcfs(): Promise<Procfs> {
  // mawk (Debian's awk) reads a pipe in blocks unless told otherwise, and would never answer.
  const awk = await which("awk");
  const mawk = awk !== null && (await Deno.realPath(awk)).endsWith("mawk");
  const child = new Deno.Command("awk", {
    args: [...(mawk ? ["-W", "interactive"] : []), PROGRAM],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  const lines = readLines(child.stdout);
  const encoder = new TextEncoder();
  let queue: Promise<unknown> = Promise.resolve();
  const ask = (request: string): Promise<string[]> => {
    const answer = queue.then(async () => {
      await writer.write(encoder.encode(request + "\n"));
      const out: string[] = [];
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer from awk to ${request}`)), 10_000);
      });
      try {
        while (true) {
          const { value, done } = await Promise.race([lines.next(), late]);
          if (done) throw new Error("the /proc helper (awk) exited");
          if (value === END) return out;
          out.push(value);
        }
      } finally {
        clearTimeout(timer);
      }
    });
    queue = answer.catch(() => {});
    return answer;
  };
  const safe = /^[A-Za-z0-9_./-]+$/;
  return {
    async read(path) {
      if (!safe.test(path)) throw new Error(`not a plain path: ${path}`);
      const out = await ask(`R ${path}`);
      return out[0] === MISSING ? null : out.join("\n") + "\n";
    },
    async write(path, value) {
      if (!safe.test(path) || !safe.test(value)) throw new Error(`not plain: ${value} ${path}`);
      const out = await ask(`W ${value} ${path}`);
      return out[0] === "0";
    },
    threads(pid) {
      if (!Number.isSafeInteger(pid) || pid <= 0) throw new Error(`not a process id: ${pid}`);
      return ask(`T ${pid}`);
    },
    async close() {
      await writer.close().catch(() => {});
      await Promise.race([child.status, new Promise((r) => setTimeout(r, 2000))]);
      await stopChild(child, 1000);
    },
  };
}

async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop() ?? "";
    yield* parts;
  }
}

/** Clock ticks per second of /proc/PID/stat times (USER_HZ: 100 on every Linux port). */
const TICKS = 100;

/** CPU seconds (user + system) of a process and of its children it has waited for. */
export interface CpuTimes {
  /** The process's own threads. */
  self: number;
  /** Its children (and theirs) that have exited and been waited for. */
  children: number;
}

/** CPU times of `pid` from /proc/PID/stat, in 10 ms ticks; null when it is gone. */
export async function cpuTimes(procfs: Procfs, pid: number): Promise<CpuTimes | null> {
  const stat = await procfs.read(`/proc/${pid}/stat`);
  if (stat === null) return null;
  // After "pid (comm) ": state is field 3 of stat(5), so utime (14) is at 11, stime 12,
  // cutime 13, cstime 14.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
  return { self: (f[11] + f[12]) / TICKS, children: (f[13] + f[14]) / TICKS };
}

/**
 * CPU seconds (user + system) of each thread name of `pid` (/proc/PID/task/TID/comm, e.g. Deno's
 * `worker-1` for a Worker's isolate, `deno` for the main one), threads of one name added up.
 */
export async function threadCpuSeconds(
  procfs: Procfs,
  pid: number,
): Promise<Map<string, number>> {
  const byName = new Map<string, number>();
  for (const stat of await procfs.threads(pid)) {
    const open = stat.indexOf("(");
    const close = stat.lastIndexOf(")");
    if (open < 0 || close < open) continue;
    const f = stat.slice(close + 2).split(" ").map(Number);
    const name = stat.slice(open + 1, close);
    byName.set(name, (byName.get(name) ?? 0) + (f[11] + f[12]) / TICKS);
  }
  return byName;
}

/**
 * CPU seconds of this process's children that have exited and been waited for. Around one
 * child's run, the difference is that child's CPU time, its own children's included (scp's
 * ssh), provided nothing else exits meanwhile.
 */
export async function childrenCpuSeconds(procfs: Procfs): Promise<number> {
  const t = await cpuTimes(procfs, Deno.pid);
  if (t === null) throw new Error("cannot read this process's /proc/PID/stat");
  return t.children;
}

/** Process ids of the children of `pid`. */
export async function childPids(procfs: Procfs, pid: number): Promise<number[]> {
  const text = await procfs.read(`/proc/${pid}/task/${pid}/children`);
  return text === null ? [] : text.trim().split(/\s+/).filter((s) => s !== "").map(Number);
}

/**
 * CPU seconds of a server and every child it has ended (an sshd's per-connection processes),
 * once it has no child left; null when one is still running after `timeoutMs`.
 */
export async function serverCpuSeconds(
  procfs: Procfs,
  pid: number,
  timeoutMs = 5000,
): Promise<number | null> {
  const deadline = performance.now() + timeoutMs;
  while ((await childPids(procfs, pid)).length > 0) {
    if (performance.now() > deadline) return null;
    await new Promise((r) => setTimeout(r, 10));
  }
  const t = await cpuTimes(procfs, pid);
  return t === null ? null : t.self + t.children;
}

/** A field of /proc/PID/status in bytes (VmRSS, VmHWM); null when it is gone. */
export async function statusBytes(
  procfs: Procfs,
  pid: number,
  field: "VmRSS" | "VmHWM",
): Promise<number | null> {
  const status = await procfs.read(`/proc/${pid}/status`);
  const m = status === null ? null : new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
  return m === null ? null : Number(m[1]) * 1024;
}
