/**
 * Generated tokens can never be taken for an option (issue 11): none begins with `-`, for the
 * admin token and for `adduser` tokens alike, and they stay 43 base64url characters, all
 * different.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  addUser,
  ensureAdminToken,
  generateToken,
  hashToken,
  loadUsers,
} from "../../server/auth.ts";
import { tempDir } from "../_helpers/mod.ts";

const BASE64URL_43 = /^[A-Za-z0-9_-]{43}$/;

Deno.test("tokens: 100,000 draws, none begins with '-', every other first character occurs", () => {
  const firsts = new Map<string, number>();
  const seen = new Set<string>();
  for (let i = 0; i < 100_000; i++) {
    const token = generateToken();
    assert.match(token, BASE64URL_43);
    assert.notEqual(token[0], "-", `draw ${i}: ${token}`);
    seen.add(token);
    firsts.set(token[0], (firsts.get(token[0]) ?? 0) + 1);
  }
  assert.equal(seen.size, 100_000, "every token differs");
  // The other 63 characters all begin tokens, about equally often (expected 1587 each).
  assert.equal(firsts.size, 63, `first characters seen: ${[...firsts.keys()].join("")}`);
  for (const [c, n] of firsts) assert.ok(n > 1200 && n < 2000, `${c} first ${n} times`);
  // '-' inside a token is still used: the entropy of the other 42 characters is untouched.
  let dashes = 0;
  for (let i = 0; i < 1000; i++) dashes += generateToken().slice(1).split("-").length - 1;
  assert.ok(dashes > 400, `only ${dashes} '-' inside 1000 tokens (expected about 656)`);
});

Deno.test("tokens: admin tokens and adduser tokens never begin with '-'", async () => {
  await using dir = await tempDir("ferry-tokens-");
  for (let i = 0; i < 200; i++) {
    await Deno.remove(`${dir.path}/token`).catch(() => {});
    const { token, created } = await ensureAdminToken(dir.path);
    assert.ok(created);
    assert.match(token, BASE64URL_43);
    assert.notEqual(token[0], "-", `admin token ${i}: ${token}`);
    assert.equal(await Deno.readTextFile(`${dir.path}/token`), `${token}\n`);
  }
  const file = `${dir.path}/users.json`;
  for (let i = 0; i < 200; i++) {
    const token = await addUser(file, "alice", "write");
    assert.match(token, BASE64URL_43);
    assert.notEqual(token[0], "-", `adduser token ${i}: ${token}`);
    const [alice] = await loadUsers(file);
    assert.deepEqual(alice.tokenHash, hashToken(token), "the file holds the new token's hash");
  }
});
