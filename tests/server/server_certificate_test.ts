/**
 * The server's certificate between machines (issue 11): what a certificate covers, re-issuing
 * one by the same CA for more names, and which certificate the server starts with
 * (`prepareCertificates`: made for this machine's names, completed for `--name`, a
 * certificate ferry did not make never touched). TLS is checked with `node:tls`, which can
 * verify any name (`checkServerIdentity`) over a connection to 127.0.0.1.
 *
 * @module
 */

import assert from "node:assert/strict";
import { isIP } from "node:net";
import tls from "node:tls";
import {
  CERT_FILES,
  type CertificateSet,
  generateCertificates,
  reissueServerCertificate,
  validateName,
  writeCertificates,
} from "../../server/certificates.ts";
import { certificateNames, isIssuedBy, namesCover } from "../../server/certificate_names.ts";
import type { MachineNames } from "../../server/host_names.ts";
import {
  checkOwnCertificate,
  prepareCertificates,
  wantedNames,
} from "../../server/server_certificate.ts";
import { FerryError } from "../../protocol/errors.ts";
import { tempDir } from "../_helpers/mod.ts";

const MACHINE: MachineNames = {
  hostNames: ["box.example.org", "box"],
  addresses: ["192.0.2.44", "2001:db8::44"],
  unreadable: [],
};

/**
 * Whether a TLS client trusting `ca` accepts `set`'s server certificate for `servername`
 * (connecting to 127.0.0.1): `"ok"`, or the client's error message.
 */
async function verifyAs(set: CertificateSet, ca: string, servername: string): Promise<string> {
  using listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert: set.cert, key: set.key });
  const accepted = (async () => {
    try {
      using conn = await listener.accept();
      await conn.handshake().catch(() => {});
    } catch {
      // listener closed
    }
  })();
  const result = await new Promise<string>((resolve) => {
    const socket = tls.connect(
      {
        host: "127.0.0.1",
        port: listener.addr.port,
        ...(isIP(servername) ? {} : { servername }),
        ca,
        checkServerIdentity: (_host, cert) => tls.checkServerIdentity(servername, cert),
      },
      () => {
        resolve(socket.authorized ? "ok" : String(socket.authorizationError));
        socket.destroy();
      },
    );
    socket.on("error", (err) => resolve(err.message));
  });
  await accepted;
  return result;
}

function fail(code: string, pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof FerryError, String(err));
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    assert.ok(!err.message.includes("\n"), "one line");
    return true;
  };
}

Deno.test("certificate names: read back in order; covered names compared as names and addresses", async () => {
  const set = await generateCertificates(["Files.Example.org", "192.0.2.7", "[2001:db8::1]"]);
  const names = certificateNames(set.cert);
  assert.deepEqual(names, ["Files.Example.org", "192.0.2.7", "2001:db8::1"]);
  for (const yes of ["files.example.org", "FILES.example.org.", "192.0.2.7", "2001:db8:0::1"]) {
    assert.ok(namesCover(names, yes), yes);
  }
  assert.ok(namesCover(names, "[2001:db8::1]"), "bracketed IPv6");
  for (const no of ["example.org", "x.files.example.org", "192.0.2.70", "2001:db8::2", "files"]) {
    assert.ok(!namesCover(names, no), no);
  }
  assert.ok(namesCover(["*.example.org"], "files.example.org"), "wildcard, one label");
  assert.ok(!namesCover(["*.example.org"], "a.b.example.org"), "wildcard, not two labels");
  assert.ok(!namesCover(["*.example.org"], "example.org"), "wildcard, not the bare domain");
  assert.throws(() => certificateNames(set.key), TypeError);
  for (const ok of ["a.example", "10.0.0.1", "::1", "[fe80::1]", "*.example.org", "box"]) {
    validateName(ok);
  }
  for (const bad of ["bad name", "", "a..b", "-x", "1::2::3", "x/y"]) {
    assert.throws(() => validateName(bad), TypeError, JSON.stringify(bad));
  }
});

