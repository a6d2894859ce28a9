/**
 * Tests for server/storage/paths.ts and server/storage/fs_errors.ts (and the local storage's
 * delete and upload over a symlink): catalogue rows 10–15, 17–20 and 22.
 *
 * Run: deno test --allow-read --allow-write tests/server/storage/paths_test.ts
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { type ErrorCode, FerryError } from "../../../protocol/errors.ts";
import { fsError } from "../../../server/storage/fs_errors.ts";
import { quoteName } from "../../../common/names.ts";
import {
  isTempName,
  MAX_COMPONENT_BYTES,
  MAX_DEPTH,
  MAX_PATH_BYTES,
  parsePath,
  type PathPurpose,
  resolveExisting,
  resolveParent,
  TEMP_PREFIX,
} from "../../../server/storage/paths.ts";
import { createLocalStorage } from "../../../server/storage/local.ts";

// --- helpers ------------------------------------------------------------------------------

const PURPOSES: readonly PathPurpose[] = ["read", "create"];

/** True when `s` holds a raw C0/C1 control, DEL or a bidi override (unsafe in a log line). */
function hasRawControl(s: string): boolean {
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e)) return true;
  }
  return false;
}

function assertFerryError(err: unknown, code: ErrorCode, label: string): FerryError {
  assert.ok(err instanceof FerryError, `${label}: expected FerryError ${code}, got ${err}`);
  assert.equal(err.code, code, `${label}: ${err.message}`);
  assert.ok(!hasRawControl(err.message), `${label}: raw control character in message`);
  return err;
}

function parseFails(raw: string, purpose: PathPurpose, code: ErrorCode): FerryError {
  const label = `parsePath(${JSON.stringify(raw)}, ${purpose})`;
  try {
    const got = parsePath(raw, purpose);
    assert.fail(`${label}: expected ${code}, got ${JSON.stringify(got)}`);
  } catch (err) {
    return assertFerryError(err, code, label);
  }
}

async function rejects(
  label: string,
  code: ErrorCode,
  fn: () => Promise<unknown>,
  secrets: readonly string[] = [],
): Promise<FerryError> {
  try {
    const got = await fn();
    assert.fail(`${label}: expected ${code}, got ${JSON.stringify(got)}`);
  } catch (err) {
    const e = assertFerryError(err, code, label);
    for (const secret of secrets) {
      assert.ok(!e.message.includes(secret), `${label}: message leaks ${secret}: ${e.message}`);
    }
    return e;
  }
}

// --- parsePath: tables --------------------------------------------------------------------

/** Refused for every purpose: [raw, code, catalogue row]. */
const REFUSED_ALWAYS: readonly (readonly [string, ErrorCode, string])[] = [
  // Row 10: dot-dot, never normalised away.
  ["..", "OUTSIDE_ROOT", "10"],
  ["../x", "OUTSIDE_ROOT", "10"],
  ["a/../../x", "OUTSIDE_ROOT", "10"],
  ["./..", "OUTSIDE_ROOT", "10"],
  ["a/./../..", "OUTSIDE_ROOT", "10"],
  ["x/..", "OUTSIDE_ROOT", "10"],
  ["x/../y", "OUTSIDE_ROOT", "10"],
  ["a//..//b", "OUTSIDE_ROOT", "10"],
  // Row 11: absolute paths are refused, never re-rooted.
  ["/etc/passwd", "OUTSIDE_ROOT", "11"],
  ["//etc", "OUTSIDE_ROOT", "11"],
  ["/./etc", "OUTSIDE_ROOT", "11"],
  ["/", "OUTSIDE_ROOT", "11"],
  ["/x/../..", "OUTSIDE_ROOT", "11"],
  // Row 12: Windows forms, on every OS.
  ["..\\..\\x", "BAD_NAME", "12"],
  ["a\\..\\..\\x", "BAD_NAME", "12"],
  ["C:\\x", "BAD_NAME", "12"],
  ["C:x", "BAD_NAME", "12"],
  ["c:/x", "BAD_NAME", "12"],
  ["\\\\srv\\share", "BAD_NAME", "12"],
  ["\\\\?\\C:\\x", "BAD_NAME", "12"],
  ["\\??\\C:\\x", "BAD_NAME", "12"],
  ["a\\b", "BAD_NAME", "12"],
  ["a/../c:/b", "BAD_NAME", "12"],
  // Row 13: colon forms (streams), refused even for reading.
  ["f::$DATA", "BAD_NAME", "13"],
  ["a:b", "BAD_NAME", "13"],
  ["dir/file.txt:stream", "BAD_NAME", "13"],
  // Row 14: NUL and control characters.
  ["a\0b", "BAD_NAME", "14"],
  ["\0", "BAD_NAME", "14"],
  ["a\nb", "BAD_NAME", "14"],
  ["a\rb", "BAD_NAME", "14"],
  ["a\tb", "BAD_NAME", "14"],
  ["\x1b[31m", "BAD_NAME", "14"],
  ["a\x7fb", "BAD_NAME", "14"],
  ["a\x85b", "BAD_NAME", "14"],
  ["a\x9b31m", "BAD_NAME", "14"],
  ["ok/\x01", "BAD_NAME", "14"],
  // Row 16's relatives: not NFC (NFD twin of "é"), lone surrogates.
  ["e\u0301", "BAD_NAME", "16"],
  ["dir/Cafe\u0301.txt", "BAD_NAME", "16"],
  ["\ud800", "BAD_NAME", "16"],
  ["a\udc00b", "BAD_NAME", "16"],
  // Row 18: the empty path.
  ["", "BAD_NAME", "18"],
  // Row 22: the temporary namespace is closed.
  [".ferry-abc", "BAD_NAME", "22"],
  [".ferry-", "BAD_NAME", "22"],
  ["d/.ferry-123.part", "BAD_NAME", "22"],
  [".ferry-x/child", "BAD_NAME", "22"],
  [".FERRY-abc", "BAD_NAME", "22"],
  [".Ferry-abc", "BAD_NAME", "22"],
];

