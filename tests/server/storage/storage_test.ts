/**
 * The storage contract (`server/storage/storage.ts`), run against both local storages (the
 * path-based one and, where it can run, the race-free one) and the S3 storage (a fresh prefix of
 * the test bucket; ignored with a message when no store is set up, see
 * `tests/_helpers/storage.ts`). Each test takes a fresh storage from `STORAGES`, so another
 * implementation is checked by adding its factory there; what a test needs it makes through the
 * storage itself.
 */

import assert from "node:assert/strict";
import { equalBytes, UNKNOWN_SIZE } from "../../../protocol/bytes.ts";
import { SYNC_EVERY } from "../../../common/atomic_file.ts";
import { type ErrorCode, FerryError } from "../../../protocol/errors.ts";
import type { Entry } from "../../../protocol/messages/mod.ts";
import type { StagedUpload, Storage } from "../../../server/storage/storage.ts";
import { createLocalStorage } from "../../../server/storage/local.ts";
import { createRaceFreeStorage } from "../../../server/storage/race_free.ts";
import {
  ignoreWithoutS3,
  LOCAL_STORAGE_KINDS,
  openTestS3Storage,
  sha256Bytes as sha256,
} from "../../_helpers/mod.ts";

interface Fixture {
  storage: Storage;
  /** Strings no error message may contain (the server's own paths). */
  secrets: string[];
}

/** A fresh base directory with an empty `root/` below it (real path). */
async function freshRoot(): Promise<string> {
  const base = await Deno.realPath(await Deno.makeTempDir({ prefix: "ferry-storage-" }));
  await Deno.mkdir(`${base}/root`);
  return base;
}

/** Factories of a fresh, empty storage, with the cleanup of what they made. */
const STORAGES: Record<string, () => Promise<Fixture & { close(): Promise<void> }>> = {
  local: async () => {
    const base = await freshRoot();
    return {
      storage: await createLocalStorage(`${base}/root`),
      secrets: [base],
      close: () => Deno.remove(base, { recursive: true }),
    };
  },
};
STORAGES.s3 = async () => {
  const opened = await openTestS3Storage();
  // the bucket and the prefix are the server's business, as a root path is
  return { ...opened, secrets: [opened.prefix, opened.client.bucket] };
};
if (LOCAL_STORAGE_KINDS.includes("race-free")) {
  STORAGES["race-free"] = async () => {
    const base = await freshRoot();
    const storage = await createRaceFreeStorage(`${base}/root`);
    return {
      storage,
      secrets: [base],
      close: async () => {
        storage.close();
        await Deno.remove(base, { recursive: true });
      },
    };
  };
}

function each(name: string, fn: (f: Fixture) => Promise<void>): void {
  for (const [kind, make] of Object.entries(STORAGES)) {
    Deno.test({
      name: `storage (${kind}): ${name}`,
      ignore: kind === "s3" && ignoreWithoutS3("storage_test.ts"),
      async fn() {
        const fixture = await make();
        try {
          await fn(fixture);
        } finally {
          await fixture.close();
        }
      },
    });
  }
}

function bytes(n: number, seed = 1): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 251 + seed * 13) & 0xff);
}

async function rejectsWith(
  p: Promise<unknown>,
  code: ErrorCode,
  secrets: readonly string[],
  what: string,
): Promise<FerryError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof FerryError, `${what}: a FerryError, got ${err}`);
    assert.equal(err.code, code, `${what}: ${err.message}`);
    for (const s of secrets) assert.ok(!err.message.includes(s), `${what} leaks: ${err.message}`);
    return err;
  }
  assert.fail(`${what}: expected ${code}`);
}

/** Uploads `data` to `path` through a staged upload. */
async function put(storage: Storage, path: string, data: Uint8Array): Promise<number> {
  const upload = await storage.stage({ user: "u", path, size: data.length, mtime: null });
  await upload.write(data);
  return (await upload.commit({ size: data.length, digest: sha256(data) })).replacedBytes;
}

async function read(storage: Storage, path: string, offset = 0): Promise<Uint8Array> {
  const reader = await storage.openRead(path, offset);
  try {
    const out = new Uint8Array(reader.size - offset);
    assert.equal(await reader.read(out), out.length, "a read fills the buffer");
    assert.equal(await reader.read(new Uint8Array(10)), 0, "then the end");
    return out;
  } finally {
    reader.close();
  }
}

async function names(entries: AsyncIterable<Entry> | null): Promise<string[]> {
  assert.ok(entries !== null, "a directory lists its entries");
  return (await Array.fromAsync(entries)).map((e) => e.name).sort();
}

