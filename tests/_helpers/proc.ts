/**
 * What /proc says about a process (Linux): open file descriptors, memory, CPU time.
 *
 * @module
 */

/**
 * Reads a file below /proc through `cat` (Deno's permissions want --allow-all for /proc itself;
 * the tests have --allow-run).
 */
export function readProc(path: string): string {
  const out = new Deno.Command("cat", { args: [path], stdout: "piped", stderr: "null" })
    .outputSync();
  return new TextDecoder().decode(out.stdout);
}

/** Open file descriptors of process `pid` (default: this one). */
export function fdCount(pid: number = Deno.pid): number {
  const out = new Deno.Command("ls", { args: [`/proc/${pid}/fd`], stdout: "piped", stderr: "null" })
    .outputSync();
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "").length;
}

/** A field of /proc/PID/status in KiB (VmRSS, VmHWM...). */
export function statusKiB(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readProc(`/proc/${pid}/status`));
  return m ? Number(m[1]) : NaN;
}

/** CPU time process `pid` used so far (user + system), in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readProc(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of stat(5); here, after the name, at 11 and 12.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