/** Refused only for "create" (readable, so existing files stay reachable). */
const REFUSED_FOR_CREATE: readonly string[] = [
  // Row 13 as listed.
  "CON",
  "nul.txt",
  "COM1 ",
  "COM¹",
  "LPT1.log",
  "name.",
  "name ",
  // Row 13's relatives.
  "con",
  "Prn",
  "aux.tar.gz",
  "NUL .txt",
  "COM0",
  "com9",
  "LPT9",
  "lpt³",
  "COM².log",
  "CONIN$",
  "conout$.txt",
  "dir/PRN",
  "PRN/x",
  "...",
  "trailing./x",
  "a<b",
  "a>b",
  'a"b',
  "a|b",
  "a?b",
  "a*b",
  // Look-alikes that fold (NFKC) into refused names.
  "ＣＯＮ",
  "．．",
  "a／b",
  "a＼b",
  "ａ：ｂ",
  "name\u3000",
  "．ferry-x",
  // Invisible characters (zero-width, bidi, BOM, soft hyphen) outside emoji sequences.
  "x\u200bY",
  "a\u200db",
  "a\u202eb",
  "\ufeffbom",
  "soft\u00adhyphen",
  ".git\u200c",
];

/** Accepted for every purpose: [raw, components]. */
const ACCEPTED: readonly (readonly [string, readonly string[]])[] = [
  // Row 15: encodings are literal names, never decoded.
  ["%2e%2e%2f", ["%2e%2e%2f"]],
  [".%252e", [".%252e"]],
  ["%2e%2e/x", ["%2e%2e", "x"]],
  ["..%2f..%2fetc", ["..%2f..%2fetc"]],
  ["%5c", ["%5c"]],
  ["%00", ["%00"]],
  // Row 18: the root, and the one rule for empty and "." components.
  [".", []],
  ["./", []],
  ["./.", []],
  ["a//b", ["a", "b"]],
  ["a/b/", ["a", "b"]],
  ["a/./b", ["a", "b"]],
  ["./a///b//", ["a", "b"]],
  // Ordinary names.
  ["file.txt", ["file.txt"]],
  ["docs/report 2024.pdf", ["docs", "report 2024.pdf"]],
  [".hidden", [".hidden"]],
  ["..hidden", ["..hidden"]],
  ["a..b", ["a..b"]],
  [".ferryx", [".ferryx"]],
  ["ferry-x", ["ferry-x"]],
  ["x.ferry-", ["x.ferry-"]],
  ["CONSOLE", ["CONSOLE"]],
  ["COM10", ["COM10"]],
  ["LPT", ["LPT"]],
  ["con-fig.txt", ["con-fig.txt"]],
  ["nul_file", ["nul_file"]],
  [" leading space", [" leading space"]],
  ["café", ["café"]],
  ["日本語/ファイル.txt", ["日本語", "ファイル.txt"]],
  ["½ x².txt", ["½ x².txt"]],
  ["❤️.txt", ["❤️.txt"]],
  ["👨‍👩‍👧 family", ["👨‍👩‍👧 family"]],
  ["ＣＯＮＳＯＬＥ", ["ＣＯＮＳＯＬＥ"]],
];

