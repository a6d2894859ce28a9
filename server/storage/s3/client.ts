/**
 * {@linkcode S3Client}: one bucket of an S3-compatible store (Ceph RGW, MinIO, AWS S3, R2),
 * reached with SigV4-signed `fetch` requests (`aws4fetch`). It builds URLs, signs, retries what
 * may be retried, and turns error replies into {@linkcode S3Error}. The operations themselves
 * (`headObject`, `putObject`, `listObjects`, ...) are functions in the files beside this one.
 *
 * Bodies are sent as `UNSIGNED-PAYLOAD` unless the caller gives their SHA-256, so nothing is
 * read twice. A body must be a `Uint8Array` or string (known length): Deno's `fetch` sends a
 * `ReadableStream` body chunked, without `Content-Length`, and S3 refuses that
 * (`MissingContentLength`). A `Uint8Array` body of 64 KiB or more goes through `node:http`
 * (`node_transport.ts`), which does not copy it, unless a `fetch` was given.
 *
 * @module
 */

import { AwsClient } from "aws4fetch";
import { FerryError, messageOf } from "../../../protocol/errors.ts";
import { s3CodeForStatus, S3Error } from "./errors.ts";
import { checkKey, encodeKeyPath, encodeRfc3986 } from "./keys.ts";
import { parseXml, type XmlElement, xmlText } from "./xml.ts";
import { NodeTransport } from "./node_transport.ts";

/** Bodies from this size on are sent by `node:http`, without copies (see `node_transport.ts`). */
const NODE_BODY_MIN = 64 * 1024;

/** Keys for SigV4. */
export interface S3Credentials {
  /** The access key id. */
  readonly accessKeyId: string;
  /** The secret access key. */
  readonly secretAccessKey: string;
  /** A session token, for temporary credentials. */
  readonly sessionToken?: string;
}

/** How an {@linkcode S3Client} reaches its bucket. */
export interface S3ClientOptions {
  /** The store's base URL, e.g. `http://127.0.0.1:7480` or `https://s3.eu-west-1.amazonaws.com`. */
  readonly endpoint: string;
  /** The bucket, which must exist. */
  readonly bucket: string;
  /** The SigV4 region; `us-east-1` when not given (Ceph, MinIO), `auto` for R2. */
  readonly region?: string;
  /** The keys. */
  readonly credentials: S3Credentials;
  /**
   * `path` (default): `endpoint/bucket/key`, which every store accepts.
   * `virtual-host`: `bucket.endpoint-host/key`.
   */
  readonly addressing?: "path" | "virtual-host";
  /**
   * How often a request is retried (default 2): after a 503 or 429, and, when it may be replayed,
   * after another 5xx or a network failure.
   */
  readonly retries?: number;
  /** The first retry waits up to this long (jittered), doubling each time (default 50 ms). */
  readonly retryDelayMs?: number;
  /** The `fetch` to send with (default: the global one); e.g. one that counts requests. */
  readonly fetch?: (request: Request) => Promise<Response>;
}

/** The HTTP methods S3 uses. */
export type S3Method = "GET" | "HEAD" | "PUT" | "POST" | "DELETE";

/** Query parameters; an entry whose value is `undefined` is left out, `""` sends `name=`. */
export type S3Query = Readonly<Record<string, string | number | undefined>>;

/** One request, as the operation functions describe it to {@linkcode S3Client.send}. */
export interface S3Request {
  /** The HTTP method. */
  readonly method: S3Method;
  /** The object key; none for a request on the bucket itself (list, multipart uploads). */
  readonly key?: string;
  /** Query parameters. */
  readonly query?: S3Query;
  /** Request headers. */
  readonly headers?: Readonly<Record<string, string>>;
  /** The body, of known length. */
  readonly body?: Uint8Array | string;
  /** The hex SHA-256 of `body`, to have the store verify it (else `UNSIGNED-PAYLOAD`). */
  readonly payloadSha256?: string;
  /** Statuses that are success (default 200, 204, 206); any other becomes an {@linkcode S3Error}. */
  readonly ok?: readonly number[];
  /**
   * Whether the request may be sent again after a network failure, when it may have taken
   * effect. Default: yes, unless it is a POST or carries `If-Match` / `If-None-Match` (a replayed
   * create-only PUT that had in fact succeeded would report `PreconditionFailed`).
   */
  readonly replayable?: boolean;
  /** Aborts the request. */
  readonly signal?: AbortSignal;
}

