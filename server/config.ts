/**
 * Server settings from three places, in this precedence: command-line flags, then `FERRY_*`
 * environment variables (`--max-connections` is `FERRY_MAX_CONNECTIONS`), then a JSON config
 * file (`--config ferry.json` or `FERRY_CONFIG`, keys named like the flags), then defaults.
 *
 * @module
 */

import { FerryError } from "../protocol/errors.ts";

/** The environment variable for a flag: `max-connections` → `FERRY_MAX_CONNECTIONS`. */
export function envName(flag: string): string {
  return `FERRY_${flag.toUpperCase().replaceAll("-", "_")}`;
}

/**
 * Parses a config file's text: a JSON object whose keys are flag names (`"port"`,
 * `"max-connections"`) and whose values are strings, numbers or booleans.
 *
 * @throws {FerryError} `USAGE` for malformed JSON, an unknown key or a nested value.
 */
export function parseConfigFile(
  text: string,
  path: string,
  known: readonly string[],
): Record<string, string> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new FerryError("USAGE", `${path}: not valid JSON (${(err as Error).message})`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new FerryError("USAGE", `${path}: expected a JSON object of settings`);
  }
  const settings: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (!known.includes(key)) {
      throw new FerryError(
        "USAGE",
        `${path}: unknown setting ${
          JSON.stringify(key)
        }; settings are named like the flags (see --help)`,
      );
    }
    if (!["string", "number", "boolean"].includes(typeof value)) {
      throw new FerryError("USAGE", `${path}: ${key} must be a string, number or boolean`);
    }
    settings[key] = String(value);
  }
  return settings;
}

/**
 * Merges the sources for every name in `known`: a flag wins over the environment, which wins
 * over the file. Names set nowhere are left out (the caller applies defaults).
 */
export function mergeSettings(
  known: readonly string[],
  flags: Readonly<Record<string, unknown>>,
  env: (name: string) => string | undefined,
  file: Readonly<Record<string, string>>,
): Record<string, string> {
  const merged: Record<string, string> = {};
  for (const name of known) {
    const flag = flags[name];
    const value = typeof flag === "string" ? flag : env(envName(name)) ?? file[name];
    if (value !== undefined) merged[name] = value;
  }
  return merged;
}