Deno.test("parsePath refuses dot-dot, absolute, Windows, control, non-NFC, temp (rows 10-14, 16, 18, 22)", () => {
  for (const [raw, code] of REFUSED_ALWAYS) {
    for (const purpose of PURPOSES) parseFails(raw, purpose, code);
  }
});

Deno.test("parsePath refuses reserved and unportable names for create only (row 13)", () => {
  for (const raw of REFUSED_FOR_CREATE) {
    parseFails(raw, "create", "BAD_NAME");
    // Read as they are: never folded (ＣＯＮ stays ＣＯＮ) nor split at look-alikes (a／b).
    assert.ok(parsePath(raw, "read").length > 0, `read ${JSON.stringify(raw)}`);
    assert.deepEqual(parsePath(raw, "read"), raw.split("/"), `read ${JSON.stringify(raw)}`);
  }
});

Deno.test("parsePath accepts literal encodings, root forms and ordinary names (rows 15, 18)", () => {
  for (const [raw, want] of ACCEPTED) {
    for (const purpose of PURPOSES) {
      assert.deepEqual(parsePath(raw, purpose), want, `${JSON.stringify(raw)} ${purpose}`);
    }
  }
});

Deno.test("parsePath: a//b is handled one way, consistently (row 18)", () => {
  const forms = ["a/b", "a//b", "a/b/", "a/./b", "./a/b", "a///b"];
  for (const raw of forms) assert.deepEqual(parsePath(raw, "read"), ["a", "b"], raw);
});

Deno.test("parsePath length and depth limits (row 17)", () => {
  assert.equal(MAX_COMPONENT_BYTES, 255);
  assert.equal(MAX_PATH_BYTES, 4095);
  assert.equal(MAX_DEPTH, 256);
  const ascii255 = "a".repeat(255);
  const mixed255 = "é".repeat(127) + "a";
  const emoji255 = "😀".repeat(63) + "abc"; // 4 × 63 + 3
  for (const name of [ascii255, mixed255, emoji255, `d/${ascii255}`]) {
    for (const purpose of PURPOSES) {
      assert.equal(parsePath(name, purpose).at(-1)?.length, name.split("/").at(-1)?.length);
    }
  }
  for (const purpose of PURPOSES) {
    parseFails("a".repeat(256), purpose, "NAME_TOO_LONG");
    parseFails("é".repeat(128), purpose, "NAME_TOO_LONG");
    parseFails(`d/${"é".repeat(128)}/x`, purpose, "NAME_TOO_LONG");
    parseFails("😀".repeat(64), purpose, "NAME_TOO_LONG");
  }
  // Whole path: 16 × 255 + 15 separators = 4095 bytes fits (PATH_MAX less its NUL); a
  // trailing "/" makes 4096, which does not.
  const long = Array(16).fill("x".repeat(255)).join("/");
  assert.equal(new TextEncoder().encode(long).length, 4095);
  assert.equal(parsePath(long, "read").length, 16);
  parseFails(long + "/", "read", "NAME_TOO_LONG");
  parseFails(long + "/x", "create", "NAME_TOO_LONG");
  parseFails("é/".repeat(1366), "read", "NAME_TOO_LONG");
  parseFails("x".repeat(70_000), "read", "NAME_TOO_LONG");
  // Depth: 256 components fit, 257 do not.
  assert.equal(parsePath("a/".repeat(256), "read").length, 256);
  parseFails("a/".repeat(257), "read", "BAD_NAME");
  parseFails("a/".repeat(2047), "create", "BAD_NAME");
});

