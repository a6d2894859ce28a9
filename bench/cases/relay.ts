/**
 * The big file and the small files again, through `delay_proxy.ts` relays adding 25 ms each way
 * (a 50 ms round trip), for ferry, the ceiling, scp and sftp alike. scp and sftp put only the
 * first 100 small files (3-4 round trips each: all 1,000 would take minutes), so the small files
 * are two rows: ferry with all of them, and all three tools with those 100.
 *
 * @module
 */

import { startRelay } from "../harness/peers.ts";
import { bigFile } from "./big_file.ts";
import type { Bench } from "./context.ts";
import { measureRow, putRecursiveRow } from "./many_files.ts";

/** Starts the relays and runs the big-file and `put -r` cases through them. */
export async function relay(b: Bench): Promise<void> {
  const delay = b.config.delayMs;
  const ports = {
    ferry: (await startRelay(b.services, "ferry", b.ferry.port, delay)).port,
    ssh: b.ssh === null ? 0 : (await startRelay(b.services, "ssh", b.ssh.port, delay)).port,
    ceiling: (await startRelay(b.services, "ceiling", b.ceiling.port, delay)).port,
  };
  const label = `, ${delay} ms each way`;
  await bigFile(b, {
    label,
    id: "-relay",
    ports,
    reps: b.config.relayReps,
    sshReps: b.config.relaySshReps,
    sshFile: { path: b.data.relaySshBig, bytes: b.data.relaySshBytes },
  });

  const n = b.config.files;
  const few = Math.min(b.config.relaySshFiles, n);
  const kib = `${b.config.fileKiB} KiB put -r${label}`;
  const d = b.data;
  const rows = [
    putRecursiveRow(b, "many-put-r-relay", `${n.toLocaleString("en")} × ${kib}`, d.manyDir, n),
  ];
  if (few < n) {
    rows.push(
      putRecursiveRow(
        b,
        "many-put-r-relay-few",
        `${few} × ${kib} (the files scp and sftp put)`,
        d.subsetDir,
        few,
      ),
    );
  }
  const cases = rows.map((row) => b.results.add(row.id, row.title, "files/s"));
  const sshCase = cases.length - 1; // scp and sftp run on the last row only
  for (let rep = 0; rep < Math.max(b.config.relayReps, b.config.relaySshReps); rep++) {
    for (const [i, row] of rows.entries()) {
      if (rep < b.config.relayReps) await measureRow(b, cases[i], row, "ferry", ports);
      if (b.ssh !== null && i === sshCase && rep < b.config.relaySshReps) {
        await measureRow(b, cases[i], row, "scp", ports);
        await measureRow(b, cases[i], row, "sftp", ports);
      }
    }
  }
  if (few < n) {
    cases[0].notes.push(
      `scp and sftp: the next row (${few} files; all ${n} would take them minutes, 3-4 round trips per file)`,
    );
  }
}