Deno.test("reissue: the same CA signs a new certificate for more names; old clients' ca.pem trusts it", async () => {
  const first = await generateCertificates(["localhost", "127.0.0.1"]);
  const second = await reissueServerCertificate(first, ["localhost", "127.0.0.1", "new.example"]);
  assert.equal(second.caCert, first.caCert, "the CA is kept");
  assert.equal(second.caKey, first.caKey);
  assert.notEqual(second.cert, first.cert);
  assert.notEqual(second.key, first.key, "a new key");
  assert.deepEqual(certificateNames(second.cert), ["localhost", "127.0.0.1", "new.example"]);
  assert.ok(isIssuedBy(second.cert, first.caCert), "signed by the CA");
  assert.equal(await verifyAs(first, first.caCert, "localhost"), "ok");
  assert.match(await verifyAs(first, first.caCert, "new.example"), /new\.example|altnames/i);
  assert.equal(await verifyAs(second, first.caCert, "new.example"), "ok", "the new name");
  assert.equal(await verifyAs(second, first.caCert, "localhost"), "ok", "the old names");

  const other = await generateCertificates(["localhost"]);
  assert.ok(!isIssuedBy(second.cert, other.caCert), "not by another CA");
  assert.notEqual(await verifyAs(second, other.caCert, "localhost"), "ok", "another CA's client");
  await assert.rejects(
    () => reissueServerCertificate({ caCert: first.caCert, caKey: other.caKey }, ["x.example"]),
    /does not belong/,
  );
  await assert.rejects(
    () => reissueServerCertificate({ caCert: first.caCert, caKey: "junk" }, ["x.example"]),
    TypeError,
  );
});

Deno.test("prepareCertificates: made for this machine's names; a --name added later is re-issued by the same CA", async () => {
  await using dir = await tempDir("ferry-prepare-");
  const certs = `${dir.path}/certs`;
  const made = await prepareCertificates(certs, {
    requested: ["files.example.org"],
    machine: MACHINE,
    coverMachine: false,
    force: false,
  });
  assert.equal(made.action, "created");
  const expected = [
    "files.example.org",
    "box.example.org",
    "box",
    "localhost",
    "127.0.0.1",
    "::1",
    "192.0.2.44",
    "2001:db8::44",
  ];
  assert.deepEqual(wantedNames(["files.example.org"], MACHINE), expected);
  assert.deepEqual(made.names, expected);
  assert.deepEqual(
    certificateNames(await Deno.readTextFile(`${certs}/${CERT_FILES.cert}`)),
    expected,
  );
  assert.deepEqual(made.uncovered, []);
  assert.equal(await verifyAs(made.set, made.set.caCert, "box.example.org"), "ok");
  assert.equal(await verifyAs(made.set, made.set.caCert, "192.0.2.44"), "ok");

  // Again with the same names: loaded as it is.
  const again = await prepareCertificates(certs, {
    requested: ["FILES.example.org"],
    machine: MACHINE,
    coverMachine: false,
    force: false,
  });
  assert.equal(again.action, "loaded");
  assert.deepEqual(again.set, made.set);

  assert.notEqual(await verifyAs(made.set, made.set.caCert, "10.9.8.7"), "ok", "not yet");

  // A --name it lacks: re-issued by the CA there, old names kept, CA unchanged.
  const more = await prepareCertificates(certs, {
    requested: ["10.9.8.7", "other.example"],
    machine: MACHINE,
    coverMachine: false,
    force: false,
  });
  assert.equal(more.action, "reissued");
  assert.deepEqual(more.added, ["10.9.8.7", "other.example"]);
  assert.deepEqual(more.names, [...expected, "10.9.8.7", "other.example"]);
  assert.equal(more.set.caCert, made.set.caCert);
  assert.equal(await Deno.readTextFile(`${certs}/${CERT_FILES.caCert}`), made.set.caCert);
  assert.equal(await Deno.readTextFile(`${certs}/${CERT_FILES.cert}`), more.set.cert);
  assert.equal(await Deno.readTextFile(`${certs}/${CERT_FILES.key}`), more.set.key);
  assert.equal(await verifyAs(more.set, made.set.caCert, "other.example"), "ok");
  assert.equal(await verifyAs(more.set, made.set.caCert, "10.9.8.7"), "ok");

  // The machine got a new address: serve only reports it; certs (coverMachine) adds it.
  const moved = { ...MACHINE, addresses: [...MACHINE.addresses, "198.51.100.9"] };
  const served = await prepareCertificates(certs, {
    requested: [],
    machine: moved,
    coverMachine: false,
    force: false,
  });
  assert.equal(served.action, "loaded");
  assert.deepEqual(served.uncovered, ["198.51.100.9"]);
  const completed = await prepareCertificates(certs, {
    requested: [],
    machine: moved,
    coverMachine: true,
    force: false,
  });
  assert.equal(completed.action, "reissued");
  assert.deepEqual(completed.added, ["198.51.100.9"]);
  assert.deepEqual(completed.uncovered, []);

  // --force: a new CA.
  const forced = await prepareCertificates(certs, {
    requested: [],
    machine: MACHINE,
    coverMachine: true,
    force: true,
  });
  assert.equal(forced.action, "created");
  assert.notEqual(forced.set.caCert, made.set.caCert);
});

