/**
 * An sshd of the run's own, and scp and sftp against it.
 *
 * sshd gets its own host key, user key, `authorized_keys` and config (absolute `-f` path,
 * `StrictModes no`, `internal-sftp`, a port on 127.0.0.1). When sshd, scp or sftp is missing
 * and the run is root with apt-get, `openssh-server` is installed (after `apt-get update` if the
 * first attempt fails).
 *
 * @module
 */

import { exists } from "./files.ts";
import type { Log } from "./log.ts";
import { freePort, waitForPort } from "./net.ts";
import { run, type RunResult, type Service, type Services, which } from "./process.ts";

/** A running sshd and how to reach it. */
export interface Ssh {
  /** The sshd process (it forks a process tree per connection). */
  service: Service;
  /** Its port on 127.0.0.1. */
  port: number;
  /** The user that logs in. */
  user: string;
  /** Options common to ssh, scp and sftp, without the port. */
  options: string[];
  /** `ssh -V`: OpenSSH's and OpenSSL's versions. */
  version: string;
  /** Absolute paths of ssh, scp and sftp. */
  bin: { ssh: string; scp: string; sftp: string };
}

const TOOLS = ["sshd", "ssh", "scp", "sftp", "ssh-keygen"] as const;

/** Finds the OpenSSH programs, installing them with apt-get when missing and allowed. */
async function ensureOpenSsh(log: Log): Promise<Record<typeof TOOLS[number], string>> {
  const find = async () => {
    const found: Partial<Record<typeof TOOLS[number], string>> = {};
    for (const t of TOOLS) {
      const p = await which(t);
      if (p === null) return null;
      found[t] = p;
    }
    return found as Record<typeof TOOLS[number], string>;
  };
  const have = await find();
  if (have !== null) return have;
  const aptGet = await which("apt-get");
  if (Deno.uid() !== 0 || aptGet === null) {
    throw new Error("sshd/scp/sftp are missing and cannot be installed (needs root and apt-get)");
  }
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  const install = ["install", "-y", "--no-install-recommends", "openssh-server", "openssh-client"];
  log("installing openssh-server with apt-get");
  let r = await run(aptGet, install, { env, allowFail: true });
  if (r.code !== 0) {
    log("apt-get install failed; running apt-get update first");
    await run(aptGet, ["update"], { env, allowFail: true });
    r = await run(aptGet, install, { env, allowFail: true });
  }
  const now = await find();
  if (r.code !== 0 || now === null) {
    throw new Error(`apt-get install openssh-server failed: ${r.stderr.trim().slice(-400)}`);
  }
  return now;
}

/** Starts an sshd in `dir` (created) on a free port and checks that a login works. */
export async function startSshd(services: Services, dir: string, log: Log): Promise<Ssh> {
  const bin = await ensureOpenSsh(log);
  await Deno.mkdir(dir, { recursive: true });
  for (const key of ["host_key", "user_key"]) {
    if (!(await exists(`${dir}/${key}`))) {
      await run(bin["ssh-keygen"], ["-q", "-t", "ed25519", "-N", "", "-f", `${dir}/${key}`]);
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
  const { service } = await services.start("sshd", bin.sshd, ["-D", "-e", "-f", config], null);
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
  await run(bin.ssh, [...options, "-p", String(port), `${user}@127.0.0.1`, "true"]);
  const version = (await run(bin.ssh, ["-V"])).stderr.trim();
  return {
    service,
    port,
    user,
    options,
    version,
    bin: { ssh: bin.ssh, scp: bin.scp, sftp: bin.sftp },
  };
}

/** `scp -q` with the run's options, to `port` (sshd's, or a relay's). */
export function scp(ssh: Ssh, port: number, args: string[]): Promise<RunResult> {
  return run(ssh.bin.scp, ["-q", ...ssh.options, "-P", String(port), ...args]);
}

/** `user@127.0.0.1:path`, for scp. */
export function remote(ssh: Ssh, path: string): string {
  return `${ssh.user}@127.0.0.1:${path}`;
}

/** `sftp -b` running `commands` (a batch file in `dir`), to `port`. */
export async function sftpBatch(
  ssh: Ssh,
  port: number,
  dir: string,
  commands: string[],
): Promise<RunResult> {
  const batch = `${dir}/sftp-batch-${crypto.randomUUID()}`;
  await Deno.writeTextFile(batch, commands.join("\n") + "\n");
  try {
    return await run(ssh.bin.sftp, [
      "-q",
      ...ssh.options,
      "-P",
      String(port),
      "-b",
      batch,
      `${ssh.user}@127.0.0.1`,
    ]);
  } finally {
    await Deno.remove(batch).catch(() => {});
  }
}
