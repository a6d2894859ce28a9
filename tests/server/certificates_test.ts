// First: the Reflect polyfill that @peculiar/x509 needs at import time (server/certificates.ts
// loads both only when it makes a certificate).
import "reflect-metadata";
import {
  CERT_FILES,
  type CertificateSet,
  DEFAULT_NAMES,
  ensureCertificates,
  fingerprint,
  generateCertificates,
  writeCertificates,
} from "../../server/certificates.ts";
import * as x509 from "@peculiar/x509";
import { X509Certificate as NodeX509Certificate } from "node:crypto";
import { mode, tempDir } from "../_helpers/mod.ts";

function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new Error(message);
}

function assertEquals<T>(actual: T, expected: T, message = ""): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${message}${message ? ": " : ""}expected ${e}, got ${a}`);
}

async function assertRejects(fn: () => Promise<unknown>, message: string): Promise<Error> {
  try {
    await fn();
  } catch (error) {
    assert(error instanceof Error, `${message}: rejected with a non-Error`);
    return error;
  }
  throw new Error(`${message}: did not reject`);
}

async function readAll(conn: Deno.Conn, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let filled = 0;
  while (filled < length) {
    const n = await conn.read(out.subarray(filled));
    if (n === null) throw new Error(`EOF after ${filled} of ${length} bytes`);
    filled += n;
  }
  return out;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.length;) done += await conn.write(bytes.subarray(done));
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Connects to `port` on 127.0.0.1 over TLS, checking the server's certificate for `hostname`
 * (so any name can be tried without a resolver).
 */
async function connectAs(port: number, hostname: string, ca: string): Promise<Deno.TlsConn> {
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
  return await Deno.startTls(tcp, { hostname, caCerts: [ca] });
}

/**
 * A TLS listener on 127.0.0.1 serving `set`, answering one "ping" with "pong", and a client that
 * checks the certificate for `hostname` (default: connects to `hostname` itself).
 */
async function roundTrip(
  set: CertificateSet,
  hostname: string,
  options: { byAddress?: boolean } = {},
): Promise<void> {
  using listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: set.cert,
    key: set.key,
  });
  const server = (async () => {
    using conn = await listener.accept();
    const hs = await conn.handshake();
    assertEquals(hs.alpnProtocol, null, "no ALPN was offered");
    assertEquals(decoder.decode(await readAll(conn, 4)), "ping", "server read");
    await writeAll(conn, encoder.encode("pong"));
    await conn.closeWrite();
  })();
  const client = (async () => {
    using conn = options.byAddress
      ? await connectAs(listener.addr.port, hostname, set.caCert)
      : await Deno.connectTls({ hostname, port: listener.addr.port, caCerts: [set.caCert] });
    await conn.handshake();
    await writeAll(conn, encoder.encode("ping"));
    assertEquals(decoder.decode(await readAll(conn, 4)), "pong", "client read");
  })();
  await Promise.all([server, client]);
}

/**
 * A TLS listener on 127.0.0.1 serving `set`, and a client checking its certificate for
 * `hostname` against `ca`, whose handshake must fail; returns the client's error.
 */
async function refusedHandshake(
  set: CertificateSet,
  hostname: string,
  ca: string,
): Promise<Error> {
  using listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert: set.cert, key: set.key });
  const server = (async () => {
    using conn = await listener.accept();
    // The client aborts the handshake with an alert; the server side fails too.
    await conn.handshake().catch(() => {});
  })();
  const client = (async () => {
    using conn = await connectAs(listener.addr.port, hostname, ca);
    return await assertRejects(() => conn.handshake(), `handshake as ${hostname}`);
  })();
  const [, error] = await Promise.all([server, client]);
  return error;
}

function parse(pem: string): x509.X509Certificate {
  return new x509.X509Certificate(pem);
}

function sanOf(cert: x509.X509Certificate): { type: string; value: string }[] {
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  assert(san !== null, "subjectAltName present");
  return san.names.toJSON().map(({ type, value }) => ({ type, value }));
}

const shared = await generateCertificates();

Deno.test("TLS handshake and data both ways via localhost", async () => {
  await roundTrip(shared, "localhost");
});

Deno.test("TLS handshake and data both ways via 127.0.0.1", async () => {
  await roundTrip(shared, "127.0.0.1");
});

Deno.test("a client trusting a different CA is refused", async () => {
  const other = await generateCertificates();
  const error = await refusedHandshake(shared, "localhost", other.caCert);
  assert(/certificate|UnknownIssuer/i.test(error.message), error.message);
});

Deno.test("a name the certificate does not cover is refused", async () => {
  const set = await generateCertificates(["example.test"]);
  // Positive control: the same certificate is accepted for the name it covers.
  await roundTrip(set, "example.test", { byAddress: true });
  const error = await refusedHandshake(set, "localhost", set.caCert);
  assert(/not valid for name "localhost"/.test(error.message), error.message);
});

Deno.test("the leaf is a server certificate signed by the CA, not a CA", async () => {
  const ca = parse(shared.caCert);
  const leaf = parse(shared.cert);

  const leafBc = leaf.getExtension(x509.BasicConstraintsExtension);
  assert(leafBc !== null && leafBc.ca === false, "leaf basicConstraints CA:false");
  const leafKu = leaf.getExtension(x509.KeyUsagesExtension);
  assertEquals(leafKu?.usages, x509.KeyUsageFlags.digitalSignature, "leaf keyUsage");
  const eku = leaf.getExtension(x509.ExtendedKeyUsageExtension);
  assertEquals(eku?.usages, [x509.ExtendedKeyUsage.serverAuth], "leaf extKeyUsage");
  assertEquals(sanOf(leaf), [
    { type: "dns", value: "localhost" },
    { type: "ip", value: "127.0.0.1" },
    { type: "ip", value: "::1" },
  ], "leaf SAN");
  assertEquals(leaf.subject, "CN=localhost", "leaf subject");
  assertEquals(leaf.issuer, ca.subject, "leaf issuer");
  assert(await leaf.verify({ publicKey: ca.publicKey, signatureOnly: true }), "signed by CA");

  const caBc = ca.getExtension(x509.BasicConstraintsExtension);
  assert(caBc !== null && caBc.ca === true && caBc.critical, "CA basicConstraints critical");
  const caKu = ca.getExtension(x509.KeyUsagesExtension);
  assertEquals(
    caKu?.usages,
    x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
    "CA keyUsage",
  );
  assert(ca.subject.startsWith("CN=ferry local CA "), ca.subject);
  assert(await ca.isSelfSigned(), "CA self-signed");

  const now = Date.now();
  for (const cert of [ca, leaf]) {
    const back = now - cert.notBefore.getTime();
    assert(back >= 50_000 && back <= 120_000, `notBefore about a minute ago (${back} ms)`);
    assert(parseInt(cert.serialNumber.slice(0, 2), 16) < 0x80, "serial positive");
    assertEquals(cert.serialNumber.length, 32, "serial 128 bits");
  }
  const leafDays = (leaf.notAfter.getTime() - leaf.notBefore.getTime()) / 86_400_000;
  assert(leafDays > 800 && leafDays <= 825, `leaf validity ${leafDays} days`);
  const caDays = (ca.notAfter.getTime() - ca.notBefore.getTime()) / 86_400_000;
  assert(caDays >= 3650 && caDays <= 3653, `CA validity ${caDays} days`);
  assert(ca.serialNumber !== leaf.serialNumber, "distinct serials");

  assert(shared.key.startsWith("-----BEGIN PRIVATE KEY-----\n"), "PKCS#8 key");
  assert(shared.caKey.startsWith("-----BEGIN PRIVATE KEY-----\n"), "PKCS#8 CA key");
});

Deno.test("DEFAULT_NAMES is the default", () => {
  assertEquals([...DEFAULT_NAMES], ["localhost", "127.0.0.1", "::1"]);
});

Deno.test("names: IPs detected by syntax, bad names rejected", async () => {
  const set = await generateCertificates(["files.example", "10.0.0.7", "[fe80::1]", "2001:db8::2"]);
  assertEquals(sanOf(parse(set.cert)), [
    { type: "dns", value: "files.example" },
    { type: "ip", value: "10.0.0.7" },
    { type: "ip", value: "fe80::1" },
    { type: "ip", value: "2001:db8::2" },
  ]);
  for (const bad of [[], ["bad name"], ["1::2::3"], ["a..b"], ["-x.example"]]) {
    await assertRejects(() => generateCertificates(bad), `names ${JSON.stringify(bad)}`);
  }
});

Deno.test("writeCertificates: modes 0644/0600, replaces existing files, no temp files left", async () => {
  await using tmp = await tempDir("ferry-certs-");
  const root = tmp.path;
  const dir = `${root}/nested/certs`;
  // A key file left readable by a previous run must end up 0600.
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/${CERT_FILES.key}`, "old", { mode: 0o644 });
  await Deno.chmod(`${dir}/${CERT_FILES.key}`, 0o644);

  await writeCertificates(dir, shared);
  assertEquals(await mode(`${dir}/${CERT_FILES.caCert}`), 0o644, "ca.pem");
  assertEquals(await mode(`${dir}/${CERT_FILES.cert}`), 0o644, "server.pem");
  assertEquals(await mode(`${dir}/${CERT_FILES.caKey}`), 0o600, "ca-key.pem");
  assertEquals(await mode(`${dir}/${CERT_FILES.key}`), 0o600, "server-key.pem");
  assertEquals(await Deno.readTextFile(`${dir}/${CERT_FILES.key}`), shared.key);
  assertEquals(await Deno.readTextFile(`${dir}/${CERT_FILES.cert}`), shared.cert);

  const names = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  assertEquals(names.sort(), Object.values(CERT_FILES).sort(), "only the four files");
});

