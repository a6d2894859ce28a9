/**
 * End to end, a server running several isolates (`--workers N`, `server/workers/`): the
 * connections are spread over them, and what must hold server-wide holds across them: the
 * global and per-address connection caps, the back-off after failed logins, the quota with
 * uploads on several isolates at once, two uploads of one name on two isolates, an upload
 * resumed on another isolate than the one it started on, and shutdown (an admin's, on any
 * isolate, and SIGTERM) stopping every isolate and the process with status 0.
 *
 * Each server is a child process (`server/main.ts` with the `serve` task's flags) over real TLS;
 * which isolate serves a connection is read from its `event=connect` log line (`worker=N`,
 * `peer=127.0.0.1:PORT`). No assertion is about time.
 */

import assert from "node:assert/strict";
import { connect, type FerryClient, FerryError } from "../../mod.ts";
import { userRecord } from "../../server/auth.ts";
import {
  encodeAuth,
  encodeEof,
  encodeHello,
  encodeIdOnly,
  encodeUpload,
  encodeUploadResume,
  encodeUploadStatus,
} from "../../protocol/messages/mod.ts";
import { decodeDigest } from "../../protocol/messages/common.ts";
import { SERVICES } from "../../protocol/services.ts";
import { encodeDataFrames } from "../protocol/_frames.ts";
import {
  closeQuietly,
  errorOf,
  expectError,
  expectFrame,
  freshPrefix,
  ignoreWithoutS3,
  KiB,
  localOnly,
  namesIn,
  openRaw,
  openTcp,
  randomBytes,
  type RawConn,
  rawLogin,
  sha256Bytes,
  sha256Hex,
  spawnServer,
  spawnTestServer,
  type TestServerProcess,
  waitFor,
} from "../_helpers/mod.ts";

/**
 * `--workers` above 1 serves a local disk only: with `--storage s3` the server refuses to start
 * (server/main.ts; the last test of this file), so with `FERRY_TEST_STORAGE=s3` these are skipped.
 */
const ON_DISK_ONLY = localOnly("--workers above 1 is refused with --storage s3 (server/main.ts)");

