/**
 * CreateBucket and DeleteBucket, for setting up a store and for tests. ferry's server itself
 * never creates or deletes its bucket: it must exist.
 *
 * @module
 */

import type { S3Client } from "./client.ts";

/** Options with only an abort signal. */
export interface BucketOptions {
  /** Aborts the request. */
  readonly signal?: AbortSignal;
}

/**
 * Creates the client's bucket (in the client's region). Throws {@linkcode S3Error}
 * `BucketAlreadyOwnedByYou` / `BucketAlreadyExists` when it exists (Ceph answers 200 to the
 * first when the same user asks again).
 */
export async function createBucket(client: S3Client, options: BucketOptions = {}): Promise<void> {
  const body = client.region === "us-east-1" ? undefined : `<CreateBucketConfiguration>` +
    `<LocationConstraint>${client.region}</LocationConstraint></CreateBucketConfiguration>`;
  const res = await client.send({ method: "PUT", body, signal: options.signal });
  await res.body?.cancel();
}

/** Deletes the client's bucket, which must be empty (else `BucketNotEmpty`). */
export async function deleteBucket(client: S3Client, options: BucketOptions = {}): Promise<void> {
  const res = await client.send({ method: "DELETE", signal: options.signal });
  await res.body?.cancel();
}
