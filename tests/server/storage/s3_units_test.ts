/**
 * Tests of server/storage/s3 that need no store: the XML reader, key encoding and order,
 * metadata rules, credentials files, the resumable SHA-256, paging, URLs and network failures.
 * The requests themselves are tested against a real store in s3_client_test.ts.
 *
 * Run: deno test --allow-read --allow-write --allow-net --allow-env tests/server/storage/s3_units_test.ts
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { type ErrorCode, FerryError } from "../../../protocol/errors.ts";
import {
  bareEtag,
  checkKey,
  compareKeys,
  decodeCheckpoint,
  decodeListValue,
  encodeCheckpoint,
  encodeKeyPath,
  getObject,
  isS3Error,
  keptBytes,
  metadataFromHeaders,
  metadataHeaders,
  paginate,
  parseS3CredentialsFile,
  parseXml,
  quotedEtag,
  readS3CredentialsFile,
  ResumableSha256,
  S3Client,
  s3CredentialsFrom,
  xmlChildren,
  XmlSyntaxError,
  xmlText,
} from "../../../server/storage/s3/mod.ts";

const CREDS = { accessKeyId: "AK", secretAccessKey: "SK" };

function assertCode(fn: () => unknown, code: ErrorCode, label: string): void {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof FerryError, `${label}: expected FerryError ${code}, got ${err}`);
    assert.equal(err.code, code, `${label}: ${err.message}`);
    return true;
  }, label);
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

// --- XML ---------------------------------------------------------------------------------

Deno.test("xml: reads a ListBucketResult with entities, self-closing tags and namespaces", () => {
  const root = parseXml(
    `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
      `<Name>b</Name><Prefix/><Contents><Key>a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos; &#233;&#x1F600;</Key>` +
      `<ETag>&quot;abc&quot;</ETag><Size>12</Size></Contents><!-- note -->` +
      `<s3:Contents x='1>2'><s3:Key><![CDATA[<raw & text>]]></s3:Key><Size>0</Size></s3:Contents>` +
      `</ListBucketResult>`,
  );
  assert.equal(root.name, "ListBucketResult");
  assert.equal(xmlText(root, "Prefix"), "");
  const contents = xmlChildren(root, "Contents");
  assert.equal(contents.length, 2);
  assert.equal(xmlText(contents[0], "Key"), `a & b <c> "d" 'e' é😀`);
  assert.equal(bareEtag(xmlText(contents[0], "ETag")!), "abc");
  assert.equal(xmlText(contents[1], "Key"), "<raw & text>");
  assert.equal(xmlText(root, "Missing"), undefined);
});

Deno.test("xml: refuses malformed input and DTDs", () => {
  for (
    const bad of [
      "<a><b></a></b>",
      "<a>",
      "<a></a><b></b>",
      "text<a/>",
      "<!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>",
      "<a>&bogus;</a>",
      "<a>&amp</a>",
      "<a><![CDATA[x</a>",
      "",
      "<a x='1></a>",
    ]
  ) {
    assert.throws(() => parseXml(bad), XmlSyntaxError, JSON.stringify(bad));
  }
});

// --- keys ---------------------------------------------------------------------------------

Deno.test("keys: path encoding keeps slashes and encodes everything SigV4 wants encoded", () => {
  assert.equal(encodeKeyPath("a b/c+d%e"), "a%20b/c%2Bd%25e");
  assert.equal(encodeKeyPath("~!'()*.-_"), "~%21%27%28%29%2A.-_");
  assert.equal(encodeKeyPath("ü/😀"), "%C3%BC/%F0%9F%98%80");
  assert.equal(encodeKeyPath("a//b/"), "a//b/");
  assert.equal(encodeKeyPath("q?x=1&y#z"), "q%3Fx%3D1%26y%23z");
});

Deno.test("keys: list values decode from both AWS (+ for space) and Ceph (%20) encodings", () => {
  assert.equal(decodeListValue("a+b%2Bc%25"), "a b+c%");
  assert.equal(decodeListValue("a%20b%2Bc"), "a b+c");
  assert.equal(decodeListValue("%C3%BC%2F%F0%9F%98%80"), "ü/😀");
});

Deno.test("keys: checkKey refuses empty, dot segments, lone surrogates and over 1,024 bytes", () => {
  assertCode(() => checkKey(""), "BAD_NAME", "empty");
  assertCode(() => checkKey("a/../b"), "BAD_NAME", "..");
  assertCode(() => checkKey("./a"), "BAD_NAME", ".");
  assertCode(() => checkKey("a\ud800b"), "BAD_NAME", "lone surrogate");
  assertCode(() => checkKey("é".repeat(513)), "NAME_TOO_LONG", "1,026 bytes");
  checkKey("é".repeat(512));
  checkKey("a/.hidden/..x/b c");
});

Deno.test("keys: compareKeys orders by UTF-8 bytes, unlike string <", () => {
  const keys = ["\uffff", "😀", "a", "a/b", "a0", "é", "\ue000", "A"];
  const byBytes = [...keys].sort((x, y) => {
    const a = new TextEncoder().encode(x), b = new TextEncoder().encode(y);
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
    return a.length - b.length;
  });
  assert.deepEqual([...keys].sort(compareKeys), byBytes);
  assert.ok("😀" < "\uffff", "plain < puts the emoji first (the bug compareKeys avoids)");
  assert.ok(compareKeys("😀", "\uffff") > 0);
});

// --- metadata and ETags -------------------------------------------------------------------

Deno.test("metadata: printable ASCII values and lower-case names only, 2 KiB in all", () => {
  assert.deepEqual(metadataHeaders({ sha256: "ab", "file-size": "12 34" }), [
    ["x-amz-meta-sha256", "ab"],
    ["x-amz-meta-file-size", "12 34"],
  ]);
  assertCode(() => metadataHeaders({ Name: "x" }), "BAD_ARGUMENT", "upper-case name");
  assertCode(() => metadataHeaders({ "a_b": "x" }), "BAD_ARGUMENT", "underscore");
  assertCode(() => metadataHeaders({ a: "ü" }), "BAD_ARGUMENT", "non-ASCII value");
  assertCode(() => metadataHeaders({ a: "x  y" }), "BAD_ARGUMENT", "double space");
  assertCode(() => metadataHeaders({ a: " x" }), "BAD_ARGUMENT", "leading space");
  assertCode(() => metadataHeaders({ a: "x\n" }), "BAD_ARGUMENT", "newline");
  assertCode(() => metadataHeaders({ a: "x".repeat(2048) }), "BAD_ARGUMENT", "over 2 KiB");
  const h = new Headers({ "x-amz-meta-sha256": "ab", "X-Amz-Meta-Other": "c", etag: '"e"' });
  assert.deepEqual(metadataFromHeaders(h), { sha256: "ab", other: "c" });
  assert.equal(bareEtag('W/"abc-2"'), "abc-2");
  assert.equal(quotedEtag("abc"), '"abc"');
  assert.equal(quotedEtag('"abc"'), '"abc"');
});

// --- credentials --------------------------------------------------------------------------

Deno.test("credentials: from variables, both or neither", () => {
  const vars = (m: Record<string, string>) => (n: string) => m[n];
  assert.equal(s3CredentialsFrom(vars({}), "env"), undefined);
  assert.deepEqual(
    s3CredentialsFrom(vars({ FERRY_S3_ACCESS_KEY: "a", FERRY_S3_SECRET_KEY: "s" }), "env"),
    { accessKeyId: "a", secretAccessKey: "s", sessionToken: undefined },
  );
  assertCode(
    () => s3CredentialsFrom(vars({ FERRY_S3_ACCESS_KEY: "a" }), "env"),
    "USAGE",
    "secret missing",
  );
});

Deno.test("credentials: file of NAME=value lines; unknown lines refused", () => {
  const text = "# keys\nFERRY_S3_ACCESS_KEY = ak\n\nFERRY_S3_SECRET_KEY=s=k/+\n";
  assert.deepEqual(parseS3CredentialsFile(text, "f"), {
    accessKeyId: "ak",
    secretAccessKey: "s=k/+",
    sessionToken: undefined,
  });
  assertCode(() => parseS3CredentialsFile("AWS_SECRET=x\n", "f"), "USAGE", "unknown name");
  assertCode(() => parseS3CredentialsFile("FERRY_S3_ACCESS_KEY=a\n", "f"), "USAGE", "one key");
  assertCode(() => parseS3CredentialsFile("", "f"), "USAGE", "empty");
});

Deno.test({
  name: "credentials: a file readable by others is refused, 0600 is read",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const path = join(dir, "s3.keys");
      await Deno.writeTextFile(path, "FERRY_S3_ACCESS_KEY=a\nFERRY_S3_SECRET_KEY=b\n", {
        mode: 0o644,
      });
      await Deno.chmod(path, 0o644);
      await assert.rejects(() => readS3CredentialsFile(path), (e) => {
        assert.ok(e instanceof FerryError && e.code === "USAGE" && /chmod 600/.test(e.message));
        return true;
      });
      await Deno.chmod(path, 0o600);
      assert.equal((await readS3CredentialsFile(path)).secretAccessKey, "b");
      await assert.rejects(() => readS3CredentialsFile(join(dir, "none")), FerryError);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// --- resumable SHA-256 --------------------------------------------------------------------

Deno.test("ResumableSha256: save, restore elsewhere, go on: same digest as node:crypto", async () => {
  const data = new Uint8Array(3 * 1024 * 1024 + 77);
  for (let o = 0; o < data.length; o += 65536) {
    crypto.getRandomValues(data.subarray(o, Math.min(o + 65536, data.length)));
  }
  for (const cut of [0, 1, 63, 64, 65, 1_000_003, data.length]) {
    const first = await ResumableSha256.create();
    first.update(data.subarray(0, cut));
    assert.equal(hex(first.digestSoFar()), sha256(data.subarray(0, cut)), `prefix ${cut}`);
    const state = first.save();
    assert.ok(state.length < 200, `state is small (${state.length} bytes)`);
    const second = await ResumableSha256.restore(state.slice());
    assert.equal(second.bytesHashed, cut);
    second.update(data.subarray(cut, cut + 5));
    second.update(data.subarray(cut + 5));
    assert.equal(hex(second.digest()), sha256(data), `cut at ${cut}`);
    assert.throws(() => second.update(new Uint8Array(1)), FerryError, "update after digest");
    // the first one is unchanged by the save and the digest so far
    first.update(data.subarray(cut));
    assert.equal(hex(first.digest()), sha256(data));
  }
});

Deno.test("ResumableSha256: a damaged or foreign state is BAD_ARGUMENT", async () => {
  const h = await ResumableSha256.create();
  h.update(new Uint8Array(100));
  const state = h.save();
  for (
    const bad of [new Uint8Array(0), state.subarray(0, 12), new Uint8Array(state.length)]
  ) {
    await assert.rejects(() => ResumableSha256.restore(bad), (e) => {
      assert.ok(e instanceof FerryError && e.code === "BAD_ARGUMENT", String(e));
      return true;
    });
  }
  const inner = state.slice();
  inner[12] ^= 0xff; // hash-wasm's own header
  await assert.rejects(() => ResumableSha256.restore(inner), FerryError);
});

// --- paging -------------------------------------------------------------------------------

Deno.test("paginate: one page ahead at most, in order, and nothing left running on break", async () => {
  const fetched: number[] = [];
  let inFlight = 0;
  const pages = (n: number) =>
    paginate<number, number>(undefined, async (cursor = 0) => {
      fetched.push(cursor);
      inFlight++;
      await new Promise((r) => setTimeout(r, 2));
      inFlight--;
      const items = [cursor * 10, cursor * 10 + 1];
      return { items, next: cursor + 1 < n ? cursor + 1 : undefined };
    });
  const seen: number[] = [];
  for await (const x of pages(5)) {
    seen.push(x);
    // while item k of page p is used, pages up to p+1 may have been asked for, no more
    assert.ok(fetched.length <= Math.floor((seen.length - 1) / 2) + 2, `fetched ${fetched}`);
  }
  assert.deepEqual(seen, [0, 1, 10, 11, 20, 21, 30, 31, 40, 41]);
  assert.deepEqual(fetched, [0, 1, 2, 3, 4]);
  fetched.length = 0;
  for await (const x of pages(100)) if (x === 10) break;
  assert.equal(inFlight, 0, "the prefetched page finished before the loop returned");
  assert.deepEqual(fetched, [0, 1, 2]);
});

Deno.test("paginate: a cursor that does not move is an error, not an endless loop", async () => {
  const stuck = paginate<number, string>(
    undefined,
    () => Promise.resolve({ items: [1], next: "x" }),
  );
  await assert.rejects(async () => {
    for await (const _ of stuck) { /* drain */ }
  }, (e) => isS3Error(e, "InvalidResponse"));
});