each("files put, read back from any offset, stat'ed, hashed and listed", async ({ storage }) => {
  const data = bytes(300_000);
  assert.equal(await put(storage, "a.bin", data), 0);
  assert.deepEqual(await read(storage, "a.bin"), data);
  assert.deepEqual(await read(storage, "a.bin", 123_456), data.subarray(123_456));
  assert.equal((await read(storage, "a.bin", data.length)).length, 0);
  const entry = await storage.stat("a.bin");
  assert.deepEqual([entry.name, entry.kind, entry.size], ["a.bin", "file", data.length]);
  assert.ok(entry.mtime !== null && Math.abs(entry.mtime - Date.now()) < 60_000);
  const whole = await storage.hash("a.bin", { length: UNKNOWN_SIZE });
  assert.deepEqual(whole, { length: data.length, digest: sha256(data) });
  const prefix = await storage.hash("a.bin", { length: 1000 });
  assert.deepEqual(prefix, { length: 1000, digest: sha256(data.subarray(0, 1000)) });
  const longer = await storage.hash("a.bin", { length: data.length + 5 });
  assert.equal(longer.length, data.length, "fewer bytes than asked when the file is shorter");
  const root = await storage.list(".", new AbortController().signal);
  assert.deepEqual([root.entry.name, root.entry.kind], [".", "dir"]);
  assert.deepEqual(await names(root.entries), ["a.bin"]);
  const file = await storage.list("a.bin", new AbortController().signal);
  assert.equal(file.entries, null, "a file has no entries");
  assert.equal(file.entry.name, "a.bin");
  assert.equal(await storage.usage(), data.length);
});

each(
  "a commit replaces atomically and says how much it replaced; mtime is kept",
  async ({ storage }) => {
    await put(storage, "doc", bytes(500));
    const next = bytes(800, 2);
    const mtime = Date.parse("2024-05-06T07:08:09.000Z");
    const upload = await storage.stage({ user: "u", path: "doc", size: next.length, mtime });
    assert.equal(upload.replacing, 500);
    await upload.write(next.subarray(0, 300));
    assert.deepEqual(await read(storage, "doc"), bytes(500), "readers see the old version");
    await upload.write(next.subarray(300));
    assert.equal(upload.length, 800);
    assert.deepEqual(await upload.commit({ size: 800, digest: sha256(next) }), {
      replacedBytes: 500,
    });
    assert.deepEqual(await read(storage, "doc"), next);
    assert.equal((await storage.stat("doc")).mtime, mtime);
    assert.deepEqual(await names((await storage.list(".", new AbortController().signal)).entries), [
      "doc",
    ]);
  },
);

each("a wrong size or digest is CHECKSUM_MISMATCH and leaves the old version", async (f) => {
  const { storage } = f;
  await put(storage, "doc", bytes(100));
  for (
    const expected of [{ size: 99, digest: sha256(bytes(99, 3)) }, {
      size: 100,
      digest: sha256(bytes(100)),
    }]
  ) {
    const upload = await storage.stage({ user: "u", path: "doc", size: 100, mtime: null });
    await upload.write(bytes(100, 3));
    await rejectsWith(upload.commit(expected), "CHECKSUM_MISMATCH", f.secrets, "commit");
    await upload.discard();
    await upload.discard();
  }
  assert.deepEqual(await read(storage, "doc"), bytes(100));
  assert.deepEqual(await names((await storage.list(".", new AbortController().signal)).entries), [
    "doc",
  ]);
  assert.equal((await storage.cleanup({ ttlMs: 0 })).removed.length, 0, "nothing was left");
});