Deno.test("ensureCertificates: creates once, then loads; force regenerates", async () => {
  await using tmp = await tempDir("ferry-certs-");
  const dir = tmp.path;
  const first = await ensureCertificates(dir);
  assertEquals(first.created, true, "first call creates");
  assertEquals(await mode(`${dir}/${CERT_FILES.key}`), 0o600, "key mode");

  const second = await ensureCertificates(dir);
  assertEquals(second.created, false, "second call loads");
  assertEquals(second.set, first.set, "same set loaded");

  const forced = await ensureCertificates(dir, { force: true, names: ["ferry.test"] });
  assertEquals(forced.created, true, "force creates");
  assert(forced.set.cert !== first.set.cert && forced.set.key !== first.set.key, "new set");
  assertEquals(sanOf(parse(forced.set.cert)), [{ type: "dns", value: "ferry.test" }]);
  assertEquals((await ensureCertificates(dir)).set, forced.set, "forced set persisted");

  // A missing server certificate means the set is made again.
  await Deno.remove(`${dir}/${CERT_FILES.cert}`);
  const remade = await ensureCertificates(dir);
  assertEquals(remade.created, true, "remade after server.pem removed");
  assert(remade.set.key !== forced.set.key, "remade with a new key");
});

Deno.test("ensureCertificates: a user's own cert and key without CA files are kept", async () => {
  await using tmp = await tempDir("ferry-certs-");
  const dir = tmp.path;
  await writeCertificates(dir, { ...shared, caCert: "", caKey: "" });
  const loaded = await ensureCertificates(dir);
  assertEquals(loaded.created, false);
  assertEquals(loaded.set, { caCert: "", caKey: "", cert: shared.cert, key: shared.key });

  await writeCertificates(dir, { ...shared, caKey: "" });
  const withCa = await ensureCertificates(dir);
  assertEquals(withCa.created, false);
  assertEquals(withCa.set, { ...shared, caKey: "" });
});