Deno.test("prepareCertificates: a certificate ferry did not make is never changed; a name it lacks is one line", async () => {
  await using dir = await tempDir("ferry-prepare-own-");
  const own = await generateCertificates(["files.example.org"]);
  // Only the certificate and key: no CA key beside them.
  await writeCertificates(dir.path, { ...own, caKey: "" });
  const before = await Deno.readTextFile(`${dir.path}/${CERT_FILES.cert}`);
  const loaded = await prepareCertificates(dir.path, {
    requested: ["files.example.org"],
    machine: MACHINE,
    coverMachine: true,
    force: false,
  });
  assert.equal(loaded.action, "loaded");
  assert.deepEqual(loaded.uncovered, [...MACHINE.hostNames, ...MACHINE.addresses]);
  await assert.rejects(
    () =>
      prepareCertificates(dir.path, {
        requested: ["box.example.org"],
        machine: MACHINE,
        coverMachine: false,
        force: false,
      }),
    fail(
      "TLS",
      /server\.pem does not cover box\.example\.org \(it covers files\.example\.org\) and ferry did not make it .*`ferry-server certs --force --name box\.example\.org`/,
    ),
  );
  // A CA key beside it that did not sign it: not ferry's either.
  const stranger = await generateCertificates(["localhost"]);
  await writeCertificates(dir.path, {
    caCert: stranger.caCert,
    caKey: stranger.caKey,
    cert: "",
    key: "",
  });
  await assert.rejects(
    () =>
      prepareCertificates(dir.path, {
        requested: ["box"],
        machine: MACHINE,
        coverMachine: false,
        force: false,
      }),
    fail("TLS", /does not cover box/),
  );
  assert.equal(await Deno.readTextFile(`${dir.path}/${CERT_FILES.cert}`), before, "untouched");

  // --cert: checked against --name, never changed.
  assert.deepEqual(checkOwnCertificate(own.cert, "my.pem", ["files.example.org"]), [
    "files.example.org",
  ]);
  assert.throws(
    () => checkOwnCertificate(own.cert, "my.pem", ["files.example.org", "10.0.0.1"]),
    fail(
      "TLS",
      /^--cert my\.pem does not cover 10\.0\.0\.1 \(it covers files\.example\.org\); add the name to that certificate, or leave out --name/,
    ),
  );
  assert.throws(
    () => checkOwnCertificate(own.key, "key.pem", []),
    fail("TLS", /--cert key\.pem cannot be read as a certificate/),
  );
  assert.throws(
    () => checkOwnCertificate(own.cert, "my.pem", ["not a name"]),
    fail("USAGE", /--name "not a name" is neither a host name nor an IP address/),
  );
});