each("an interrupted upload of known size is kept, reported and resumed", async (f) => {
  const { storage } = f;
  const data = bytes(2_500_000, 4);
  const request = { user: "alice", path: "big.bin", size: data.length, mtime: 1_700_000_000_000 };
  const first = await storage.stage(request);
  assert.ok(first.resumable);
  await first.write(data.subarray(0, 1_200_000));
  await first.interrupted();
  const kept = await storage.partialStatus(request);
  assert.deepEqual(kept, { length: 1_200_000, digest: sha256(data.subarray(0, 1_200_000)) });
  const other = await storage.partialStatus({ ...request, user: "bob" });
  assert.equal(other.length, 0, "a kept upload belongs to its user");
  assert.deepEqual(other.digest, sha256(new Uint8Array(0)));
  await rejectsWith(
    storage.resume({ ...request, offset: 1_200_001 }),
    "BAD_ARGUMENT",
    f.secrets,
    "resume past what is kept",
  );
  await rejectsWith(
    storage.resume({ ...request, offset: data.length + 1 }),
    "BAD_ARGUMENT",
    f.secrets,
    "resume past the size",
  );
  const resumed = await storage.resume({ ...request, offset: 1_000_000 });
  assert.equal(resumed.length, 1_000_000);
  await rejectsWith(storage.resume({ ...request, offset: 0 }), "BUSY", f.secrets, "twice");
  await rejectsWith(storage.partialStatus(request), "BUSY", f.secrets, "status while it runs");
  const busy = await storage.stage(request);
  assert.ok(!busy.resumable, "while the kept upload runs, another one is not resumable");
  await busy.discard();
  await resumed.write(data.subarray(1_000_000));
  await resumed.commit({ size: data.length, digest: sha256(data) });
  assert.deepEqual(await read(storage, "big.bin"), data);
  assert.equal((await storage.partialStatus(request)).length, 0, "nothing kept any more");
});

each(
  "identical uploads to one name at once each get their own temporary; the last commit wins",
  async (f) => {
    const { storage } = f;
    const request = { user: "u", path: "same", size: 50_000, mtime: 1_650_000_000_000 };
    const uploads = await Promise.all([0, 1, 2, 3].map(() => storage.stage(request)));
    assert.equal(uploads.filter((u) => u.resumable).length, 1, "one holds the resumable key");
    const datas = uploads.map((_, k) => bytes(50_000, 10 + k));
    await Promise.all(uploads.map((u, k) => u.write(datas[k])));
    // Commits run one at a time, each replacing the whole file: the last to end is what is left.
    const ended: number[] = [];
    const replaced = await Promise.all(
      uploads.map((u, k) =>
        u.commit({ size: 50_000, digest: sha256(datas[k]) }).then((r) => {
          ended.push(k);
          return r.replacedBytes;
        })
      ),
    );
    assert.deepEqual(ended.map((k) => replaced[k]), [0, 50_000, 50_000, 50_000]);
    assert.deepEqual(await read(storage, "same"), datas[ended[3]]);
    assert.equal((await storage.stat("same")).mtime, request.mtime);
    assert.equal((await storage.cleanup({ ttlMs: 0 })).removed.length, 0, "no temporary is left");
    assert.equal(await storage.usage(), 50_000);
  },
);

each("resume at offset 0 with nothing kept starts a fresh resumable upload", async (f) => {
  const { storage } = f;
  const data = bytes(1000, 7);
  const request = { user: "u", path: "fresh", size: data.length, mtime: null };
  const upload = await storage.resume({ ...request, offset: 0 });
  assert.ok(upload.resumable);
  assert.equal(upload.length, 0);
  await upload.write(data.subarray(0, 400));
  await upload.interrupted();
  assert.equal((await storage.partialStatus(request)).length, 400, "and it is kept");
  const again = await storage.resume({ ...request, offset: 400 });
  await again.write(data.subarray(400));
  await again.commit({ size: data.length, digest: sha256(data) });
  assert.deepEqual(await read(storage, "fresh"), data);
});

each("a modification time the file system cannot be given is BAD_ARGUMENT up front", async (f) => {
  const { storage } = f;
  for (const mtime of [8.64e15 + 1, Number.MAX_SAFE_INTEGER, -1, 1.5]) {
    const request = { user: "u", path: "t", size: 3, mtime };
    await rejectsWith(storage.stage(request), "BAD_ARGUMENT", f.secrets, `stage ${mtime}`);
    await rejectsWith(
      storage.resume({ ...request, offset: 0 }),
      "BAD_ARGUMENT",
      f.secrets,
      `resume ${mtime}`,
    );
  }
  assert.deepEqual(
    await names((await storage.list(".", new AbortController().signal)).entries),
    [],
  );
  assert.equal((await storage.cleanup({ ttlMs: 0 })).removed.length, 0, "nothing was created");
});

each("uploads of unknown size are not resumable; discarding removes them", async ({ storage }) => {
  const upload = await storage.stage({ user: "u", path: "s", size: UNKNOWN_SIZE, mtime: null });
  assert.ok(!upload.resumable);
  await upload.write(bytes(1000));
  await upload.interrupted();
  assert.equal((await storage.cleanup({ ttlMs: 3_600_000 })).removed.length, 0, "nothing kept");
  await rejectsWith(storage.stat("s"), "NOT_FOUND", [], "never committed");
});

