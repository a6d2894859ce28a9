import assert from "node:assert/strict";
import { envName, mergeSettings, parseConfigFile } from "../../server/config.ts";
import { FerryError } from "../../mod.ts";

const KNOWN = ["host", "port", "root", "max-connections"];

Deno.test("config: flags beat FERRY_* variables, which beat the config file", () => {
  const env: Record<string, string> = { FERRY_PORT: "5000", FERRY_ROOT: "/env-root" };
  const file = parseConfigFile(
    '{"port": 6000, "root": "/file-root", "host": "127.0.0.1", "max-connections": 9}',
    "ferry.json",
    KNOWN,
  );
  const merged = mergeSettings(KNOWN, { port: "7000" }, (n) => env[n], file);
  assert.deepEqual(merged, {
    host: "127.0.0.1",
    port: "7000",
    root: "/env-root",
    "max-connections": "9",
  });
  assert.equal(envName("max-connections"), "FERRY_MAX_CONNECTIONS");
});

Deno.test("config: a malformed file, an unknown key or a nested value is a usage error", () => {
  for (const text of ["{", "[]", '{"prot": 1}', '{"port": {"x": 1}}', "null"]) {
    assert.throws(
      () => parseConfigFile(text, "ferry.json", KNOWN),
      (e) => e instanceof FerryError && e.code === "USAGE",
      text,
    );
  }
});
