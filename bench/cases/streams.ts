/**
 * One big file over several connections (`ferry get --streams N`), compared with scp, sftp and
 * the ceiling of the single-connection rows. Skipped, with the reason in its rows, until the CLI
 * has the flag (read from `cli/main.ts --help`); the put row until `put` takes it too.
 *
 * @module
 */

import { sizeLabel } from "../config.ts";
import { ferryBig } from "./big_file.ts";
import { type Bench, directPorts } from "./context.ts";

/** The `--streams N` get and put rows. */
export async function streams(b: Bench): Promise<void> {
  const n = b.config.streams;
  const size = sizeLabel(b.config.bigMiB);
  const cases = {
    get: b.results.add("streams-get", `${size} get --streams ${n}`, "MB/s"),
    put: b.results.add("streams-put", `${size} put --streams ${n}`, "MB/s"),
  };
  cases.get.compareWith = "big-get";
  cases.put.compareWith = "big-put";
  if (!b.features.streams) {
    const why = "the CLI has no --streams flag yet (cli/main.ts --help does not list it)";
    cases.get.skipped = cases.put.skipped = why;
    b.results.skipped.push(`--streams rows: ${why}`);
    b.log(`skipping the --streams rows: ${why}`);
    return;
  }
  const directions: ("get" | "put")[] = ["get"];
  if (b.features.putStreams) directions.push("put");
  else {
    const why = "put does not take --streams yet (PROTOCOL.md §4.4 has ranges of downloads only)";
    cases.put.skipped = why;
    b.results.skipped.push(`--streams put row: ${why}`);
  }
  const port = directPorts(b).ferry;
  for (let rep = 0; rep < b.config.reps; rep++) {
    for (const direction of directions) {
      await ferryBig(b, cases[direction], port, direction, ["--streams", String(n)]);
    }
  }
}