each(
  "cleanup spares uploads in progress and kept ones younger than the TTL",
  async ({ storage }) => {
    const running = await storage.stage({ user: "u", path: "r", size: UNKNOWN_SIZE, mtime: null });
    const kept = await storage.stage({ user: "u", path: "k", size: 10, mtime: null });
    await kept.write(bytes(5));
    await kept.interrupted();
    assert.deepEqual((await storage.cleanup({ ttlMs: 60_000 })).removed, []);
    const later = Date.now() + 120_000;
    assert.equal((await storage.cleanup({ ttlMs: 60_000, now: later })).removed.length, 1);
    assert.equal(
      (await storage.partialStatus({ user: "u", path: "k", size: 10, mtime: null })).length,
      0,
    );
    await running.write(bytes(3));
    await running.commit({ size: 3, digest: sha256(bytes(3)) });
    assert.deepEqual(await read(storage, "r"), bytes(3));
  },
);

each("mkdir, rename and remove, with the errors a client expects", async (f) => {
  const { storage } = f;
  await storage.mkdir("a/b/c", { parents: true });
  await storage.mkdir("a/b/c", { parents: true });
  await storage.mkdir(".", { parents: true });
  await rejectsWith(storage.mkdir("a", { parents: false }), "ALREADY_EXISTS", f.secrets, "mkdir");
  await rejectsWith(storage.mkdir(".", { parents: false }), "ALREADY_EXISTS", f.secrets, "root");
  await rejectsWith(storage.mkdir("x/y", { parents: false }), "NOT_FOUND", f.secrets, "parent");
  await put(storage, "a/f", bytes(10));
  await rejectsWith(storage.mkdir("a/f/g", { parents: true }), "NOT_A_DIRECTORY", f.secrets, "-p");
  await storage.rename("a/f", "a/b/g", { replace: false });
  await put(storage, "h", bytes(20));
  await rejectsWith(
    storage.rename("h", "a/b/g", { replace: false }),
    "ALREADY_EXISTS",
    f.secrets,
    "mv",
  );
  await storage.rename("h", "a/b/g", { replace: true });
  assert.deepEqual(await read(storage, "a/b/g"), bytes(20));
  await rejectsWith(
    storage.rename("a", "a/b/z", { replace: false }),
    "BAD_ARGUMENT",
    f.secrets,
    "into",
  );
  await rejectsWith(
    storage.rename("a/b/g", "a/b", { replace: true }),
    "ALREADY_EXISTS",
    f.secrets,
    "dir",
  );
  await rejectsWith(storage.remove("a/b"), "NOT_EMPTY", f.secrets, "rm a directory");
  assert.deepEqual(await storage.remove("a/b/g"), { freedBytes: 20 });
  assert.deepEqual(await storage.remove("a/b/c"), { freedBytes: 0 });
  await rejectsWith(storage.remove("a/b/c"), "NOT_FOUND", f.secrets, "rm twice");
  assert.deepEqual(await names((await storage.list("a", new AbortController().signal)).entries), [
    "b",
  ]);
});

each("refusals: paths, kinds and offsets, never naming a server path", async (f) => {
  const { storage } = f;
  await storage.mkdir("d", { parents: false });
  await put(storage, "d/f", bytes(10));
  const signal = new AbortController().signal;
  const cases: readonly (readonly [string, ErrorCode, () => Promise<unknown>])[] = [
    ["stat ..", "OUTSIDE_ROOT", () => storage.stat("../x")],
    ["list /etc", "OUTSIDE_ROOT", () => storage.list("/etc", signal)],
    ["read a temp name", "BAD_NAME", () => storage.openRead(".ferry-x", 0)],
    ["read a directory", "IS_A_DIRECTORY", () => storage.openRead("d", 0)],
    ["read past the end", "BAD_ARGUMENT", () => storage.openRead("d/f", 11)],
    ["read a missing file", "NOT_FOUND", () => storage.openRead("d/nope", 0)],
    ["hash a directory", "IS_A_DIRECTORY", () => storage.hash("d", { length: UNKNOWN_SIZE })],
    ["stage over a directory", "IS_A_DIRECTORY", () => stage(storage, "d")],
    ["stage a device name", "BAD_NAME", () => stage(storage, "CON")],
    ["stage below a file", "NOT_A_DIRECTORY", () => stage(storage, "d/f/x")],
    ["stage into a missing directory", "NOT_FOUND", () => stage(storage, "e/x")],
    ["remove the root", "BAD_NAME", () => storage.remove(".")],
    [
      "rename onto a temp name",
      "BAD_NAME",
      () => storage.rename("d/f", ".ferry-y", { replace: true }),
    ],
  ];
  for (const [what, code, fn] of cases) await rejectsWith(fn(), code, f.secrets, what);
});

