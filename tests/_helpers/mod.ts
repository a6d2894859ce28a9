/**
 * The test harness: servers in-process and as child processes, raw frame connections, the CLI
 * as a subprocess, network and time helpers, bytes, streams, files, /proc and assertions.
 *
 * @module
 */

export * from "./assert.ts";
export * from "./bytes.ts";
export * from "./cli.ts";
export * from "./fs.ts";
export * from "./net.ts";
export * from "./proc.ts";
export * from "./raw.ts";
export * from "./raw_server.ts";
export * from "./scripted_server.ts";
export * from "./server.ts";
export * from "./storage.ts";
export * from "./storage_kinds.ts";
export * from "./streams.ts";
export * from "./tasks.ts";