Deno.test("parsePath messages quote the path safely", () => {
  const err = parseFails("evil\x1b[2J\u202e\x9b", "read", "BAD_NAME");
  assert.ok(err.message.includes(String.raw`\u001b[2J\u202e\u009b`), err.message);
  assert.ok(parseFails("", "read", "BAD_NAME").message.includes('""'));
});

Deno.test("isTempName and TEMP_PREFIX (row 22)", () => {
  assert.equal(TEMP_PREFIX, ".ferry-");
  assert.ok(isTempName(".ferry-0001.part"));
  assert.ok(isTempName(".ferry-"));
  assert.ok(isTempName(".FERRY-x"));
  assert.ok(!isTempName(".ferry"));
  assert.ok(!isTempName("ferry-x"));
  assert.ok(!isTempName("x.ferry-y"));
  assert.ok(!isTempName(""));
});

// --- resolveExisting / resolveParent on a real tree ---------------------------------------

const CANARY_TEXT = "canary: secret contents that must never leave the server\n";

interface Fixture {
  /** Temp dir holding ROOT and CANARY. */
  base: string;
  /** Real path of ROOT. */
  root: string;
  /** Absolute path of CANARY (outside ROOT). */
  canary: string;
  /** Strings no error message may contain. */
  secrets: readonly string[];
}

/**
 * Builds:
 * ```
 * base/CANARY
 * base/root/d/real.txt      base/root/d/sub/     base/root/file.txt
 * base/root/out -> base     base/root/etc -> /etc
 * base/root/d/f -> ../../CANARY
 * base/root/inside -> d     base/root/alias.txt -> d/real.txt    base/root/self -> .
 * base/root/loop -> loop    base/root/dangling -> nowhere
 * base/root/.ferry-tmp1     base/root/sneaky -> .ferry-tmp1
 * ```
 */
async function withFixture(fn: (f: Fixture) => Promise<void>): Promise<void> {
  const base = await Deno.realPath(await Deno.makeTempDir({ prefix: "ferry-paths-" }));
  try {
    const root = join(base, "root");
    const canary = join(base, "CANARY");
    await Deno.writeTextFile(canary, CANARY_TEXT);
    await Deno.mkdir(join(root, "d", "sub"), { recursive: true });
    await Deno.writeTextFile(join(root, "d", "real.txt"), "hello");
    await Deno.writeTextFile(join(root, "file.txt"), "file");
    await Deno.writeTextFile(join(root, ".ferry-tmp1"), "partial upload");
    await Deno.symlink(base, join(root, "out"));
    await Deno.symlink("/etc", join(root, "etc"));
    await Deno.symlink("../../CANARY", join(root, "d", "f"));
    await Deno.symlink("d", join(root, "inside"));
    await Deno.symlink("d/real.txt", join(root, "alias.txt"));
    await Deno.symlink(".", join(root, "self"));
    await Deno.symlink("loop", join(root, "loop"));
    await Deno.symlink("nowhere", join(root, "dangling"));
    await Deno.symlink(".ferry-tmp1", join(root, "sneaky"));
    await fn({ base, root: await Deno.realPath(root), canary, secrets: [base, root] });
    assert.equal(await Deno.readTextFile(canary), CANARY_TEXT, "CANARY changed");
  } finally {
    await Deno.remove(base, { recursive: true });
  }
}

Deno.test("resolveExisting finds paths inside the root, through inside symlinks", async () => {
  await withFixture(async ({ root }) => {
    const cases: readonly (readonly [string, string, readonly string[]])[] = [
      [".", root, []],
      ["./", root, []],
      ["d", join(root, "d"), ["d"]],
      ["d/real.txt", join(root, "d", "real.txt"), ["d", "real.txt"]],
      ["d//real.txt", join(root, "d", "real.txt"), ["d", "real.txt"]],
      ["inside/real.txt", join(root, "d", "real.txt"), ["inside", "real.txt"]],
      ["inside/sub", join(root, "d", "sub"), ["inside", "sub"]],
      ["alias.txt", join(root, "d", "real.txt"), ["alias.txt"]],
      ["self", root, ["self"]],
      ["self/self/d/real.txt", join(root, "d", "real.txt"), ["self", "self", "d", "real.txt"]],
      ["CON", join(root, "CON"), ["CON"]],
    ];
    await Deno.writeTextFile(join(root, "CON"), "made locally, readable remotely");
    for (const [raw, absolute, components] of cases) {
      assert.deepEqual(await resolveExisting(root, raw), { absolute, components }, raw);
    }
  });
});