/**
 * What this client has learned about its store. Ceph 16 honours `If-Match` on a PUT only when the
 * ETag is written without its quotes (it always answers 412 to the quoted form that HTTP and AWS
 * use); `putObject` finds out on first use and keeps the answer here.
 */
export interface S3Quirks {
  /** How `If-Match` on PUT must spell an ETag: `quoted` (HTTP), `unquoted` (Ceph 16), or not known yet. */
  putIfMatch: "quoted" | "unquoted" | "unknown";
}

const DEFAULT_OK: readonly number[] = [200, 204, 206];
const MAX_ERROR_BODY = 64 * 1024;

/** One bucket of an S3-compatible store. */
export class S3Client {
  /** The endpoint, without a trailing slash. */
  readonly endpoint: string;
  /** The bucket. */
  readonly bucket: string;
  /** The SigV4 region. */
  readonly region: string;
  /** Path-style or virtual-host-style URLs. */
  readonly addressing: "path" | "virtual-host";
  /** What this client has learned about the store's deviations. */
  readonly quirks: S3Quirks = { putIfMatch: "unknown" };
  readonly #signer: AwsClient;
  readonly #base: URL;
  readonly #basePath: string;
  readonly #retries: number;
  readonly #retryDelayMs: number;
  readonly #fetch: (request: Request) => Promise<Response>;
  readonly #node: NodeTransport | undefined;

  /** Creates a client; nothing is sent until the first request. Throws `USAGE` on a bad endpoint. */
  constructor(options: S3ClientOptions) {
    let base: URL;
    try {
      base = new URL(options.endpoint);
    } catch {
      throw new FerryError("USAGE", `S3 endpoint is not a URL: ${options.endpoint}`);
    }
    if (base.protocol !== "http:" && base.protocol !== "https:") {
      throw new FerryError("USAGE", `S3 endpoint must be http: or https:, not ${base.protocol}`);
    }
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(options.bucket)) {
      throw new FerryError("USAGE", `not a valid S3 bucket name: ${options.bucket}`);
    }
    base.search = "";
    base.hash = "";
    this.#basePath = base.pathname.replace(/\/+$/, ""); // "" for an endpoint without a path
    this.#base = base;
    this.endpoint = base.origin + this.#basePath;
    this.bucket = options.bucket;
    this.region = options.region ?? "us-east-1";
    this.addressing = options.addressing ?? "path";
    this.#retries = options.retries ?? 2;
    this.#retryDelayMs = options.retryDelayMs ?? 50;
    this.#fetch = options.fetch ?? ((request) => fetch(request));
    this.#node = options.fetch === undefined ? new NodeTransport() : undefined;
    this.#signer = new AwsClient({
      accessKeyId: options.credentials.accessKeyId,
      secretAccessKey: options.credentials.secretAccessKey,
      sessionToken: options.credentials.sessionToken,
      service: "s3",
      region: this.region,
      retries: 0, // retries are decided here, where it is known whether a body can be replayed
    });
  }

  /** Returns the URL of `key` (or of the bucket when `key` is undefined) with `query`. */
  url(key?: string, query?: S3Query): URL {
    if (key !== undefined) checkKey(key);
    const url = new URL(this.#base.href);
    const path = key === undefined ? "" : "/" + encodeKeyPath(key);
    if (this.addressing === "virtual-host") {
      url.hostname = `${this.bucket}.${url.hostname}`;
      url.pathname = `${this.#basePath}${path || "/"}`;
    } else {
      url.pathname = `${this.#basePath}/${this.bucket}${path}`;
    }
    const pairs: string[] = [];
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value !== undefined) pairs.push(`${encodeRfc3986(name)}=${encodeRfc3986(String(value))}`);
    }
    url.search = pairs.join("&");
    return url;
  }

  /** The `x-amz-copy-source` value naming `key` in this bucket. */
  copySource(key: string): string {
    checkKey(key);
    return `/${this.bucket}/${encodeKeyPath(key)}`;
  }

  /**
   * Signs and sends `request`; returns the reply when its status is in `request.ok`, whose body
   * the caller must read or cancel. Throws {@linkcode S3Error}: with the store's code for an
   * error reply, `NetworkError` when no reply came.
   */
  async send(request: S3Request): Promise<Response> {
    const url = this.url(request.key, request.query).href;
    const headers: Record<string, string> = { ...request.headers };
    if (request.payloadSha256) headers["x-amz-content-sha256"] = request.payloadSha256;
    const conditional = Object.keys(headers).some((h) => /^if-(none-)?match$/i.test(h));
    const replayable = request.replayable ?? (request.method !== "POST" && !conditional);
    const ok = request.ok ?? DEFAULT_OK;
    const key = request.key ?? "";
    for (let attempt = 0;; attempt++) {
      let res: Response;
      try {
        const body = request.body;
        if (
          this.#node !== undefined && body instanceof Uint8Array && body.length >= NODE_BODY_MIN
        ) {
          const signed = await this.#signer.sign(url, { method: request.method, headers });
          res = await this.#node.send(signed, body, request.signal);
        } else {
          const signed = await this.#signer.sign(url, {
            method: request.method,
            headers,
            // a Uint8Array over a SharedArrayBuffer is not BodyInit in the types; fetch copies it
            body: body as BodyInit | undefined,
            signal: request.signal,
          });
          res = await this.#fetch(signed);
        }
      } catch (err) {
        if (request.signal?.aborted) throw request.signal.reason;
        if (replayable && attempt < this.#retries) {
          await this.#pause(attempt);
          continue;
        }
        throw new S3Error(
          { s3Code: "NetworkError", status: 0, method: request.method, key },
          `${request.method} ${this.#describe(key)}: ${err instanceof Error ? err.message : err}`,
          { cause: err },
        );
      }
      if (ok.includes(res.status)) return res;
      // 503 and 429 mean "not done, slow down"; another 5xx may have come after the write took
      // effect, so only a request that may be replayed is sent again after one
      const transient = res.status === 503 || res.status === 429 ||
        (replayable && res.status >= 500);
      if (transient && attempt < this.#retries && request.signal?.aborted !== true) {
        await res.body?.cancel();
        await this.#pause(attempt);
        continue;
      }
      throw await this.#errorFrom(res, request.method, key);
    }
  }

  /** Waits before retry `attempt` (0-based): full jitter over an exponential ceiling. */
  #pause(attempt: number): Promise<void> {
    const ms = Math.random() * this.#retryDelayMs * 2 ** attempt;
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  #describe(key: string): string {
    return key === "" ? `bucket ${this.bucket}` : `${this.bucket}/${key}`;
  }

  /** Reads an error reply (at most 64 KiB of it) into an {@linkcode S3Error}. */
  async #errorFrom(res: Response, method: string, key: string): Promise<S3Error> {
    let s3Code = s3CodeForStatus(res.status);
    let message = "";
    const requestId = res.headers.get("x-amz-request-id") ?? undefined;
    const text = await readCapped(res, MAX_ERROR_BODY);
    if (text.trim() !== "") {
      try {
        const root = parseXml(text);
        if (root.name === "Error") {
          s3Code = xmlText(root, "Code") || s3Code;
          message = xmlText(root, "Message") ?? "";
        }
      } catch {
        // not XML (a proxy's page): keep the code the status implies
      }
    }
    return new S3Error(
      { s3Code, status: res.status, method, key, requestId },
      `${method} ${this.#describe(key)}: ${res.status} ${s3Code}${message ? `: ${message}` : ""}`,
    );
  }
}

