/**
 * `deno task bench`: ferry against OpenSSH's scp and sftp, and against a bare TLS ceiling, on
 * this machine, in one run. See BENCHMARKS.md for what is measured and the latest results.
 *
 * It prepares data in a temporary directory, starts a ferry server, an sshd of its own (with its
 * own host key, user key and config; `apt-get install openssh-server` when it is missing), the
 * ceiling server (bench/ceiling.ts) and delay relays (bench/delay_proxy.ts), all on 127.0.0.1,
 * then times each operation as the wall time of one client process (the servers already
 * running). Outputs are deleted and `sync` is run between operations, outside the timings, so
 * no operation pays for another's dirty pages.
 *
 * Environment (all optional):
 *
 * | variable | default | meaning |
 * | --- | --- | --- |
 * | BENCH_QUICK=1 | | small sizes and 2 repetitions, for a smoke run (about a minute) |
 * | BENCH_REPS | 3 | repetitions of each loopback measurement |
 * | BENCH_BIG_MIB | 1024 | size of the big file |
 * | BENCH_FILES, BENCH_FILE_KIB | 1000, 4 | the many-small-files case |
 * | BENCH_CLIENTS, BENCH_CLIENT_MIB | 50, 20 | the many-clients case |
 * | BENCH_LS_ENTRIES | 100000 | entries of the listed directory |
 * | BENCH_DELAY_MS | 25 | one-way delay of the relay |
 * | BENCH_RELAY_REPS | 3 | repetitions through the relay for ferry and the ceiling |
 * | BENCH_RELAY_SSH_REPS | 1 | repetitions through the relay for scp and sftp (about 35 s each per GiB) |
 * | BENCH_RELAY_SSH_FILES | 100 | files scp and sftp put through the relay (3-4 round trips each) |
 * | BENCH_ONLY | all | comma list of sections: big, many, clients, ls, relay |
 * | BENCH_NO_SSH=1 | | skip scp and sftp |
 * | BENCH_DIR | a new temp dir | where data goes (kept if given) |
 * | BENCH_KEEP=1 | | keep the temp dir |
 * | BENCH_UPDATE_DOC=1 | | replace the table in BENCHMARKS.md between its bench markers |
 *
 * @module
 */

import { basename } from "node:path";

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const DENO = Deno.execPath();
const MiB = 1024 * 1024;
const decoder = new TextDecoder();

// ---------------------------------------------------------------------------------------------
// Configuration

function envInt(name: string, fallback: number): number {
  const v = Deno.env.get(name);
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number`);
  return n;
}

const QUICK = Deno.env.get("BENCH_QUICK") === "1";
const CONFIG = {
  quick: QUICK,
  reps: envInt("BENCH_REPS", QUICK ? 2 : 3),
  bigMiB: envInt("BENCH_BIG_MIB", QUICK ? 64 : 1024),
  files: envInt("BENCH_FILES", QUICK ? 200 : 1000),
  fileKiB: envInt("BENCH_FILE_KIB", 4),
  clients: envInt("BENCH_CLIENTS", QUICK ? 10 : 50),
  clientMiB: envInt("BENCH_CLIENT_MIB", QUICK ? 4 : 20),
  lsEntries: envInt("BENCH_LS_ENTRIES", QUICK ? 10_000 : 100_000),
  delayMs: envInt("BENCH_DELAY_MS", 25),
  relayReps: envInt("BENCH_RELAY_REPS", QUICK ? 1 : 3),
  relaySshReps: envInt("BENCH_RELAY_SSH_REPS", 1),
  relaySshFiles: envInt("BENCH_RELAY_SSH_FILES", QUICK ? 20 : 100),
  sections: (Deno.env.get("BENCH_ONLY") ?? "big,many,clients,ls,relay").split(",").map((s) =>
    s.trim()
  ),
  ssh: Deno.env.get("BENCH_NO_SSH") !== "1",
};

// ---------------------------------------------------------------------------------------------
// Statistics and results

/** Samples of one tool in one case, with their summary. */
interface Series {
  samples: number[];
  min: number;
  median: number;
  max: number;
}

function series(samples: number[]): Series {
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { samples, min: s[0], median, max: s[s.length - 1] };
}

/** Tools compared in the table, in column order. */
const TOOLS = ["ferry", "scp", "sftp", "ceiling", "ceiling+fsync"] as const;
type Tool = typeof TOOLS[number];

interface Case {
  id: string;
  title: string;
  /** Unit of the values; higher is better for rates, lower for times. */
  unit: "MB/s" | "files/s" | "s";
  samples: Partial<Record<Tool, number[]>>;
  errors: Partial<Record<Tool, string>>;
  notes: string[];
  extra: Record<string, unknown>;
}

interface Target {
  what: string;
  goal: string;
  measured: number | null;
  /** Formatted measured value. */
  shown: string;
  met: boolean | null;
  /** How far from the goal, when missed. */
  gap?: string;
}

const cases: Case[] = [];
const skipped: string[] = [];

function newCase(id: string, title: string, unit: Case["unit"]): Case {
  const c: Case = { id, title, unit, samples: {}, errors: {}, notes: [], extra: {} };
  cases.push(c);
  return c;
}

function add(c: Case, tool: Tool, value: number): void {
  (c.samples[tool] ??= []).push(value);
}

function median(c: Case, tool: Tool): number | null {
  const s = c.samples[tool];
  return s === undefined || s.length === 0 ? null : series(s).median;
}

/**
 * ferry's median over `tool`'s, as a speed ratio (times are inverted). Where scp and sftp moved
 * a subset of the files, ferry's rate on the same subset is used.
 */
function ratio(c: Case, tool: Tool): number | null {
  const subset = c.extra.ferrySubset as Series | undefined;
  const f = subset !== undefined && (tool === "scp" || tool === "sftp")
    ? subset.median
    : median(c, "ferry");
  const o = median(c, tool);
  if (f === null || o === null || f === 0 || o === 0) return null;
  return c.unit === "s" ? o / f : f / o;
}

function log(message: string): void {
  console.error(`[${((performance.now() - T0) / 1000).toFixed(0).padStart(4)} s] ${message}`);
}

const T0 = performance.now();

function loadavg(): number[] {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).map(Number);
  } catch {
    return [];
  }
}
const LOAD_AT_START = loadavg();

// ---------------------------------------------------------------------------------------------
// Processes

/** Runs a command to completion; throws with its stderr on failure. */
async function run(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; allowFail?: boolean } = {},
): Promise<{ ms: number; stdout: string; stderr: string; code: number }> {
  const started = performance.now();
  const out = await new Deno.Command(cmd, {
    args,
    cwd: options.cwd ?? REPO,
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = performance.now() - started;
  const stdout = decoder.decode(out.stdout);
  const stderr = decoder.decode(out.stderr);
  if (!out.success && !options.allowFail) {
    // Deno's uncaught errors start with "error:"; otherwise the last lines say most.
    const text = (stderr || stdout).trim();
    const line = /^error: .*$/m.exec(text)?.[0] ?? text.slice(-300);
    throw new Error(`${basename(cmd)} ${args[0] ?? ""} exited ${out.code}: ${line}`);
  }
  return { ms, stdout, stderr, code: out.code };
}

/** A long-running process: its pid and a way to stop it. */
interface Service {
  name: string;
  pid: number;
  /** Recent output lines, for error messages. */
  tail: string[];
  /** True once the process has ended. */
  readonly exited: boolean;
  stop(): Promise<void>;
}

const services: Service[] = [];

/**
 * Starts `cmd` and waits until a line of its stdout or stderr matches `ready` (with `null`, only
 * starts it); the output is drained for as long as it runs.
 */
async function startService(
  name: string,
  cmd: string,
  args: string[],
  ready: RegExp | null,
  timeoutMs = 60_000,
): Promise<{ service: Service; match: RegExpMatchArray }> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: REPO,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const tail: string[] = [];
  let onMatch: (m: RegExpMatchArray) => void = () => {};
  const matched = new Promise<RegExpMatchArray>((r) => onMatch = r);
  let found = false;
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) {
        if (!found && ready !== null) {
          const m = line.match(ready);
          if (m !== null) {
            found = true;
            onMatch(m);
          }
        }
        tail.push(line);
        if (tail.length > 40) tail.shift();
      }
    }
  };
  drain(child.stdout).catch(() => {});
  drain(child.stderr).catch(() => {});
  let stopped = false;
  let exited = false;
  child.status.then(() => exited = true);
  const service: Service = {
    name,
    pid: child.pid,
    tail,
    get exited() {
      return exited;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        child.kill("SIGTERM");
      } catch {
        // already gone
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // already gone
        }
      }, 5000);
      await child.status;
      clearTimeout(timer);
    },
  };
  services.push(service);
  if (ready === null) return { service, match: [] as unknown as RegExpMatchArray };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const match = await Promise.race([
    matched,
    child.status.then((s) => {
      if (found) return new Promise<never>(() => {});
      throw new Error(`${name} exited (${s.code}) before it was ready:\n${tail.join("\n")}`);
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${name} not ready after ${timeoutMs} ms:\n${tail.join("\n")}`)),
        timeoutMs,
      );
    }),
  ]).finally(() => clearTimeout(timer));
  return { service, match };
}