Deno.test("resolveExisting refuses escapes, temp files and missing paths (rows 10-12, 14, 15, 19, 22)", async () => {
  await withFixture(async ({ root, secrets }) => {
    const cases: readonly (readonly [string, ErrorCode])[] = [
      ...REFUSED_ALWAYS.map(([raw, code]) => [raw, code] as const),
      // Row 19: symlinks inside ROOT pointing out.
      ["out", "OUTSIDE_ROOT"],
      ["out/CANARY", "OUTSIDE_ROOT"],
      ["out/root/d", "OUTSIDE_ROOT"], // out and back in: still refused
      ["out/no-such-file", "OUTSIDE_ROOT"], // no existence oracle outside
      ["etc", "OUTSIDE_ROOT"],
      ["etc/passwd", "OUTSIDE_ROOT"],
      ["etc/no-such-file", "OUTSIDE_ROOT"],
      ["d/f", "OUTSIDE_ROOT"],
      ["inside/f", "OUTSIDE_ROOT"],
      ["loop", "OUTSIDE_ROOT"],
      // Row 15: literal names that do not exist.
      ["%2e%2e%2f", "NOT_FOUND"],
      [".%252e", "NOT_FOUND"],
      ["%2e%2e/CANARY", "NOT_FOUND"],
      // Missing, dangling, and a symlink into the temp namespace (row 22).
      ["missing", "NOT_FOUND"],
      ["d/missing", "NOT_FOUND"],
      ["missing/x", "NOT_FOUND"],
      ["dangling", "NOT_FOUND"],
      ["sneaky", "NOT_FOUND"],
      // A file used as a directory.
      ["file.txt/x", "NOT_A_DIRECTORY"],
      ["alias.txt/x", "NOT_A_DIRECTORY"],
    ];
    for (const [raw, code] of cases) {
      await rejects(
        `resolveExisting(${JSON.stringify(raw)})`,
        code,
        () => resolveExisting(root, raw),
        secrets,
      );
    }
  });
});

Deno.test("resolveParent locates the parent and never follows the final name (rows 19, 20)", async () => {
  await withFixture(async ({ root }) => {
    const cases: readonly (readonly [string, PathPurpose, string, string])[] = [
      ["new.txt", "create", root, "new.txt"],
      ["d/new.txt", "create", join(root, "d"), "new.txt"],
      ["d//sub/new.txt", "create", join(root, "d", "sub"), "new.txt"],
      ["inside/new.txt", "create", join(root, "d"), "new.txt"],
      ["self/inside/new.txt", "create", join(root, "d"), "new.txt"],
      ["d/f", "read", join(root, "d"), "f"],
      ["out", "read", root, "out"],
      ["etc", "create", root, "etc"],
      ["loop", "read", root, "loop"],
      ["dangling", "read", root, "dangling"],
      ["CON", "read", root, "CON"],
    ];
    for (const [raw, purpose, dir, name] of cases) {
      assert.deepEqual(
        await resolveParent(root, raw, purpose),
        { dir, name, absolute: join(dir, name) },
        `${raw} ${purpose}`,
      );
    }
  });
});

Deno.test("resolveParent refuses the root, escapes and bad parents (rows 13, 18, 19, 22)", async () => {
  await withFixture(async ({ root, secrets }) => {
    const cases: readonly (readonly [string, PathPurpose, ErrorCode])[] = [
      ...REFUSED_ALWAYS.map(([raw, code]) => [raw, "create", code] as const),
      ...REFUSED_FOR_CREATE.map((raw) => [raw, "create", "BAD_NAME"] as const),
      [".", "read", "BAD_NAME"],
      ["./", "create", "BAD_NAME"],
      ["out/x", "create", "OUTSIDE_ROOT"],
      ["out/CANARY", "read", "OUTSIDE_ROOT"],
      ["etc/passwd", "read", "OUTSIDE_ROOT"],
      ["etc/new", "create", "OUTSIDE_ROOT"],
      ["out/root/new", "create", "OUTSIDE_ROOT"],
      ["d/f/x", "create", "OUTSIDE_ROOT"],
      ["loop/x", "read", "OUTSIDE_ROOT"],
      ["missing/x", "create", "NOT_FOUND"],
      ["dangling/x", "create", "NOT_FOUND"],
      ["sneaky/x", "create", "NOT_FOUND"],
      ["file.txt/x", "create", "NOT_A_DIRECTORY"],
      ["alias.txt/x", "create", "NOT_A_DIRECTORY"],
      ["d/real.txt/x/y", "read", "NOT_A_DIRECTORY"],
      [".ferry-tmp1", "read", "BAD_NAME"],
      [`${TEMP_PREFIX}new`, "create", "BAD_NAME"],
    ];
    for (const [raw, purpose, code] of cases) {
      const label = `resolveParent(${JSON.stringify(raw)}, ${purpose})`;
      await rejects(label, code, () => resolveParent(root, raw, purpose), secrets);
    }
    const missing = await rejects(
      "missing parent",
      "NOT_FOUND",
      () => resolveParent(root, "nope/x", "create"),
    );
    assert.ok(missing.message.includes('"nope"'), missing.message);
  });
});