/** One parsed log line of the server: its `key=value` fields (values unquoted). */
function logLines(server: TestServerProcess): Record<string, string>[] {
  return server.stderr().split("\n").filter((l) => / event=| op=/.test(l)).map((line) => {
    const fields: Record<string, string> = {};
    for (const m of line.matchAll(/ (\w+)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
      fields[m[1]] = m[2].startsWith('"') ? JSON.parse(m[2]) : m[2];
    }
    return fields;
  });
}

/** The worker that logged the connection from local port `port`. */
async function workerOf(server: TestServerProcess, port: number): Promise<string> {
  let worker: string | undefined;
  await waitFor(() => {
    worker = logLines(server).find((l) => l.event === "connect" && l.peer === `127.0.0.1:${port}`)
      ?.worker;
    return worker !== undefined;
  }, `the connect line of port ${port}`);
  return worker!;
}

/** Opens raw connections until two are served by different workers; closes the others. */
async function onTwoWorkers(server: TestServerProcess): Promise<[RawConn, RawConn]> {
  const first = await openRaw(server.port, server.ca);
  const firstWorker = await workerOf(server, first.localAddr.port);
  for (let i = 0; i < 60; i++) {
    const next = await openRaw(server.port, server.ca);
    if (await workerOf(server, next.localAddr.port) !== firstWorker) return [first, next];
    await next.close();
  }
  await first.close();
  throw new Error("60 connections all landed on one worker: connections are not spread");
}

function client(server: TestServerProcess, token: string): Promise<FerryClient> {
  return connect({ hostname: "localhost", port: server.port, token, caCerts: [server.ca] });
}

async function closeAll(clients: FerryClient[]): Promise<void> {
  for (const c of clients) c.close();
  await Promise.allSettled(clients.map((c) => c.closed));
}

/** Distinct workers among log lines matching `pick`. */
function workersOf(server: TestServerProcess, pick: (l: Record<string, string>) => boolean) {
  return new Set(logLines(server).filter(pick).map((l) => l.worker));
}

Deno.test({
  name:
    "workers: 40 connections are spread over the isolates, each line tagged with its worker, connection numbers unique",
  ignore: ON_DISK_ONLY,
}, async () => {
  const server = await spawnTestServer(["--workers", "3"]);
  try {
    assert.match(server.stderr(), /event=listening .*workers=3/, "the coordinator's line");
    for (let i = 0; i < 40; i++) {
      const c = await client(server, server.tokens.read);
      await c.list();
      await closeAll([c]);
    }
    await waitFor(
      () => logLines(server).filter((l) => l.event === "disconnect").length === 40,
      "40 disconnect lines",
    );
    const connects = logLines(server).filter((l) => l.event === "connect");
    assert.equal(connects.length, 40);
    const workers = new Set(connects.map((l) => l.worker));
    assert.ok(workers.size >= 2, `connections on workers ${[...workers]}`);
    for (const w of workers) assert.match(w, /^[123]$/);
    assert.equal(new Set(connects.map((l) => l.conn)).size, 40, "connection numbers are unique");
  } finally {
    await server.stop();
  }
});

Deno.test({
  name: "workers: the global connection cap holds across isolates",
  ignore: ON_DISK_ONLY,
}, async () => {
  const server = await spawnTestServer(["--workers", "3", "--max-connections", "8"]);
  const held: FerryClient[] = [];
  try {
    for (let i = 0; i < 8; i++) held.push(await client(server, server.tokens.read));
    await waitFor(
      () => workersOf(server, (l) => l.op === "auth" && l.result === "ok").size >= 2,
      "the 8 held connections are on more than one isolate",
    );
    for (let i = 0; i < 6; i++) {
      const raw = await openRaw(server.port, server.ca);
      try {
        const f = await raw.next();
        expectError(f, "BUSY", `connection ${9 + i}`, 0);
        assert.match(errorOf(f)!.message, /limit of 8 connections/);
      } finally {
        await raw.close();
      }
    }
    // The workers' log lines reach the coordinator's stderr a moment after the refusals.
    await waitFor(
      () => workersOf(server, (l) => l.event === "refused" && l.result === "BUSY").size >= 2,
      "refused on more than one isolate",
    );
    // Closing one makes room, whichever isolate the next lands on.
    const first = held.shift()!;
    await closeAll([first]);
    await waitFor(
      () => logLines(server).some((l) => l.event === "disconnect" && l.user === "bob"),
      "the disconnect",
    );
    const again = await client(server, server.tokens.read);
    held.push(again);
    assert.ok(Array.isArray(await again.list()));
  } finally {
    await closeAll(held);
    await server.stop();
  }
});

Deno.test({
  name: "workers: the per-address connection cap holds across isolates",
  ignore: ON_DISK_ONLY,
}, async () => {
  const server = await spawnTestServer(["--workers", "3", "--max-connections-per-ip", "5"]);
  const held: FerryClient[] = [];
  try {
    for (let i = 0; i < 5; i++) held.push(await client(server, server.tokens.read));
    for (let i = 0; i < 6; i++) {
      const raw = await openRaw(server.port, server.ca);
      try {
        const f = await raw.next();
        expectError(f, "BUSY", `connection ${6 + i}`, 0);
        assert.match(errorOf(f)!.message, /your address is at its limit of 5/);
      } finally {
        await raw.close();
      }
    }
    // The workers' log lines reach the coordinator's stderr a moment after the events.
    await waitFor(() => {
      const refusedOn = workersOf(server, (l) => l.event === "refused" && l.result === "BUSY");
      const admittedOn = workersOf(server, (l) => l.op === "auth" && l.result === "ok");
      return new Set([...refusedOn, ...admittedOn]).size >= 2;
    }, "connections admitted and refused on more than one isolate");
  } finally {
    await closeAll(held);
    await server.stop();
  }
});

Deno.test({
  name: "workers: the cap on connections not logged in, per address, holds across isolates",
  ignore: ON_DISK_ONLY,
}, async () => {
  const server = await spawnTestServer(["--workers", "2", "--max-unauthenticated-per-ip", "4"]);
  const silent: Deno.TcpConn[] = [];
  try {
    // Silent sockets (no TLS handshake) hold places in the pool of connections not logged in.
    for (let i = 0; i < 10; i++) silent.push(await openTcp(server.port));
    await waitFor(
      () => logLines(server).filter((l) => l.event === "refused").length === 6,
      "six refusals",
    );
    const refused = logLines(server).filter((l) => l.event === "refused");
    assert.ok(refused.every((l) => l.handshake === "false"), "dropped without a handshake");
    for (const conn of silent) closeQuietly(conn);
    silent.length = 0;
    // Once they are gone, the address gets in again.
    let c: FerryClient | undefined;
    await waitFor(async () => {
      c = await client(server, server.tokens.read).catch(() => undefined);
      return c !== undefined;
    }, "a login once the silent sockets are closed");
    await closeAll([c!]);
  } finally {
    for (const conn of silent) closeQuietly(conn);
    await server.stop();
  }
});

Deno.test({
  name: "workers: failed logins on several isolates lock the address out on all of them",
  ignore: ON_DISK_ONLY,
}, async () => {
  const server = await spawnTestServer([
    "--workers",
    "3",
    "--auth-failures-per-ip",
    "8",
    "--auth-lockout",
    "60s",
  ]);
  try {
    for (let i = 0; i < 8; i++) {
      await assert.rejects(
        client(server, `wrong-token-${i}`),
        (e) => e instanceof FerryError && e.code === "UNAUTHENTICATED",
        `wrong token ${i}`,
      );
    }
    await waitFor(
      () => workersOf(server, (l) => l.op === "auth" && l.result === "UNAUTHENTICATED").size >= 2,
      "the failures were on more than one isolate",
    );
    // Now even the right token is refused, on every isolate it lands on.
    for (let i = 0; i < 9; i++) {
      await assert.rejects(
        client(server, server.tokens.read),
        (e) => e instanceof FerryError && e.code === "BUSY" && /failed logins/.test(e.message),
        `right token ${i} while locked out`,
      );
    }
    await waitFor(
      () => workersOf(server, (l) => l.op === "auth" && l.result === "BUSY").size >= 2,
      "locked out on more than one isolate",
    );
  } finally {
    await server.stop();
  }
});

Deno.test({
  name: "workers: the quota holds with uploads on several isolates at once",
  ignore: ON_DISK_ONLY,
}, async () => {
  const server = await spawnTestServer(["--workers", "3", "--quota", String(1024 * KiB)]);
  const clients: FerryClient[] = [];
  try {
    for (let i = 0; i < 12; i++) clients.push(await client(server, server.tokens.write));
    const results = await Promise.allSettled(
      clients.map((c, i) => c.upload(randomBytes(200 * KiB), `f${i}.bin`)),
    );
    const ok = results.filter((r) => r.status === "fulfilled").length;
    const refused = results.filter((r) =>
      r.status === "rejected" && (r.reason as FerryError).code === "NO_SPACE"
    ).length;
    assert.equal(ok, 5, "five 200 KiB files fit in 1 MiB");
    assert.equal(refused, 7, "the others are refused with NO_SPACE");
    let stored = 0;
    for (const name of await namesIn(server.root)) {
      stored += (await Deno.stat(`${server.root}/${name}`)).size;
    }
    assert.equal(stored, 5 * 200 * KiB);
    // Had each isolate its own quota, each would have taken up to five.
    await waitFor(
      () => workersOf(server, (l) => l.op === "put" || l.op === "UPLOAD").size >= 2,
      "uploads were sent to more than one isolate",
    );
    // Deleting one frees room for one more, whichever isolate takes it.
    const done = results.findIndex((r) => r.status === "fulfilled");
    await clients[0].remove(`f${done}.bin`);
    await clients[1].upload(randomBytes(200 * KiB), "after.bin");
    await assert.rejects(
      clients[2].upload(randomBytes(200 * KiB), "over.bin"),
      (e) => e instanceof FerryError && e.code === "NO_SPACE",
    );
  } finally {
    await closeAll(clients);
    await server.stop();
  }
});

Deno.test({
  name:
    "workers: two uploads of one name on two isolates both succeed, one whole version stays, no temporary is left",
  ignore: ON_DISK_ONLY,
}, async () => {
  const server = await spawnTestServer(["--workers", "2"]);
  try {
    // Same user, name and size: the same resumable key, which only one may hold.
    const one = randomBytes(256 * KiB);
    const two = randomBytes(256 * KiB);
    const [a, b] = await onTwoWorkers(server);
    try {
      await rawLogin(a);
      await rawLogin(b);
      const head = (id: number) => encodeUpload({ id, size: one.length, mtime: null, path: "x" });
      // Both open before either sends data, so both are in flight at once.
      await a.send(head(10));
      await b.send(head(10));
      await a.send(
        encodeDataFrames(SERVICES.UPLOAD_DATA, 10, one),
        encodeEof({ id: 10, size: one.length, digest: sha256Bytes(one) }),
      );
      await b.send(
        encodeDataFrames(SERVICES.UPLOAD_DATA, 10, two),
        encodeEof({ id: 10, size: two.length, digest: sha256Bytes(two) }),
      );
      expectFrame(await a.next(), SERVICES.OK, "the first upload");
      expectFrame(await b.next(), SERVICES.OK, "the second upload");
    } finally {
      await a.close();
      await b.close();
    }
    assert.deepEqual(await namesIn(server.root), ["x"], "no temporary is left");
    const held = sha256Hex(await Deno.readFile(`${server.root}/x`));
    assert.ok(held === sha256Hex(one) || held === sha256Hex(two), "one whole version");
  } finally {
    await server.stop();
  }
});

Deno.test({
  name: "workers: an upload interrupted on one isolate is resumed on another",
  ignore: ON_DISK_ONLY,
}, async () => {
  const server = await spawnTestServer(["--workers", "2"]);
  try {
    const data = randomBytes(512 * KiB);
    const [a, b] = await onTwoWorkers(server);
    try {
      await rawLogin(a);
      await a.send(
        encodeUpload({ id: 5, size: data.length, mtime: null, path: "r.bin" }),
        encodeDataFrames(SERVICES.UPLOAD_DATA, 5, data.subarray(0, 200 * KiB)),
      );
      await waitFor(
        async () => (await namesIn(server.root)).some((n) => n.endsWith(".partial")),
        "the kept partial",
      );
    } finally {
      await a.close();
    }
    try {
      await rawLogin(b);
      let kept = 0;
      await waitFor(async () => {
        await b.send(
          encodeUploadStatus({ id: 6, size: data.length, mtime: null, path: "r.bin" }),
        );
        kept = decodeDigest(expectFrame(await b.next(), SERVICES.UPLOAD_PARTIAL, "status").payload)
          .length;
        return kept === 200 * KiB;
      }, "the interrupted upload's 200 KiB kept");
      await b.send(
        encodeUploadResume({ id: 7, offset: kept, size: data.length, mtime: null, path: "r.bin" }),
        encodeDataFrames(SERVICES.UPLOAD_DATA, 7, data.subarray(kept)),
        encodeEof({ id: 7, size: data.length, digest: sha256Bytes(data) }),
      );
      expectFrame(await b.next(), SERVICES.OK, "the resumed upload");
    } finally {
      await b.close();
    }
    assert.deepEqual(await namesIn(server.root), ["r.bin"]);
    assert.equal(sha256Hex(await Deno.readFile(`${server.root}/r.bin`)), sha256Hex(data));
    await waitFor(
      () => workersOf(server, (l) => l.op === "put-resume" && l.result === "ok").size > 0,
      "the resume's log line",
    );
    const resumedOn = workersOf(server, (l) => l.op === "put-resume" && l.result === "ok");
    const startedOn = workersOf(server, (l) => l.op === "put" && l.result !== "ok");
    assert.equal(resumedOn.size, 1);
    assert.ok(!startedOn.has([...resumedOn][0]), "resumed on another isolate than it started");
  } finally {
    await server.stop();
  }
});

Deno.test({
  name:
    "workers: an admin's CLOSE_SERVER on one isolate stops every isolate, and the process exits 0",
  ignore: ON_DISK_ONLY,
}, async () => {
  const server = await spawnTestServer(["--workers", "3"]);
  try {
    const [idle, admin] = await onTwoWorkers(server);
    try {
      await rawLogin(idle, server.tokens.read);
      await rawLogin(admin, server.tokens.admin);
      await admin.send(encodeIdOnly(SERVICES.CLOSE_SERVER, 9));
      expectFrame(await admin.next(), SERVICES.OK, "CLOSE_SERVER");
      assert.ok(await idle.closedWithin(20_000), "the idle client on the other isolate is closed");
      const status = await server.exited;
      assert.equal(status.code, 0, server.stderr());
    } finally {
      await idle.close();
      await admin.close();
    }
    const stopped = workersOf(server, (l) => l.event === "stopped" && l.worker !== undefined);
    assert.deepEqual([...stopped].sort(), ["1", "2", "3"], "every isolate stopped");
    assert.match(server.stderr(), /event=stopped workers=3/);
  } finally {
    await server.stop();
  }
});

Deno.test({
  name: "workers: SIGTERM stops every isolate, and the process exits 0",
  ignore: ON_DISK_ONLY,
}, async () => {
  const server = await spawnTestServer(["--workers", "2"]);
  try {
    const [a, b] = await onTwoWorkers(server);
    try {
      await rawLogin(a, server.tokens.read);
      await rawLogin(b, server.tokens.read);
      server.kill("SIGTERM");
      assert.ok(await a.closedWithin(20_000), "the first client is closed");
      assert.ok(await b.closedWithin(20_000), "the second client is closed");
      const status = await server.exited;
      assert.equal(status.code, 0, server.stderr());
    } finally {
      await a.close();
      await b.close();
    }
    const stopped = workersOf(server, (l) => l.event === "stopped" && l.worker !== undefined);
    assert.deepEqual([...stopped].sort(), ["1", "2"], "every isolate stopped");
  } finally {
    await server.stop();
  }
});

Deno.test({
  name: "workers: --workers takes auto or 1..64; a bad value is a usage error",
  ignore: ON_DISK_ONLY,
}, async () => {
  const server = await spawnTestServer(["--workers", "auto"]);
  await server.stop();
  const bad = await spawnTestServer(["--workers", "0"]).then(
    async (s) => {
      await s.stop();
      return false;
    },
    (err) => /--workers must be auto or 1\.\.64/.test(String(err)),
  );
  assert.ok(bad, "--workers 0 is refused");
});

Deno.test({
  name:
    "workers: a user added to the users file while the server runs logs in on every isolate; a removed one on none",
  ignore: ON_DISK_ONLY,
}, async () => {
  const server = await spawnTestServer(["--workers", "2"]);
  const users = `${server.root}/../certs/users.json`;
  const attempt = async (token: string) => {
    const raw = await openRaw(server.port, server.ca);
    try {
      await raw.send(
        encodeHello({ id: 1, minVersion: 1, maxVersion: 1, agent: "raw" }),
        encodeAuth({ id: 2, token }),
      );
      await raw.next(); // WELCOME
      const answer = await raw.next();
      return {
        worker: await workerOf(server, raw.localAddr.port),
        ok: answer !== null && errorOf(answer) === undefined,
      };
    } finally {
      await raw.close();
    }
  };
  /** Logins with `token` until both workers answered, or 40 tries; the answers per worker. */
  const onBoth = async (token: string) => {
    const seen = new Map<string, boolean[]>();
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      const { worker, ok } = await attempt(token);
      seen.set(worker, [...(seen.get(worker) ?? []), ok]);
    }
    assert.equal(seen.size, 2, "logins reached both workers");
    return [...seen.values()].flat();
  };
  try {
    const carol = "carol-token-for-workers";
    const records = JSON.parse(await Deno.readTextFile(users));
    await Deno.writeTextFile(
      users,
      JSON.stringify([...records, userRecord("carol", "read", carol)]),
    );
    await waitFor(
      () => /event=users result=reloaded .*users=3/.test(server.stderr()),
      "the reload",
    );
    assert.ok((await onBoth(carol)).every((ok) => ok), "carol logs in on both workers");
    await Deno.writeTextFile(users, JSON.stringify(records));
    await waitFor(
      () => /event=users result=reloaded .*users=2/.test(server.stderr()),
      "the removal",
    );
    assert.ok((await onBoth(carol)).every((ok) => !ok), "carol is refused on both workers");
  } finally {
    await server.stop();
  }
});

Deno.test({
  name:
    "workers: a port already in use stops the start with an error, not a server on some isolates",
  ignore: ON_DISK_ONLY,
}, async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (taken.addr as Deno.NetAddr).port;
    const failure = await spawnServer(["--workers", "2"], { port }).then(
      async (s) => {
        await s.stop();
        return "it started";
      },
      (err) => String(err),
    );
    assert.match(failure, /the port is already in use/);
  } finally {
    taken.close();
  }
});

Deno.test({
  name:
    "workers (s3): --workers above 1 with --storage s3 is refused at start-up, naming the way out",
  ignore: ignoreWithoutS3("workers_test.ts"),
}, async () => {
  // (nothing is written below the prefix: the server never starts)
  const refused = await spawnTestServer(["--workers", "2"], { s3Prefix: freshPrefix("workers") })
    .then(
      async (s) => {
        await s.stop();
        return "it started";
      },
      (err) => String(err),
    );
  assert.match(
    refused,
    /--workers above 1 does not work with --storage s3 yet; run one server process per core/,
  );
});
