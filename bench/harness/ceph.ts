/**
 * A throw-away one-node Ceph cluster with a RADOS Gateway on 127.0.0.1, for the S3 rows when no
 * S3 store is configured: `scripts/ceph/start.sh` and `stop.sh` (installed from Debian by
 * `scripts/ceph/install.sh` when missing and the run is root, as the sshd of the scp/sftp columns
 * is).
 *
 * @module
 */

import type { S3Config } from "../config.ts";
import type { Log } from "./log.ts";
import { freePort } from "./net.ts";
import { REPO, run, which } from "./process.ts";

/** A running cluster and its S3 endpoint. */
export interface Ceph {
  /** The endpoint and keys of its gateway. */
  s3: S3Config;
  /** Stops it and removes its state. */
  stop(): Promise<void>;
}

/** Reads `NAME=value` lines. */
function parseEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z0-9_]+)="?([^"]*)"?$/.exec(line.trim());
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/**
 * Starts a cluster whose state lives in `dir` (BlueStore on a sparse file, since the big file is
 * a GiB). Throws with the reason when Ceph is missing and cannot be installed, or does not start.
 */
export async function startCeph(dir: string, log: Log): Promise<Ceph> {
  if (await which("ceph-mon") === null) {
    if (Deno.uid() !== 0 || await which("apt-get") === null) {
      throw new Error("Ceph is not installed (scripts/ceph/install.sh installs it, as root)");
    }
    log("installing Ceph (scripts/ceph/install.sh)");
    await run("bash", [`${REPO}/scripts/ceph/install.sh`]);
  }
  const env = {
    CEPH_DIR: dir,
    RGW_PORT: String(freePort()),
    MON_PORT: String(freePort()),
    OBJECTSTORE: "bluestore",
  };
  const stop = async () => {
    await run("bash", [`${REPO}/scripts/ceph/stop.sh`], {
      env: { ...env, FAST: "1" },
      allowFail: true,
    });
  };
  try {
    await run("bash", [`${REPO}/scripts/ceph/start.sh`], { env });
  } catch (err) {
    await stop();
    throw err;
  }
  const vars = parseEnv(await Deno.readTextFile(`${dir}/env`));
  return {
    s3: {
      endpoint: vars.FERRY_TEST_S3_ENDPOINT,
      accessKey: vars.FERRY_TEST_S3_ACCESS_KEY,
      secretKey: vars.FERRY_TEST_S3_SECRET_KEY,
      region: vars.FERRY_TEST_S3_REGION || "us-east-1",
    },
    stop,
  };
}
