/**
 * Users added or removed while the server runs (issue 11): the users file is watched and read
 * again after each change; a broken file keeps the accounts loaded before and logs one line.
 * First the watcher alone, then a real server process with `adduser`/`deluser` run beside it
 * and the `ferry` CLI logging in.
 *
 * @module
 */

import assert from "node:assert/strict";
import { addUser, hashToken, removeUser } from "../../server/auth.ts";
import type { Account } from "../../server/auth.ts";
import type { LogFields } from "../../server/log.ts";
import { watchUsersFile } from "../../server/users_watch.ts";
import { FerryError } from "../../protocol/errors.ts";
import {
  assertOk,
  childEnv,
  describe,
  ferry,
  SERVER,
  sleep,
  spawnServer,
  tempDir,
} from "../_helpers/mod.ts";

/** Polls `check` every 50 ms until it is true, or fails after `ms`. */
async function until(check: () => boolean | Promise<boolean>, ms: number, what: string) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(50);
  }
}

function users(accounts: readonly Account[]): string[] {
  return accounts.map((a) => `${a.user}:${a.role}`);
}

Deno.test("users watch: added, removed, broken (old accounts kept, one log line), fixed, deleted", async () => {
  await using dir = await tempDir("ferry-users-watch-");
  const file = `${dir.path}/users.json`;
  const aliceToken = await addUser(file, "alice", "write");
  const logs: LogFields[] = [];
  const changes: string[][] = [];
  using watch = await watchUsersFile(file, {
    log: (fields) => logs.push(fields),
    onChange: (accounts) => changes.push(users(accounts)),
    debounceMs: 100,
  });
  assert.deepEqual(users(watch.accounts), ["alice:write"]);
  assert.deepEqual(watch.accounts[0].tokenHash, hashToken(aliceToken));

  await addUser(file, "bob", "read");
  await until(() => changes.length === 1, 5_000, "bob picked up");
  assert.deepEqual(changes[0], ["alice:write", "bob:read"]);
  assert.deepEqual(users(watch.accounts), ["alice:write", "bob:read"]);
  assert.deepEqual(logs.at(-1), {
    event: "users",
    result: "reloaded",
    file,
    users: 2,
  });

  await removeUser(file, "alice");
  await until(() => changes.length === 2, 5_000, "alice removed");
  assert.deepEqual(users(watch.accounts), ["bob:read"]);

  // Written in place, half-way, by an editor: not valid; bob stays, one line says so.
  const logged = logs.length;
  await Deno.writeTextFile(file, '[{"user": "bob", "role": "read", "sha2');
  await until(() => logs.length > logged, 5_000, "the broken file logged");
  await sleep(400);
  assert.equal(logs.length, logged + 1, "one line for the broken file");
  const line = logs.at(-1)!;
  assert.equal(line.event, "users");
  assert.equal(line.result, "error");
  assert.match(
    String(line.error),
    /users\.json is not valid JSON .*; fix it, .*; the 1 users loaded before stay in force/,
  );
  assert.equal(changes.length, 2, "no change applied");
  assert.deepEqual(users(watch.accounts), ["bob:read"]);

  // An entry that does not validate: the same.
  await Deno.writeTextFile(file, '[{"user": "eve", "role": "root", "sha256": "00"}]');
  await until(() => logs.length > logged + 1, 5_000, "the invalid entry logged");
  assert.match(String(logs.at(-1)!.error), /users\.json\[0\]: expected .*fix or remove that entry/);
  assert.deepEqual(users(watch.accounts), ["bob:read"]);

  // Fixed: applied.
  const carolToken = await addUserFresh(file, "carol", "admin");
  await until(() => changes.length === 3, 5_000, "the fixed file applied");
  assert.deepEqual(changes[2], ["carol:admin"]);
  assert.deepEqual(watch.accounts[0].tokenHash, hashToken(carolToken));

  // Deleted: no users from the file any more.
  await Deno.remove(file);
  await until(() => changes.length === 4, 5_000, "the deletion applied");
  assert.deepEqual(changes[3], []);
  assert.equal(logs.at(-1)!.result, "removed");

  // Closed: nothing more is applied.
  watch.close();
  await addUser(file, "dave", "read");
  await sleep(500);
  assert.equal(changes.length, 4);
});