Deno.test("ensureCertificates: a file without the PEM expected is an error", async () => {
  await using tmp = await tempDir("ferry-certs-");
  const dir = tmp.path;
  await Deno.writeTextFile(`${dir}/${CERT_FILES.cert}`, "not a certificate");
  await Deno.writeTextFile(`${dir}/${CERT_FILES.key}`, shared.key);
  const error = await assertRejects(() => ensureCertificates(dir), "garbage server.pem");
  assert(error.constructor === Error, `a plain Error, not a crash: ${error.name}`);
  assertEquals(
    error.message,
    `${dir}/${CERT_FILES.cert} does not hold the PEM block expected`,
    "the error names the file",
  );
});

Deno.test("fingerprint matches independent computations", async () => {
  for (const pem of [shared.cert, shared.caCert]) {
    const ours = await fingerprint(pem);
    assert(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/.test(ours), ours);
    assertEquals(ours, new NodeX509Certificate(pem).fingerprint256, "node:crypto");
    const der = parse(pem).rawData;
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
    const expected = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join(":");
    assertEquals(ours, expected.toUpperCase(), "subtle over DER");
  }
  // The first certificate of a bundle, after other blocks.
  const bundle = `${shared.key}${shared.cert}${shared.caCert}`;
  assertEquals(await fingerprint(bundle), await fingerprint(shared.cert), "first in bundle");
  await assertRejects(() => fingerprint(shared.key), "no certificate");
});