each(
  "a names-only listing has every entry's name and kind, past a batch, without looking up sizes or times",
  async ({ storage }) => {
    // More entries than one batch of the local storages (512) and of S3's descriptions.
    for (let i = 0; i < 600; i++) await put(storage, `f${String(i).padStart(3, "0")}`, bytes(3, i));
    await storage.mkdir("sub", { parents: false });
    const open = await stage(storage, "being-written"); // its temporary is never listed
    await open.write(bytes(1));
    try {
      const signal = new AbortController().signal;
      const full = await Array.fromAsync((await storage.list(".", signal)).entries ?? []);
      const listing = await storage.list(".", signal, { namesOnly: true });
      assert.deepEqual([listing.entry.name, listing.entry.kind], [".", "dir"]);
      const named = await Array.fromAsync(listing.entries ?? []);
      const pairs = (entries: Entry[]) => entries.map((e) => `${e.kind} ${e.name}`).sort();
      assert.equal(named.length, 601);
      assert.deepEqual(pairs(named), pairs(full));
      assert.ok(pairs(named).includes("dir sub"));
      for (const e of named) {
        assert.equal(e.mtime, null, `${e.name}: no time was looked up`);
        // The local storages stat nothing; S3 keeps the size its listing carries anyway.
        assert.ok(e.size === 0 || (e.kind === "file" && e.size === 3), `${e.name}: ${e.size}`);
      }
      // A file lists as itself, complete: only the entries of a directory are names only.
      const file = await storage.list("f007", signal, { namesOnly: true });
      assert.equal(file.entries, null);
      assert.deepEqual([file.entry.name, file.entry.kind, file.entry.size], ["f007", "file", 3]);
      assert.ok(file.entry.mtime !== null, "the path's own entry has its time");
    } finally {
      await open.discard();
    }
  },
);

each("an aborted listing or hash rejects with the signal's reason", async ({ storage }) => {
  for (let i = 0; i < 600; i++) await put(storage, `f${i}`, bytes(1, i));
  const abort = new AbortController();
  const listing = await storage.list(".", abort.signal);
  abort.abort(new FerryError("CANCELLED", "stop"));
  await assert.rejects(Array.fromAsync(listing.entries ?? []), /stop/);
  await assert.rejects(
    storage.hash("f1", { length: UNKNOWN_SIZE, signal: abort.signal }),
    /stop/,
  );
});

function stage(storage: Storage, path: string): Promise<StagedUpload> {
  return storage.stage({ user: "u", path, size: 1, mtime: null });
}

for (const kind of ["local", "race-free"].filter((k) => k in STORAGES)) {
  Deno.test(`storage (${kind}): an upload past SYNC_EVERY (written back in the background) commits every byte, and is kept or dropped whole`, async () => {
    const { storage, secrets, close } = await STORAGES[kind]();
    try {
      const piece = bytes(1024 * 1024, 7);
      const size = SYNC_EVERY + 3 * piece.length;
      const write = async (upload: StagedUpload, length: number) => {
        for (let done = 0; done < length; done += piece.length) {
          await upload.write(piece.subarray(0, Math.min(piece.length, length - done)));
        }
      };
      const data = new Uint8Array(size);
      for (let o = 0; o < size; o += piece.length) data.set(piece.subarray(0, size - o), o);
      const committed = await storage.stage({ user: "u", path: "big", size, mtime: null });
      await write(committed, size);
      await committed.commit({ size, digest: sha256(data) });
      assert.ok(equalBytes(await read(storage, "big"), data), "every byte committed");
      // Interrupted right after a background sync may have started: kept whole for a resume.
      const kept = await storage.stage({ user: "u", path: "k", size, mtime: null });
      await write(kept, SYNC_EVERY + piece.length);
      await kept.interrupted();
      const partial = await storage.partialStatus({ user: "u", path: "k", size, mtime: null });
      assert.equal(partial.length, SYNC_EVERY + piece.length, "everything received is kept");
      // Discarded after one: nothing left beside the committed file.
      const dropped = await storage.stage({ user: "u", path: "d", size, mtime: null });
      await write(dropped, SYNC_EVERY + piece.length);
      await dropped.discard();
      const left = (await Array.fromAsync(Deno.readDir(`${secrets[0]}/root`))).map((e) => e.name);
      assert.ok(left.includes("big") && !left.includes("d"), `left: ${left}`);
      assert.equal(left.length, 2, `the committed file and the kept partial: ${left}`);
    } finally {
      await close();
    }
  });
}