/** A free TCP port on 127.0.0.1 (for programs that cannot report the one they got). */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function waitForPort(port: number, timeoutMs: number, alive: () => boolean) {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (!alive()) throw new Error("the process exited");
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      c.close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`nothing listens on ${port} after ${timeoutMs} ms`);
}

// ---------------------------------------------------------------------------------------------
// Memory of other processes

function procStatus(pid: number, field: "VmRSS" | "VmHWM"): number | null {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(
      Deno.readTextFileSync(`/proc/${pid}/status`),
    );
    return m === null ? null : Number(m[1]) * 1024;
  } catch {
    return null;
  }
}

/** Resets a process's peak RSS (VmHWM) to its current RSS; false where that is not allowed. */
function resetPeak(pid: number): boolean {
  try {
    Deno.writeTextFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/** Samples VmRSS of `pid` every 10 ms until stopped; returns the peak in bytes. */
function sampleRss(pid: number): { stop(): number } {
  let peak = procStatus(pid, "VmRSS") ?? 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, procStatus(pid, "VmRSS") ?? 0);
  }, 10);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, procStatus(pid, "VmRSS") ?? 0);
    },
  };
}

/** Measures the peak RSS of `pid` while `body` runs: VmHWM after a reset, else sampled VmRSS. */
async function withPeak<T>(pid: number, body: () => Promise<T>): Promise<[T, number]> {
  const reset = resetPeak(pid);
  const sampler = sampleRss(pid);
  let sampled = 0;
  let result: T;
  try {
    result = await body();
  } finally {
    sampled = sampler.stop();
  }
  const hwm = reset ? procStatus(pid, "VmHWM") : null;
  return [result, Math.max(sampled, hwm ?? 0)];
}

// ---------------------------------------------------------------------------------------------
// Data

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Writes `size` bytes of pseudo-random data (distinct 16 MiB blocks) unless already there. */
async function makeFile(path: string, size: number, seed: Uint8Array): Promise<void> {
  if ((await Deno.stat(path).catch(() => null))?.size === size) return;
  using f = await Deno.open(path, { write: true, create: true, truncate: true });
  const block = seed.slice();
  let written = 0;
  let n = 0;
  while (written < size) {
    new DataView(block.buffer).setUint32(0, n++); // every block differs
    const part = block.subarray(0, Math.min(block.length, size - written));
    let o = 0;
    while (o < part.length) o += await f.write(part.subarray(o));
    written += part.length;
  }
}

function randomBytes(size: number): Uint8Array {
  const b = new Uint8Array(size);
  for (let o = 0; o < size; o += 65536) crypto.getRandomValues(b.subarray(o, o + 65536));
  return b;
}