/** Writes a users file holding only `user` (whatever was there) and returns their token. */
async function addUserFresh(file: string, user: string, role: string): Promise<string> {
  const scratch = `${file}.new`;
  const token = await addUser(scratch, user, role);
  await Deno.rename(scratch, file);
  return token;
}

Deno.test("users watch: a broken file at start is an error in one line; a missing one is no users", async () => {
  await using dir = await tempDir("ferry-users-start-");
  const file = `${dir.path}/users.json`;
  const changes: string[][] = [];
  using watch = await watchUsersFile(file, {
    log: () => {},
    onChange: (accounts) => changes.push(users(accounts)),
    debounceMs: 50,
  });
  assert.deepEqual(watch.accounts, []);
  await addUser(file, "late", "write");
  await until(() => changes.length === 1, 5_000, "a file that appears later");
  assert.deepEqual(changes[0], ["late:write"]);

  await Deno.writeTextFile(`${dir.path}/broken.json`, "{");
  await assert.rejects(
    () => watchUsersFile(`${dir.path}/broken.json`, { log: () => {}, onChange: () => {} }),
    (err) => err instanceof FerryError && err.code === "USAGE" && !err.message.includes("\n"),
  );
  await assert.rejects(() => removeUser(file, "nobody"), /has no user "nobody"; its users: late/);
});

Deno.test("users watch: a running server accepts a user added by adduser and refuses one removed, without a restart", async () => {
  await using dir = await tempDir("ferry-users-live-");
  const cwd = dir.path;
  const server = await spawnServer([], { cwd });
  try {
    const admin = async (...args: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-read", "--allow-write=./certs", SERVER, ...args],
        cwd,
        clearEnv: true,
        env: childEnv(),
        stdin: "null",
      }).output();
      const decoder = new TextDecoder();
      const run = {
        code: out.code,
        stdout: decoder.decode(out.stdout),
        stderr: decoder.decode(out.stderr),
      };
      assertOk(run, `ferry-server ${args.join(" ")}`);
      return run.stdout.trim();
    };
    const asUser = (token: string) =>
      ferry(cwd, ["--port", String(server.port), "--token", token, "ls"], {
        FERRY_CONFIG_DIR: `${cwd}/config`,
      });

    const carol = await admin("adduser", "carol", "--role", "read");
    const dave = await admin("adduser", "dave", "--role", "write");
    assert.ok(!carol.startsWith("-") && !dave.startsWith("-"));
    // The server re-reads the file within its debounce; poll so a loaded machine is no failure.
    let run = await asUser(carol);
    for (let i = 0; i < 20 && run.code !== 0; i++) {
      await sleep(200);
      run = await asUser(carol);
    }
    assertOk(run, "carol, added while the server runs");
    assertOk(await asUser(dave), "dave");
    await until(
      () => /event=users result=reloaded .*users=2/.test(server.stderr()),
      5_000,
      "the reload logged",
    );

    await admin("deluser", "carol");
    await until(
      () => /event=users result=reloaded .*users=1/.test(server.stderr()),
      5_000,
      "the removal applied",
    );
    const refused = await asUser(carol);
    assert.equal(refused.code, 5, `carol removed: ${describe(refused)}`);
    assertOk(await asUser(dave), "dave stays");

    // A broken file: dave stays, one line in the server's log, the server keeps running.
    await Deno.writeTextFile(`${cwd}/certs/users.json`, "[");
    await until(
      () => /event=users result=error .*users\.json is not valid JSON/.test(server.stderr()),
      5_000,
      "the broken file logged",
    );
    assertOk(await asUser(dave), "dave, with the file broken");
    assert.equal(server.stderr().match(/event=users result=error/g)?.length, 1, "one line");
  } finally {
    await server.stop();
  }
});