Deno.test("a symlink as the last component: rm removes the link, put replaces it (row 20)", async () => {
  await withFixture(async ({ root, canary }) => {
    // The real delete and upload, through the storage layer the handlers use.
    const storage = await createLocalStorage(root);
    const removed = await resolveParent(root, "d/f", "read");
    assert.ok((await Deno.lstat(removed.absolute)).isSymlink);
    assert.deepEqual(await storage.remove("d/f"), { freedBytes: 0 });
    await rejects("removed link", "NOT_FOUND", () => resolveExisting(root, "d/f"));
    assert.equal(await Deno.readTextFile(canary), CANARY_TEXT);

    const target = await resolveParent(root, "out", "create");
    assert.ok((await Deno.lstat(target.absolute)).isSymlink);
    const contents = new TextEncoder().encode("new contents");
    const upload = await storage.stage({
      user: "alice",
      path: "out",
      size: contents.length,
      mtime: null,
    });
    await upload.write(contents);
    await upload.commit({
      size: contents.length,
      digest: new Uint8Array(createHash("sha256").update(contents).digest()),
    });
    const info = await Deno.lstat(target.absolute);
    assert.ok(info.isFile && !info.isSymlink);
    assert.equal(await Deno.readTextFile(target.absolute), "new contents");
    assert.equal(await Deno.readTextFile(canary), CANARY_TEXT);
    const now = await resolveExisting(root, "out");
    assert.equal(now.absolute, join(root, "out"));
  });
});

Deno.test("a 255-byte name is created on disk; 256 bytes is NAME_TOO_LONG (row 17)", async () => {
  await withFixture(async ({ root }) => {
    for (const name of ["a".repeat(255), "é".repeat(127) + "a"]) {
      const { absolute } = await resolveParent(root, `d/${name}`, "create");
      await Deno.writeTextFile(absolute, "x", { createNew: true });
      assert.equal((await resolveExisting(root, `d/${name}`)).absolute, absolute);
    }
    await rejects(
      "256 bytes",
      "NAME_TOO_LONG",
      () => resolveParent(root, "é".repeat(128), "create"),
    );
    await rejects("256 bytes", "NAME_TOO_LONG", () => resolveExisting(root, "é".repeat(128)));
  });
});

// --- fsError --------------------------------------------------------------------------------

async function thrown(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected the call to throw");
}