// --- client -------------------------------------------------------------------------------

Deno.test("S3Client: path-style and virtual-host URLs, base paths, query encoding", () => {
  const path = new S3Client({
    endpoint: "http://127.0.0.1:7480/",
    bucket: "b-1",
    credentials: CREDS,
  });
  assert.equal(path.endpoint, "http://127.0.0.1:7480");
  assert.equal(path.url().href, "http://127.0.0.1:7480/b-1");
  assert.equal(
    path.url("a b/ü+", { uploadId: "2~x/y+z=", partNumber: 3 }).href,
    "http://127.0.0.1:7480/b-1/a%20b/%C3%BC%2B?uploadId=2~x%2Fy%2Bz%3D&partNumber=3",
  );
  assert.equal(path.url(undefined, { uploads: "", prefix: undefined }).search, "?uploads=");
  assert.equal(path.copySource("d/e f"), "/b-1/d/e%20f");
  const based = new S3Client({
    endpoint: "https://gw.example/s3/",
    bucket: "bkt",
    credentials: CREDS,
  });
  assert.equal(based.url("k").href, "https://gw.example/s3/bkt/k");
  const vhost = new S3Client({
    endpoint: "https://s3.eu-west-1.amazonaws.com",
    bucket: "my.bucket",
    region: "eu-west-1",
    addressing: "virtual-host",
    credentials: CREDS,
  });
  assert.equal(vhost.url("k/l").href, "https://my.bucket.s3.eu-west-1.amazonaws.com/k/l");
  assert.equal(vhost.url().href, "https://my.bucket.s3.eu-west-1.amazonaws.com/");
  assertCode(() => path.url("a/../b"), "BAD_NAME", "dot segment in a URL");
  assertCode(
    () => new S3Client({ endpoint: "ftp://x", bucket: "bkt", credentials: CREDS }),
    "USAGE",
    "ftp",
  );
  assertCode(
    () => new S3Client({ endpoint: "not a url", bucket: "bkt", credentials: CREDS }),
    "USAGE",
    "not a URL",
  );
  assertCode(
    () => new S3Client({ endpoint: "http://x", bucket: "Bad_Bucket", credentials: CREDS }),
    "USAGE",
    "bucket name",
  );
});

