/**
 * The choice of storage at start-up (`server/storage/open.ts`): race-free where it can run,
 * path-based elsewhere, and the banner and log say which and why.
 */

import assert from "node:assert/strict";
import { FerryError } from "../../../mod.ts";
import { openStorage, parseStorageChoice } from "../../../server/storage/open.ts";
import { SERVER, spawnTestServer, STORAGE_KINDS } from "../../_helpers/mod.ts";

Deno.test("storage choice: auto takes race-free where it runs; path on request; unknown is USAGE", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ferry-open-" });
  try {
    const auto = await openStorage(dir);
    try {
      assert.equal(auto.kind, STORAGE_KINDS.includes("race-free") ? "race-free" : "path");
      assert.ok(auto.reason.length > 10, auto.reason);
      assert.equal(auto.root, await Deno.realPath(dir));
    } finally {
      auto.close();
    }
    const path = await openStorage(dir, { choice: "path" });
    assert.equal(path.kind, "path");
    assert.match(path.reason, /symlink races/);
    path.close();
    assert.equal(parseStorageChoice("local"), "auto", "the local disk, whichever way");
    for (const bad of ["s4", "", "RACE-FREE"]) {
      assert.throws(
        () => parseStorageChoice(bad),
        (e) => e instanceof FerryError && e.code === "USAGE",
      );
    }
    if (!STORAGE_KINDS.includes("race-free")) {
      await assert.rejects(
        openStorage(dir, { choice: "race-free" }),
        (e) => e instanceof FerryError && e.code === "USAGE",
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "storage choice: the server says at start-up which storage it took and why",
  ignore: !STORAGE_KINDS.includes("race-free"),
  async fn() {
    const withFfi = await spawnTestServer();
    try {
      assert.match(withFfi.stderr(), /storage: race-free \(openat2 with RESOLVE_BENEATH/);
      assert.match(withFfi.stderr(), /event=listening .*storage=race-free/);
    } finally {
      await withFfi.stop();
    }
    const without = await spawnTestServer([], { ffi: false });
    try {
      assert.match(without.stderr(), /storage: path \(FFI is not permitted/);
      assert.match(without.stderr(), /symlink races by local users in the root are not prevented/);
    } finally {
      await without.stop();
    }
    // --storage race-free refuses to start rather than fall back.
    const dir = await Deno.makeTempDir({ prefix: "ferry-open-" });
    try {
      const { code, stderr } = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-read",
          "--allow-write",
          "--allow-net",
          "--allow-env",
          SERVER,
          "--root",
          `${dir}/root`,
          "--certs",
          `${dir}/certs`,
          "--port",
          "0",
          "--storage",
          "race-free",
        ],
        stdout: "null",
        stderr: "piped",
      }).output();
      assert.equal(code, 2, "a usage error");
      assert.match(
        new TextDecoder().decode(stderr),
        /the race-free storage cannot run here: FFI is not permitted/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
