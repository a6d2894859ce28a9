/**
 * ferry on S3 storage against the same transfers through the S3 API directly (the "s3" column):
 * the big file get and put, and the small files `put -r` and `get -r`.
 *
 * The rows are here, and skipped with the reason in them, until three things exist: an S3 store
 * (S3_ENDPOINT, S3_ACCESS_KEY and S3_SECRET_KEY set; a local Ceph RADOS Gateway will do), a
 * server option to keep its files there (an `--s3…` flag in `server/main.ts --help`), and the
 * measurements in this file: ferry's with `ferryBig` (big_file.ts) and `measureRow` (many_files.ts) against a server
 * started on S3, the direct ones with a signed-request client (e.g. `npm:aws4fetch`), multipart
 * for the big file.
 *
 * @module
 */

import { sizeLabel } from "../config.ts";
import type { Bench } from "./context.ts";

/** The S3 rows, skipped with the reason until they can run (see the module comment). */
export function s3(b: Bench): Promise<void> {
  const size = sizeLabel(b.config.bigMiB);
  const files = `${b.config.files.toLocaleString("en")} × ${b.config.fileKiB} KiB`;
  const cases = [
    b.results.add("s3-big-get", `${size} get, ferry on S3`, "MB/s"),
    b.results.add("s3-big-put", `${size} put, ferry on S3`, "MB/s"),
    b.results.add("s3-many-put-r", `${files} put -r, ferry on S3`, "files/s"),
    b.results.add("s3-many-get-r", `${files} get -r, ferry on S3`, "files/s"),
  ];
  const why = b.config.s3 === null
    ? "no S3 endpoint configured (set S3_ENDPOINT, S3_ACCESS_KEY and S3_SECRET_KEY)"
    : !b.features.serverS3
    ? "the server has no S3 storage option yet (server/main.ts --help lists no --s3… flag)"
    : "the S3 measurements are not written yet (bench/cases/s3.ts)";
  for (const c of cases) c.skipped = why;
  b.results.skipped.push(`S3 rows: ${why}`);
  b.log(`skipping the S3 rows: ${why}`);
  return Promise.resolve();
}