Deno.test("S3Client: no reply is NetworkError, after retries only for replayable requests", async () => {
  // a port that was free a moment ago: connection refused
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  let calls = 0;
  const client = new S3Client({
    endpoint: `http://127.0.0.1:${port}`,
    bucket: "bkt",
    credentials: CREDS,
    retries: 2,
    retryDelayMs: 1,
    fetch: (r) => {
      calls++;
      return fetch(r);
    },
  });
  await assert.rejects(() => getObject(client, "k"), (e) => {
    assert.ok(isS3Error(e, "NetworkError"), String(e));
    assert.equal(e.status, 0);
    assert.equal(e.code, "INTERNAL");
    return true;
  });
  assert.equal(calls, 3, "GET: first try and two retries");
  calls = 0;
  await assert.rejects(() => client.send({ method: "POST", key: "k", query: { uploads: "" } }));
  assert.equal(calls, 1, "POST is not replayed");
  calls = 0;
  await assert.rejects(() =>
    client.send({ method: "PUT", key: "k", body: "x", headers: { "if-none-match": "*" } })
  );
  assert.equal(calls, 1, "a conditional PUT is not replayed");
});

// --- upload checkpoints -------------------------------------------------------------------

Deno.test("checkpoint: encode and decode round-trip; malformed ones are BAD_ARGUMENT", async () => {
  const h = await ResumableSha256.create();
  h.update(new Uint8Array(1000).fill(7));
  const cp = {
    key: "dir/ü b.bin",
    uploadId: "2~abc/+=",
    size: 5000,
    parts: [
      { partNumber: 1, etag: "e1", size: 600 },
      { partNumber: 2, etag: "e2", size: 400 },
    ],
    hashState: h.save(),
  };
  const back = decodeCheckpoint(encodeCheckpoint(cp));
  assert.deepEqual(back, cp);
  assert.equal(keptBytes(back), 1000);
  const restored = await ResumableSha256.restore(back.hashState);
  assert.equal(restored.bytesHashed, 1000);

  const json = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
  const good = JSON.parse(new TextDecoder().decode(encodeCheckpoint(cp)));
  for (
    const [label, bytes] of [
      ["not JSON", new TextEncoder().encode("{")],
      ["not UTF-8", new Uint8Array([0xff, 0xfe])],
      ["null", json(null)],
      ["version", json({ ...good, version: 2 })],
      ["size", json({ ...good, size: -1 })],
      ["part numbers not consecutive", json({ ...good, parts: [[2, "e", 1]] })],
      ["part size", json({ ...good, parts: [[1, "e", 1.5]] })],
      ["more kept than declared", json({ ...good, size: 999 })],
      ["hash state not base64", json({ ...good, hashState: "%%%" })],
    ] as const
  ) {
    assertCode(() => decodeCheckpoint(bytes), "BAD_ARGUMENT", label);
  }
});