Deno.test("fsError maps real Deno errors without leaking server paths", async () => {
  const base = await Deno.realPath(await Deno.makeTempDir({ prefix: "ferry-fserr-" }));
  try {
    await Deno.mkdir(join(base, "dir", "sub"), { recursive: true });
    await Deno.writeTextFile(join(base, "file"), "x");
    await Deno.symlink("loop", join(base, "loop"));
    const cases: readonly (readonly [string, ErrorCode, () => Promise<unknown>])[] = [
      ["stat a missing file", "NOT_FOUND", () => Deno.stat(join(base, "missing"))],
      ["mkdir an existing dir", "ALREADY_EXISTS", () => Deno.mkdir(join(base, "dir"))],
      [
        "readDir a file",
        "NOT_A_DIRECTORY",
        () => Array.fromAsync(Deno.readDir(join(base, "file"))),
      ],
      ["remove a non-empty dir", "NOT_EMPTY", () => Deno.remove(join(base, "dir"))],
      ["readFile a dir", "IS_A_DIRECTORY", () => Deno.readFile(join(base, "dir"))],
      ["stat a NUL name", "BAD_NAME", () => Deno.stat(join(base, "a\0b"))],
      ["stat a 256-byte name", "NAME_TOO_LONG", () => Deno.stat(join(base, "é".repeat(128)))],
      ["realPath a symlink loop", "OUTSIDE_ROOT", () => Deno.realPath(join(base, "loop"))],
      [
        "createNew over a file",
        "ALREADY_EXISTS",
        () => Deno.writeTextFile(join(base, "file"), "y", { createNew: true }),
      ],
    ];
    for (const [label, code, fn] of cases) {
      const original = await thrown(fn);
      const e = fsError(original, "client/path.txt");
      assertFerryError(e, code, label);
      assert.equal(e.cause, original, `${label}: cause kept for the server log`);
      assert.ok(e.message.includes('"client/path.txt"'), `${label}: ${e.message}`);
      assert.ok(!e.message.includes(base), `${label}: leaks the server path: ${e.message}`);
    }
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("fsError maps errors by code, class and message", () => {
  const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });
  const cases: readonly (readonly [unknown, ErrorCode])[] = [
    [
      new Deno.errors.PermissionDenied("Permission denied (os error 13): open '/srv/x'"),
      "PERMISSION_DENIED",
    ],
    [new Deno.errors.NotCapable("Requires write access to '/srv/x'"), "PERMISSION_DENIED"],
    [new Deno.errors.NotFound("gone"), "NOT_FOUND"],
    [new Deno.errors.AlreadyExists("there"), "ALREADY_EXISTS"],
    [new Deno.errors.IsADirectory("dir"), "IS_A_DIRECTORY"],
    [new Deno.errors.NotADirectory("file"), "NOT_A_DIRECTORY"],
    [new Deno.errors.FilesystemLoop("loop"), "OUTSIDE_ROOT"],
    [withCode("No space left on device (os error 28): write '/srv/x'", "ENOSPC"), "NO_SPACE"],
    [withCode("Disk quota exceeded (os error 122)", "EDQUOT"), "NO_SPACE"],
    [withCode("Read-only file system (os error 30)", "EROFS"), "PERMISSION_DENIED"],
    [withCode("File too large (os error 27)", "EFBIG"), "TOO_LARGE"],
    [withCode("Too many open files (os error 24)", "EMFILE"), "BUSY"],
    [new Error("File name too long (os error 36)"), "NAME_TOO_LONG"],
    [new Error("Directory not empty (os error 39)"), "NOT_EMPTY"],
    [withCode("file name contained an unexpected NUL byte", "EINVAL"), "BAD_ARGUMENT"],
    [new TypeError("file name contained an unexpected NUL byte: stat '/srv/a'"), "BAD_NAME"],
    [withCode("Invalid cross-device link (os error 18)", "EXDEV"), "INTERNAL"],
    [new Error("boom"), "INTERNAL"],
    ["a string", "INTERNAL"],
    [undefined, "INTERNAL"],
  ];
  for (const [err, code] of cases) {
    const e = fsError(err, "x");
    assertFerryError(e, code, String(err));
    assert.ok(!e.message.includes("/srv"), e.message);
  }
  assert.ok(fsError(withCode("Invalid cross-device link", "EXDEV"), "x").message.includes("EXDEV"));
  const original = new FerryError("OUTSIDE_ROOT", "kept");
  assert.equal(fsError(original, "x"), original);
});

Deno.test("fsError and quoteName escape control characters and cut long names (row 14)", () => {
  const e = fsError(new Deno.errors.NotFound("gone"), "a\nb\x1b[31m\u202e\x9b\ud800");
  assert.ok(!hasRawControl(e.message), e.message);
  assert.equal(quoteName("a\nb"), String.raw`"a\nb"`);
  assert.equal(quoteName("\x7f\x9b\u202e\ufeff"), String.raw`"\u007f\u009b\u202e\ufeff"`);
  assert.equal(quoteName("\u{e0001}"), String.raw`"\udb40\udc01"`);
  assert.equal(quoteName("café ❤️"), '"café ❤️"');
  const long = quoteName("é".repeat(1000));
  assert.ok(long.length < 210 && long.endsWith('…"'), long);
});