interface Data {
  base: string;
  root: string;
  certs: string;
  out: string;
  local: string;
  big: string;
  bigBytes: number;
  manyDir: string;
  manyNames: string[];
  relaySubsetDir: string;
  clientFiles: string[];
  lsDir: string;
}

async function prepare(base: string): Promise<Data> {
  const root = `${base}/root`;
  const d: Data = {
    base,
    root,
    certs: `${base}/certs`,
    out: `${base}/out`,
    local: `${base}/local`,
    big: `${root}/big.bin`,
    bigBytes: CONFIG.bigMiB * MiB,
    manyDir: `${base}/local/many`,
    manyNames: [],
    relaySubsetDir: `${base}/local/many-subset`,
    clientFiles: [],
    lsDir: `${root}/ls`,
  };
  for (const dir of [root, d.out, d.local, d.manyDir, d.relaySubsetDir, `${root}/clients`]) {
    await Deno.mkdir(dir, { recursive: true });
  }
  const seed = randomBytes(16 * MiB);
  log(`preparing data in ${base}`);
  await makeFile(d.big, d.bigBytes, seed);
  for (let i = 0; i < CONFIG.clients; i++) {
    const name = `clients/c${String(i).padStart(3, "0")}.bin`;
    await makeFile(`${root}/${name}`, CONFIG.clientMiB * MiB, randomBytes(MiB));
    d.clientFiles.push(name);
  }
  for (let i = 0; i < CONFIG.files; i++) {
    const name = `f${String(i).padStart(5, "0")}.bin`;
    d.manyNames.push(name);
    const path = `${d.manyDir}/${name}`;
    if (!(await exists(path))) await Deno.writeFile(path, randomBytes(CONFIG.fileKiB * 1024));
    if (i < CONFIG.relaySshFiles) {
      await Deno.copyFile(path, `${d.relaySubsetDir}/${name}`);
    }
  }
  if (CONFIG.sections.includes("ls")) {
    await Deno.mkdir(d.lsDir, { recursive: true });
    let have = 0;
    for await (const _ of Deno.readDir(d.lsDir)) have++;
    if (have !== CONFIG.lsEntries) {
      const empty = new Uint8Array(0);
      for (let i = 0; i < CONFIG.lsEntries; i += 500) {
        const batch = [];
        for (let j = i; j < Math.min(i + 500, CONFIG.lsEntries); j++) {
          batch.push(Deno.writeFile(`${d.lsDir}/entry-${String(j).padStart(6, "0")}`, empty));
        }
        await Promise.all(batch);
      }
    }
  }
  // Page-cache warm: read everything once.
  for (const path of [d.big, ...d.clientFiles.map((f) => `${root}/${f}`)]) {
    using f = await Deno.open(path);
    const buf = new Uint8Array(4 * MiB);
    while ((await f.read(buf)) !== null) { /* warming */ }
  }
  await run("sync", []);
  return d;
}

/** Between timed operations: drop outputs and write dirty pages back, untimed. */
async function settle(paths: string[]): Promise<void> {
  for (const p of paths) await Deno.remove(p, { recursive: true }).catch(() => {});
  await run("sync", []);
}

// ---------------------------------------------------------------------------------------------
// The peers

interface Ferry {
  service: Service;
  port: number;
  ca: string;
  tokenFile: string;
}

/**
 * Server flags for the benchmark: all its clients come from 127.0.0.1, so a per-address
 * connection limit (where the server has one) is raised above the many-clients count.
 */
async function ferryServerFlags(): Promise<string[]> {
  const help = await run(DENO, ["run", "-A", `${REPO}/server/main.ts`, "--help"], {
    allowFail: true,
  });
  const flags: string[] = [];
  if (help.stdout.includes("--max-connections-per-ip")) {
    flags.push("--max-connections-per-ip", String(Math.max(64, CONFIG.clients * 2)));
  }
  return flags;
}

let serverFlags: string[] = [];
/** Whether the CLI has `put -r` (it did not when the benchmark was written). */
let cliPutRecursive = false;

/** The V8 flags of the shipped `serve` task, so the benchmark measures the shipped server. */
const SERVE_V8_FLAGS: string[] = (JSON.parse(Deno.readTextFileSync(`${REPO}/deno.json`)).tasks
  .serve as string).split(/\s+/).filter((w) => w.startsWith("--v8-flags="));

async function startFerry(d: Data): Promise<Ferry> {
  const { service, match } = await startService("ferry-server", DENO, [
    "run",
    ...SERVE_V8_FLAGS,
    "--allow-net",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    `${REPO}/server/main.ts`,
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--root",
    d.root,
    "--certs",
    d.certs,
    ...serverFlags,
  ], /ferry-server listening on [^\s]*:(\d+)/);
  return {
    service,
    port: Number(match[1]),
    ca: `${d.certs}/ca.pem`,
    tokenFile: `${d.certs}/token`,
  };
}

interface Ssh {
  service: Service;
  port: number;
  user: string;
  /** Options common to ssh, scp and sftp (without the port). */
  options: string[];
  version: string;
}

