/**
 * A small S3 client for ferry's object-store storage: one bucket of Ceph RGW, MinIO, AWS S3 or R2,
 * SigV4 via `aws4fetch`, web streams, typed errors, and the quirks of Ceph 16 handled.
 *
 * ```ts ignore
 * const client = new S3Client({ endpoint, bucket, credentials });
 * await putObject(client, "a/b.txt", bytes, { ifNoneMatch: "*", metadata: { sha256: hex } });
 * for await (const e of listObjects(client, { prefix: "a/", delimiter: "/" })) console.log(e);
 * ```
 *
 * @module
 */

export * from "./bucket.ts";
export * from "./client.ts";
export * from "./copy_object.ts";
export * from "./credentials.ts";
export * from "./delete_object.ts";
export * from "./errors.ts";
export * from "./get_object.ts";
export * from "./head_object.ts";
export * from "./keys.ts";
export * from "./list_objects.ts";
export * from "./list_parts.ts";
export * from "./list_uploads.ts";
export * from "./metadata.ts";
export * from "./multipart.ts";
export * from "./object_info.ts";
export * from "./object_reader.ts";
export * from "./paginate.ts";
export * from "./put_object.ts";
export * from "./resumable_sha256.ts";
export * from "./upload_checkpoint.ts";
export * from "./xml.ts";
