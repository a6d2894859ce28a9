/** Tests for common/names.ts: the portable-name rule and the display escaping both ends share. */

import assert from "node:assert/strict";
import {
  hasControlChar,
  isPortableName,
  isWindowsDeviceName,
  MAX_QUOTED_CHARS,
  portabilityProblem,
  quoteName,
  utf8Length,
} from "../../common/names.ts";

Deno.test("isWindowsDeviceName: every device name, with extensions, spaces and superscripts", () => {
  const devices = [
    "CON",
    "prn",
    "Aux",
    "NUL",
    "COM0",
    "com9",
    "COM¹",
    "LPT³",
    "CONIN$",
    "conout$",
    "nul.txt",
    "aux.tar.gz",
    "COM1 ",
    "NUL .txt",
    "CONIN$.log",
  ];
  for (const name of devices) assert.ok(isWindowsDeviceName(name), name);
  const ordinary = ["CONSOLE", "COM10", "LPT", "con-fig.txt", "nul_file", "CONIN", "CONOUT$x", ""];
  for (const name of ordinary) assert.ok(!isWindowsDeviceName(name), name);
});

Deno.test("portabilityProblem names the first rule a name breaks", () => {
  const cases: readonly (readonly [string, string | undefined])[] = [
    ["report.pdf", undefined],
    ["name.", "ends in a dot or a space"],
    ["name ", "ends in a dot or a space"],
    ["CON.", "ends in a dot or a space"],
    ["a<b", `contains one of < > " | ? *`],
    ['a"b', `contains one of < > " | ? *`],
    ["a*b", `contains one of < > " | ? *`],
    ["CONOUT$", "is a reserved device name on Windows"],
    ["lpt¹.log", "is a reserved device name on Windows"],
    ["x\u200bY", "contains an invisible character"],
    ["a\u202eb", "contains an invisible character"],
    ["\ufeffbom", "contains an invisible character"],
    ["❤️.txt", undefined],
    ["👨‍👩‍👧 family", undefined],
    ["ＣＯＮ", `reads as "CON" once compatibility characters are folded (NFKC)`],
    ["．．", `reads as ".." once compatibility characters are folded (NFKC)`],
    ["a／b", `reads as "a/b" once compatibility characters are folded (NFKC)`],
    ["ＣＯＮＳＯＬＥ", undefined],
    ["½ x².txt", undefined],
  ];
  for (const [name, problem] of cases) {
    assert.equal(portabilityProblem(name), problem, JSON.stringify(name));
  }
});

Deno.test("portabilityProblem: names reserved by the caller are refused once folded", () => {
  const reserved = (n: string) => n.startsWith(".ferry-");
  assert.equal(portabilityProblem("．ferry-x"), undefined);
  assert.equal(
    portabilityProblem("．ferry-x", { reserved }),
    `reads as ".ferry-x" once compatibility characters are folded (NFKC)`,
  );
  // The rule applies to the folded form only: the name itself is the caller's first check.
  assert.equal(portabilityProblem(".ferry-x", { reserved }), undefined);
});

Deno.test("isPortableName adds the basic component rules", () => {
  for (const name of ["report.pdf", ".hidden", "..hidden", "café", "%2e%2e"]) {
    assert.ok(isPortableName(name), name);
  }
  for (const name of ["", ".", "..", "a/b", "a\\b", "c:x", "a\nb", "a\x7fb", "a\x9bb", "NUL"]) {
    assert.ok(!isPortableName(name), JSON.stringify(name));
  }
  assert.ok(!isPortableName("．ferry-x", { reserved: (n) => n.startsWith(".ferry-") }));
});

Deno.test("quoteName escapes what could forge or hide text, and cuts long names", () => {
  assert.equal(quoteName("plain.txt"), '"plain.txt"');
  assert.equal(quoteName('a"b\\c'), String.raw`"a\"b\\c"`);
  assert.equal(quoteName("a\nb\x1b[31m"), String.raw`"a\nb\u001b[31m"`);
  assert.equal(
    quoteName("\x7f\x9b\u202e\ufeff\u2028"),
    String.raw`"\u007f\u009b\u202e\ufeff\u2028"`,
  );
  assert.equal(quoteName("\u{e0001}"), String.raw`"\udb40\udc01"`);
  assert.equal(quoteName("café ❤️ 日本"), '"café ❤️ 日本"');
  const long = "é".repeat(MAX_QUOTED_CHARS + 1);
  assert.equal(quoteName(long), `"${"é".repeat(MAX_QUOTED_CHARS)}…"`);
  assert.equal(quoteName("😀".repeat(MAX_QUOTED_CHARS)), `"${"😀".repeat(MAX_QUOTED_CHARS)}"`);
});

Deno.test("hasControlChar and utf8Length", () => {
  for (const s of ["\0", "a\x1f", "\x7f", "\x80", "\x9f"]) assert.ok(hasControlChar(s), s);
  for (const s of ["", "a b", "\xa0", "é", "\u202e"]) assert.ok(!hasControlChar(s), s);
  assert.equal(utf8Length(""), 0);
  assert.equal(utf8Length("a"), 1);
  assert.equal(utf8Length("é"), 2);
  assert.equal(utf8Length("€"), 3);
  assert.equal(utf8Length("😀"), 4);
  assert.equal(utf8Length("\ud800"), 3);
  assert.equal(utf8Length("é😀a"), new TextEncoder().encode("é😀a").length);
});