async function which(name: string): Promise<string | null> {
  for (const dir of ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"]) {
    if (await exists(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  const r = await run("sh", ["-c", `command -v ${name}`], { allowFail: true });
  return r.code === 0 ? r.stdout.trim() : null;
}

/** Finds sshd, installing openssh-server with apt-get when missing; null with a reason if not. */
async function ensureOpenSsh(): Promise<string> {
  const ready = async () =>
    (await which("sshd")) !== null && (await which("scp")) !== null &&
    (await which("sftp")) !== null && (await which("ssh-keygen")) !== null;
  if (await ready()) return (await which("sshd"))!;
  if (Deno.uid() !== 0 || (await which("apt-get")) === null) {
    throw new Error("sshd/scp/sftp are missing and cannot be installed (needs root and apt-get)");
  }
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  const install = ["install", "-y", "--no-install-recommends", "openssh-server", "openssh-client"];
  log("installing openssh-server with apt-get");
  let r = await run("apt-get", install, { env, allowFail: true });
  if (r.code !== 0) {
    log("apt-get install failed; running apt-get update first");
    await run("apt-get", ["update"], { env, allowFail: true });
    r = await run("apt-get", install, { env, allowFail: true });
  }
  if (r.code !== 0 || !(await ready())) {
    throw new Error(`apt-get install openssh-server failed: ${r.stderr.trim().slice(-400)}`);
  }
  return (await which("sshd"))!;
}

async function startSshd(d: Data): Promise<Ssh> {
  const sshd = await ensureOpenSsh();
  const dir = `${d.base}/ssh`;
  await Deno.mkdir(dir, { recursive: true });
  for (const key of ["host_key", "user_key"]) {
    if (!(await exists(`${dir}/${key}`))) {
      await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${dir}/${key}`]);
    }
  }
  await Deno.copyFile(`${dir}/user_key.pub`, `${dir}/authorized_keys`);
  const user = Deno.env.get("USER") || (await run("id", ["-un"])).stdout.trim();
  const port = freePort();
  const config = `${dir}/sshd_config`; // absolute: sshd re-executes itself with it
  await Deno.writeTextFile(
    config,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${dir}/host_key`,
      `PidFile ${dir}/sshd.pid`,
      `AuthorizedKeysFile ${dir}/authorized_keys`,
      "StrictModes no",
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "PermitRootLogin prohibit-password",
      "Subsystem sftp internal-sftp",
      "LogLevel ERROR",
      "",
    ].join("\n"),
  );
  if (Deno.uid() === 0) await Deno.mkdir("/run/sshd", { recursive: true }); // privilege separation
  const { service } = await startService("sshd", sshd, ["-D", "-e", "-f", config], null);
  await waitForPort(port, 15_000, () => !service.exited).catch((err) => {
    throw new Error(`sshd did not start: ${err.message}\n${service.tail.join("\n")}`);
  });
  const options = [
    "-F",
    "/dev/null",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "BatchMode=yes",
    "-o",
    "IdentitiesOnly=yes",
    "-i",
    `${dir}/user_key`,
  ];
  await run("ssh", [...options, "-p", String(port), `${user}@127.0.0.1`, "true"]);
  const version = (await run("ssh", ["-V"])).stderr.trim();
  return { service, port, user, options, version };
}

// ---------------------------------------------------------------------------------------------
// Operations (each returns the wall time in ms of one client process)

function ferryCli(f: Ferry, port: number, args: string[]) {
  return run(DENO, [
    "run",
    "--allow-net",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    `${REPO}/cli/main.ts`,
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "--ca",
    f.ca,
    "--token",
    Deno.readTextFileSync(f.tokenFile).trim(),
    "-q",
    ...args,
  ]);
}

async function ferryOps(f: Ferry, port: number, args: string[]) {
  const r = await run(DENO, [
    "run",
    "-A",
    `${REPO}/bench/ferry_ops.ts`,
    args[0],
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "--ca",
    f.ca,
    "--token-file",
    f.tokenFile,
    ...args.slice(1),
  ]);
  return { ms: r.ms, result: JSON.parse(r.stdout.trim().split("\n").at(-1)!) };
}

function scp(s: Ssh, port: number, args: string[]) {
  return run("scp", ["-q", ...s.options, "-P", String(port), ...args]);
}

async function sftpBatch(s: Ssh, port: number, d: Data, commands: string[]) {
  const batch = `${d.base}/sftp-batch-${crypto.randomUUID()}`;
  await Deno.writeTextFile(batch, commands.join("\n") + "\n");
  try {
    return await run("sftp", [
      "-q",
      ...s.options,
      "-P",
      String(port),
      "-b",
      batch,
      `${s.user}@127.0.0.1`,
    ]);
  } finally {
    await Deno.remove(batch).catch(() => {});
  }
}

async function ceilingOp(d: Data, port: number, op: "get" | "put", fsync: boolean) {
  const args = ["run", "-A", `${REPO}/bench/ceiling.ts`, op, "--port", String(port)];
  args.push("--ca", `${d.certs}/ca.pem`);
  if (op === "get") args.push("--out", `${d.out}/ceiling-get`);
  else args.push("--file", d.big);
  if (fsync) args.push("--fsync");
  return await run(DENO, args);
}

/** Runs `op` once, recording its sample (or the first error) under `tool`. */
async function measure(
  c: Case,
  tool: Tool,
  op: () => Promise<number>,
  cleanup: string[],
): Promise<void> {
  if (c.errors[tool] !== undefined) return;
  await settle(cleanup);
  try {
    const value = await op();
    add(c, tool, value);
    const shown = c.unit === "s" ? `${value.toFixed(2)} s` : `${value.toFixed(0)} ${c.unit}`;
    log(`${c.title}: ${tool} ${shown}`);
  } catch (err) {
    c.errors[tool] = err instanceof Error ? err.message : String(err);
    log(`${c.title}: ${tool} FAILED: ${c.errors[tool]}`);
  }
  await settle(cleanup);
}

const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);

// ---------------------------------------------------------------------------------------------
// Sections

interface Peers {
  ferry: Ferry;
  ssh: Ssh | null;
  ceilingPort: number;
}

/** The big-file get and put, directly or through relays (ports given). */
async function bigFile(
  d: Data,
  p: Peers,
  label: string,
  ports: { ferry: number; ssh: number; ceiling: number },
  reps: number,
  sshReps: number,
) {
  const size = `${CONFIG.bigMiB >= 1024 ? `${CONFIG.bigMiB / 1024} GiB` : `${CONFIG.bigMiB} MiB`}`;
  const get = newCase(`big-get${label ? "-relay" : ""}`, `${size} get${label}`, "MB/s");
  const put = newCase(`big-put${label ? "-relay" : ""}`, `${size} put${label}`, "MB/s");
  const b = d.bigBytes;
  const remotePut = `${d.root}/put.bin`;
  const ssh = p.ssh;
  for (let rep = 0; rep < Math.max(reps, sshReps); rep++) {
    if (rep < reps) {
      const o = `${d.out}/ferry-get`;
      await measure(get, "ferry", async () => {
        const r = await ferryCli(p.ferry, ports.ferry, ["get", "big.bin", o]);
        return mbps(b, r.ms);
      }, [o]);
    }
    if (ssh !== null && rep < sshReps) {
      const o1 = `${d.out}/scp-get`;
      await measure(get, "scp", async () => {
        const r = await scp(ssh, ports.ssh, [`${ssh.user}@127.0.0.1:${d.big}`, o1]);
        return mbps(b, r.ms);
      }, [o1]);
      const o2 = `${d.out}/sftp-get`;
      await measure(get, "sftp", async () => {
        const r = await sftpBatch(ssh, ports.ssh, d, [`get ${d.big} ${o2}`]);
        return mbps(b, r.ms);
      }, [o2]);
    }
    if (rep < reps) {
      for (const fsync of label ? [false] : [false, true]) {
        await measure(get, fsync ? "ceiling+fsync" : "ceiling", async () => {
          const r = await ceilingOp(d, ports.ceiling, "get", fsync);
          return mbps(b, r.ms);
        }, [`${d.out}/ceiling-get`]);
      }
      await measure(put, "ferry", async () => {
        const r = await ferryCli(p.ferry, ports.ferry, ["put", d.big, "put.bin"]);
        return mbps(b, r.ms);
      }, [remotePut]);
    }
    if (ssh !== null && rep < sshReps) {
      await measure(put, "scp", async () => {
        const r = await scp(ssh, ports.ssh, [d.big, `${ssh.user}@127.0.0.1:${remotePut}`]);
        return mbps(b, r.ms);
      }, [remotePut]);
      await measure(put, "sftp", async () => {
        const r = await sftpBatch(ssh, ports.ssh, d, [`put ${d.big} ${remotePut}`]);
        return mbps(b, r.ms);
      }, [remotePut]);
    }
    if (rep < reps) {
      for (const fsync of label ? [false] : [false, true]) {
        await measure(put, fsync ? "ceiling+fsync" : "ceiling", async () => {
          const r = await ceilingOp(d, ports.ceiling, "put", fsync);
          return mbps(b, r.ms);
        }, [`${d.out}/ceiling-put`]);
      }
    }
  }
  return { get, put };
}

async function manyFiles(
  d: Data,
  p: Peers,
  label: string,
  ports: { ferry: number; ssh: number },
  reps: number,
  sshReps: number,
  sshFiles: number,
) {
  const n = CONFIG.files;
  const c = newCase(
    `many${label ? "-relay" : ""}`,
    `${n.toLocaleString("en")} × ${CONFIG.fileKiB} KiB put${label}`,
    "files/s",
  );
  const ssh = p.ssh;
  const sshNames = d.manyNames.slice(0, sshFiles);
  const subset = sshFiles < n;
  if (subset) {
    c.notes.push(
      `scp and sftp put the first ${sshFiles} files (about 3-4 round trips each; all ${n} would take minutes); ferry's like-for-like ${sshFiles}-file rate is the ratio base`,
    );
  }
  const count = async (dir: string, expect: number) => {
    let k = 0;
    for await (const _ of Deno.readDir(dir)) k++;
    if (k !== expect) throw new Error(`${dir} holds ${k} files, expected ${expect}`);
  };
  const ferrySubset: number[] = [];
  const cliRates: number[] = [];
  const countDeep = async (dir: string): Promise<number> => {
    let k = 0;
    for await (const e of Deno.readDir(dir)) {
      k += e.isDirectory ? await countDeep(`${dir}/${e.name}`) : 1;
    }
    return k;
  };
  for (let rep = 0; rep < Math.max(reps, sshReps); rep++) {
    if (rep < reps) {
      const remote = `${d.root}/many-ferry`;
      await measure(c, "ferry", async () => {
        const r = await ferryOps(p.ferry, ports.ferry, [
          "put-many",
          "--dir",
          d.manyDir,
          "--remote",
          "many-ferry",
        ]);
        await count(remote, n);
        return n / (r.ms / 1000);
      }, [remote]);
      if (cliPutRecursive && !label) {
        // The CLI's own recursive put, where it has one: shown in the notes.
        const cliRemote = `${d.root}/many-cli`;
        await settle([cliRemote]);
        try {
          const r = await ferryCli(p.ferry, ports.ferry, ["put", "-r", d.manyDir, "many-cli"]);
          const k = await countDeep(cliRemote);
          if (k !== n) throw new Error(`${cliRemote} holds ${k} files, expected ${n}`);
          cliRates.push(n / (r.ms / 1000));
          log(`${c.title}: ferry CLI put -r ${cliRates.at(-1)!.toFixed(0)} files/s`);
        } catch (err) {
          c.notes.push(`ferry CLI put -r failed: ${err instanceof Error ? err.message : err}`);
        }
        await settle([cliRemote]);
      }
      if (subset) {
        await settle([remote]);
        const r = await ferryOps(p.ferry, ports.ferry, [
          "put-many",
          "--dir",
          d.manyDir,
          "--remote",
          "many-ferry",
          "--limit",
          String(sshFiles),
        ]);
        await count(remote, sshFiles);
        ferrySubset.push(sshFiles / (r.ms / 1000));
        log(`${c.title}: ferry (${sshFiles} files) ${ferrySubset.at(-1)!.toFixed(0)} files/s`);
        await settle([remote]);
      }
    }
    if (ssh !== null && rep < sshReps) {
      const remote1 = `${d.root}/many-scp`;
      const source = subset ? d.relaySubsetDir : d.manyDir;
      await measure(c, "scp", async () => {
        const r = await scp(ssh, ports.ssh, ["-r", source, `${ssh.user}@127.0.0.1:${remote1}`]);
        await count(remote1, sshNames.length);
        return sshNames.length / (r.ms / 1000);
      }, [remote1]);
      const remote2 = `${d.root}/many-sftp`;
      await measure(c, "sftp", async () => {
        const r = await sftpBatch(ssh, ports.ssh, d, [
          `-mkdir ${remote2}`,
          ...sshNames.map((name) => `put ${d.manyDir}/${name} ${remote2}/${name}`),
        ]);
        await count(remote2, sshNames.length);
        return sshNames.length / (r.ms / 1000);
      }, [remote2]);
    }
  }
  if (cliRates.length > 0) c.extra.ferryCliPutRecursive = series(cliRates);
  if (subset && ferrySubset.length > 0) {
    c.extra.ferrySubset = { files: sshFiles, ...series(ferrySubset) };
  }
  return c;
}

async function manyClients(d: Data, p: Peers) {
  const n = CONFIG.clients;
  const c = newCase(
    "clients",
    `${n} clients × ${CONFIG.clientMiB} MiB get, at once`,
    "MB/s",
  );
  const bytes = n * CONFIG.clientMiB * MiB;
  const single: number[] = [];
  const peaks: number[] = [];
  const outDir = `${d.out}/clients`;
  for (let rep = 0; rep < CONFIG.reps; rep++) {
    await measure(c, "ferry", async () => {
      const [r, peak] = await withPeak(p.ferry.service.pid, () =>
        ferryOps(p.ferry, p.ferry.port, [
          "get-many",
          "--files",
          d.clientFiles.join(","),
          "--out",
          outDir,
        ]));
      if (r.result.bytes !== bytes) throw new Error(`got ${r.result.bytes} bytes of ${bytes}`);
      peaks.push(peak);
      return mbps(bytes, r.ms);
    }, [outDir]);
    try {
      const r = await ferryOps(p.ferry, p.ferry.port, [
        "get-many",
        "--serial",
        "--files",
        d.clientFiles.join(","),
        "--out",
        outDir,
      ]);
      single.push(mbps(bytes, r.ms));
      log(
        `${c.title}: single stream (same files, one after another) ${
          single.at(-1)!.toFixed(0)
        } MB/s`,
      );
    } catch (err) {
      c.notes.push(`single-stream reference failed: ${err}`);
    }
    await settle([outDir]);
  }
  c.extra.singleStream = single.length > 0 ? series(single) : null;
  c.extra.serverPeakRssMiB = peaks.length > 0 ? series(peaks.map((b) => b / MiB)) : null;
  return c;
}

async function listing(d: Data, p: Peers) {
  const n = CONFIG.lsEntries;
  const c = newCase("ls", `ls of ${n.toLocaleString("en")} entries`, "s");
  const serverPeaks: number[] = [];
  const clientPeaks: number[] = [];
  const listOnly: number[] = [];
  for (let rep = 0; rep < CONFIG.reps; rep++) {
    await measure(c, "ferry", async () => {
      const [r, peak] = await withPeak(
        p.ferry.service.pid,
        () => ferryOps(p.ferry, p.ferry.port, ["ls", "--path", "ls"]),
      );
      if (r.result.entries !== n) throw new Error(`listed ${r.result.entries} of ${n}`);
      serverPeaks.push(peak / MiB);
      clientPeaks.push(r.result.peakRssKiB / 1024);
      listOnly.push(r.result.listMs / 1000);
      return r.ms / 1000;
    }, []);
    const ssh = p.ssh;
    if (ssh !== null) {
      await measure(c, "sftp", async () => {
        const r = await sftpBatch(ssh, ssh.port, d, [`ls -1 ${d.lsDir}`]);
        const lines = r.stdout.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("sftp>"));
        if (lines.length < n) throw new Error(`sftp listed ${lines.length} of ${n}`);
        return r.ms / 1000;
      }, []);
    }
  }
  c.extra.listCallSeconds = listOnly.length > 0 ? series(listOnly) : null;
  c.extra.serverPeakRssMiB = serverPeaks.length > 0 ? series(serverPeaks) : null;
  c.extra.clientPeakRssMiB = clientPeaks.length > 0 ? series(clientPeaks) : null;
  return c;
}

// ---------------------------------------------------------------------------------------------
// Report

function fmt(v: number, unit: Case["unit"]): string {
  if (unit === "s") return v < 10 ? v.toFixed(2) : v.toFixed(1);
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function cell(c: Case, tool: Tool): string {
  const s = c.samples[tool];
  if (c.errors[tool] !== undefined) return "failed";
  if (s === undefined || s.length === 0) return "—";
  const x = series(s);
  if (s.length === 1) return fmt(x.median, c.unit);
  return `${fmt(x.median, c.unit)} (${fmt(x.min, c.unit)}–${fmt(x.max, c.unit)})`;
}

function ratioCell(c: Case, tool: Tool): string {
  const r = ratio(c, tool);
  return r === null ? "—" : `${r.toFixed(2)}×`;
}

function byId(id: string): Case | undefined {
  return cases.find((c) => c.id === id);
}

function target(
  what: string,
  goal: string,
  measured: number | null,
  shown: (v: number) => string,
  ok: (v: number) => boolean,
  gap: (v: number) => string,
): Target {
  if (measured === null) return { what, goal, measured, shown: "not measured", met: null };
  const met = ok(measured);
  return {
    what,
    goal,
    measured,
    shown: shown(measured),
    met,
    gap: met ? undefined : gap(measured),
  };
}

function targets(): Target[] {
  const t: Target[] = [];
  const x = (v: number) => `${v.toFixed(2)}×`;
  const short = (goal: number) => (v: number) =>
    `${((1 - v / goal) * 100).toFixed(0)}% short (needs ${(goal / v).toFixed(2)}× faster)`;
  for (const id of ["big-get", "big-put"]) {
    const c = byId(id);
    if (c === undefined) continue;
    t.push(
      target(`${c.title}: ferry/sftp`, "≥ 1.5×", ratio(c, "sftp"), x, (v) => v >= 1.5, short(1.5)),
    );
    t.push(
      target(`${c.title}: ferry/scp`, "≥ 1.2×", ratio(c, "scp"), x, (v) => v >= 1.2, short(1.2)),
    );
    t.push(
      target(
        `${c.title}: ferry/ceiling`,
        "≥ 0.90×",
        ratio(c, "ceiling"),
        x,
        (v) => v >= 0.9,
        short(0.9),
      ),
    );
  }
  for (const [id, goal] of [["many", 3], ["many-relay", 10]] as const) {
    const c = byId(id);
    if (c === undefined) continue;
    const r = ratio(c, "sftp");
    t.push(
      target(
        `${c.title}: ferry/sftp -b files/s`,
        `≥ ${goal}×`,
        r,
        x,
        (v) => v >= goal,
        short(goal),
      ),
    );
  }
  const cl = byId("clients");
  if (cl !== undefined) {
    const single = cl.extra.singleStream as Series | null;
    const agg = median(cl, "ferry");
    t.push(target(
      `${cl.title}: aggregate / single stream`,
      "≥ 80%",
      single && agg !== null ? agg / single.median : null,
      (v) => `${(v * 100).toFixed(0)}%`,
      (v) => v >= 0.8,
      (v) => `${((0.8 - v) * 100).toFixed(0)} points short`,
    ));
    const rss = cl.extra.serverPeakRssMiB as Series | null;
    t.push(target(
      `${cl.title}: server peak RSS`,
      "< 150 MiB",
      rss?.max ?? null,
      (v) => `${v.toFixed(0)} MiB`,
      (v) => v < 150,
      (v) => `${(v - 150).toFixed(0)} MiB over`,
    ));
  }
  const ls = byId("ls");
  if (ls !== undefined) {
    t.push(target(
      `${ls.title}: time`,
      "< 2 s",
      median(ls, "ferry"),
      (v) => `${v.toFixed(2)} s`,
      (v) => v < 2,
      (v) => `${(v - 2).toFixed(2)} s over (${(v / 2).toFixed(2)}× the budget)`,
    ));
    for (const side of ["client", "server"] as const) {
      const rss = ls.extra[`${side}PeakRssMiB`] as Series | null;
      t.push(target(
        `${ls.title}: ${side} peak RSS`,
        "< 100 MiB",
        rss?.max ?? null,
        (v) => `${v.toFixed(0)} MiB`,
        (v) => v < 100,
        (v) => `${(v - 100).toFixed(0)} MiB over`,
      ));
    }
  }
  return t;
}

function notesOf(c: Case): string {
  const notes: string[] = [...c.notes];
  const cliPut = c.extra.ferryCliPutRecursive as Series | undefined;
  if (cliPut) {
    notes.push(`ferry CLI \`put -r\` (one process): ${fmt(cliPut.median, "files/s")} files/s`);
  }
  const sub = c.extra.ferrySubset as (Series & { files: number }) | undefined;
  if (sub) notes.unshift(`ferry with ${sub.files} files: ${fmt(sub.median, "files/s")} files/s`);
  const single = c.extra.singleStream as Series | null | undefined;
  if (single) notes.push(`single stream over the same files: ${fmt(single.median, "MB/s")} MB/s`);
  const srv = c.extra.serverPeakRssMiB as Series | null | undefined;
  if (srv) notes.push(`server peak RSS ${srv.max.toFixed(0)} MiB`);
  const cli = c.extra.clientPeakRssMiB as Series | null | undefined;
  if (cli) notes.push(`client peak RSS ${cli.max.toFixed(0)} MiB`);
  const call = c.extra.listCallSeconds as Series | null | undefined;
  if (call) notes.push(`list() call alone ${call.median.toFixed(2)} s`);
  for (const [tool, e] of Object.entries(c.errors)) {
    notes.push(`${tool} failed: ${e.slice(0, 120)}`);
  }
  return notes.join("; ");
}

function markdown(t: Target[]): string {
  const lines = [
    "| case | unit | ferry | scp | sftp | ceiling | ceiling+fsync | ferry/scp | ferry/sftp | ferry/ceiling | notes |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const c of cases) {
    lines.push(
      `| ${c.title} | ${c.unit} | ${TOOLS.map((tool) => cell(c, tool)).join(" | ")} | ${
        ratioCell(c, "scp")
      } | ${ratioCell(c, "sftp")} | ${ratioCell(c, "ceiling")} | ${notesOf(c)} |`,
    );
  }
  lines.push("", "| target | goal | measured | met |", "| --- | --- | --- | --- |");
  for (const x of t) {
    lines.push(
      `| ${x.what} | ${x.goal} | ${x.shown} | ${
        x.met === null ? "—" : x.met ? "yes" : `**no**: ${x.gap}`
      } |`,
    );
  }
  return lines.join("\n");
}

async function machine(ssh: Ssh | null) {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1]?.trim() ?? "unknown";
  const nproc = (await run("nproc", [], { allowFail: true })).stdout.trim() ||
    String(navigator.hardwareConcurrency);
  return {
    nproc: Number(nproc),
    cpu: model,
    kernel: Deno.osRelease(),
    memoryGiB: Math.round(Deno.systemMemoryInfo().total / 1024 ** 3),
    /** 1, 5 and 15 minute load averages at the start and the end: other work on the machine. */
    loadavg: { start: LOAD_AT_START, end: loadavg() },
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    openssh: ssh?.version ?? null,
  };
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const given = Deno.env.get("BENCH_DIR");
  const base = given ?? await Deno.makeTempDir({ prefix: "ferry-bench-" });
  const keep = given !== undefined || Deno.env.get("BENCH_KEEP") === "1";
  const startedAt = new Date();
  log(`config ${JSON.stringify(CONFIG)}`);
  let ssh: Ssh | null = null;
  try {
    const d = await prepare(base);
    serverFlags = await ferryServerFlags();
    const cliHelp = await run(DENO, ["run", "-A", `${REPO}/cli/main.ts`, "--help"], {
      allowFail: true,
    });
    cliPutRecursive = /put \[-r\]|put -r/.test(cliHelp.stdout + cliHelp.stderr);
    const ferry = await startFerry(d);
    log(`ferry server on port ${ferry.port} (pid ${ferry.service.pid})`);
    // The client's modules are compiled once here, untimed.
    await ferryCli(ferry, ferry.port, ["ls"]);
    await run(DENO, ["cache", `${REPO}/bench/ferry_ops.ts`, `${REPO}/bench/ceiling.ts`]);
    if (CONFIG.ssh) {
      try {
        ssh = await startSshd(d);
        log(`sshd on port ${ssh.port} (${ssh.version})`);
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        skipped.push(`scp/sftp: ${why}`);
        log(`skipping scp and sftp: ${why}`);
      }
    } else skipped.push("scp/sftp: BENCH_NO_SSH=1");
    const ceiling = await startService("ceiling", DENO, [
      "run",
      "-A",
      `${REPO}/bench/ceiling.ts`,
      "serve",
      "--cert",
      `${d.certs}/server.pem`,
      "--key",
      `${d.certs}/server-key.pem`,
      "--port",
      "0",
      "--file",
      d.big,
      "--out-dir",
      d.out,
    ], /ceiling listening on [^\s]*:(\d+)/);
    const peers: Peers = { ferry, ssh, ceilingPort: Number(ceiling.match[1]) };
    const direct = { ferry: ferry.port, ssh: ssh?.port ?? 0, ceiling: peers.ceilingPort };
    const on = (s: string) => CONFIG.sections.includes(s);

    if (on("big")) await bigFile(d, peers, "", direct, CONFIG.reps, CONFIG.reps);
    if (on("many")) {
      await manyFiles(d, peers, "", direct, CONFIG.reps, CONFIG.reps, CONFIG.files);
    }
    // A fresh server for each of these, so its peak RSS is theirs alone.
    const fresh = async (body: (p: Peers) => Promise<Case>) => {
      const f = await startFerry(d);
      try {
        const rss = procStatus(f.service.pid, "VmRSS");
        const c = await body({ ...peers, ferry: f });
        c.extra.serverRssAtStartMiB = rss === null ? null : rss / MiB;
      } finally {
        await f.service.stop();
      }
    };
    if (on("clients")) await fresh((p) => manyClients(d, p));
    if (on("ls")) await fresh((p) => listing(d, p));
    if (on("relay")) {
      const relay = async (name: string, port: number) => {
        const { match } = await startService(`relay-${name}`, DENO, [
          "run",
          "--allow-net",
          `${REPO}/bench/delay_proxy.ts`,
          "--listen",
          "127.0.0.1:0",
          "--target",
          `127.0.0.1:${port}`,
          "--delay-ms",
          String(CONFIG.delayMs),
        ], /delay_proxy listening on [^\s]*:(\d+)/);
        return Number(match[1]);
      };
      const via = {
        ferry: await relay("ferry", ferry.port),
        ssh: ssh === null ? 0 : await relay("ssh", ssh.port),
        ceiling: await relay("ceiling", peers.ceilingPort),
      };
      const label = `, ${CONFIG.delayMs} ms each way`;
      await bigFile(d, peers, label, via, CONFIG.relayReps, CONFIG.relaySshReps);
      await manyFiles(
        d,
        peers,
        label,
        via,
        CONFIG.relayReps,
        CONFIG.relaySshReps,
        Math.min(CONFIG.relaySshFiles, CONFIG.files),
      );
    }
    const t = targets();
    const table = markdown(t);
    const info = await machine(ssh);
    const seconds = (performance.now() - T0) / 1000;
    const result = {
      startedAt: startedAt.toISOString(),
      seconds,
      machine: info,
      config: CONFIG,
      skipped,
      cases: cases.map((c) => ({
        ...c,
        series: Object.fromEntries(
          Object.entries(c.samples).map(([tool, s]) => [tool, series(s!)]),
        ),
        ratios: { scp: ratio(c, "scp"), sftp: ratio(c, "sftp"), ceiling: ratio(c, "ceiling") },
      })),
      targets: t,
      markdown: table,
    };
    await Deno.mkdir(`${REPO}/bench/results`, { recursive: true });
    const stamp = startedAt.toISOString().replace(/[:.]/g, "-");
    const path = `${REPO}/bench/results/${stamp}.json`;
    await Deno.writeTextFile(path, JSON.stringify(result, null, 2) + "\n");
    const header =
      `machine: ${info.nproc} × ${info.cpu}, ${info.memoryGiB} GiB, Linux ${info.kernel}, ` +
      `Deno ${info.deno}${info.openssh ? `, ${info.openssh}` : ""}; ${seconds.toFixed(0)} s, ` +
      `load average ${info.loadavg.start[0] ?? "?"} at the start, ${
        info.loadavg.end[0] ?? "?"
      } at the end`;
    console.log(`\n${header}\n\n${table}\n`);
    if (skipped.length > 0) console.log(`skipped: ${skipped.join("; ")}`);
    console.log(`results: ${path}`);
    if (Deno.env.get("BENCH_UPDATE_DOC") === "1") await updateDoc(header, table, path);
  } finally {
    for (const s of services.reverse()) await s.stop().catch(() => {});
    if (!keep) await Deno.remove(base, { recursive: true }).catch(() => {});
  }
}

/** Replaces the text between the bench markers of BENCHMARKS.md with the new table. */
async function updateDoc(header: string, table: string, path: string): Promise<void> {
  const doc = `${REPO}/BENCHMARKS.md`;
  const text = await Deno.readTextFile(doc).catch(() => "");
  const begin = "<!-- bench:begin -->";
  const end = "<!-- bench:end -->";
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  if (i < 0 || j < i) {
    console.error(`BENCHMARKS.md has no ${begin} … ${end} section; not updated`);
    return;
  }
  const rel = path.slice(REPO.length + 1);
  const body = `${begin}\n\n${header} (\`${rel}\`)\n\n${table}\n\n${end}`;
  await Deno.writeTextFile(doc, text.slice(0, i) + body + text.slice(j + end.length));
  console.error("BENCHMARKS.md updated");
}

if (import.meta.main) {
  await main();
  Deno.exit(0);
}
