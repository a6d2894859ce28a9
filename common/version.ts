/**
 * The version of ferry, shared by the server, the client library and the `ferry` command. A
 * constant, so compiled binaries read nothing at run time; a unit test keeps it equal to the
 * `version` in deno.json.
 *
 * @module
 */

/** The version of this ferry release (the `version` in deno.json). */
export const VERSION = "0.1.0";