/** Reads at most `limit` bytes of `res`'s body as text, then cancels the rest. */
async function readCapped(res: Response, limit: number): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < limit) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  const all = new Uint8Array(Math.min(size, limit));
  let at = 0;
  for (const c of chunks) {
    const n = Math.min(c.length, all.length - at);
    all.set(c.subarray(0, n), at);
    at += n;
  }
  return new TextDecoder().decode(all);
}

/**
 * Reads a small XML reply and returns its root element. A reply whose root is `<Error>` (S3 may
 * send one with status 200 for CompleteMultipartUpload and CopyObject) becomes an
 * {@linkcode S3Error}; so does one that is not XML.
 */
export async function readXmlReply(
  res: Response,
  method: string,
  key = "",
): Promise<XmlElement> {
  const text = await res.text();
  const requestId = res.headers.get("x-amz-request-id") ?? undefined;
  let root: XmlElement;
  try {
    root = parseXml(text);
  } catch (err) {
    throw new S3Error(
      { s3Code: "InvalidResponse", status: res.status, method, key, requestId },
      `${method} ${key}: the store's reply is not XML: ${messageOf(err)}`,
      { cause: err },
    );
  }
  if (root.name === "Error") {
    const s3Code = xmlText(root, "Code") || "InternalError";
    throw new S3Error(
      { s3Code, status: res.status, method, key, requestId },
      `${method} ${key}: ${s3Code}: ${xmlText(root, "Message") ?? ""}`,
    );
  }
  return root;
}
