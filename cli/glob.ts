/**
 * Shell-style wildcards in remote paths, expanded by the client against a listing of the parent
 * directory: `*` (any run of characters), `?` (one character), `[abc]`, `[a-z]`, `[!a]` or
 * `[^a]`, and `\` to quote the next character. As in a shell, a wildcard does not match a
 * leading `.`. Wildcards work in the last path component only.
 *
 * @module
 */

/** Whether `text` holds an unquoted wildcard. */
export function hasWildcard(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\\") i++;
    else if (c === "*" || c === "?" || c === "[") return true;
  }
  return false;
}

/** Removes the `\` quoting from a component without wildcards. */
export function unquote(text: string): string {
  return text.replace(/\\(.)/gs, "$1");
}

function escapeRegExp(c: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(c) ? `\\${c}` : c;
}

function escapeInSet(c: string): string {
  return c === "-" ? "\\-" : escapeRegExp(c);
}

/**
 * Compiles a pattern for one path component into a matcher.
 *
 * @example
 * ```ts ignore
 * globMatcher("*.txt")("notes.txt"); // true
 * globMatcher("*.txt")(".hidden.txt"); // false
 * ```
 */
export function globMatcher(pattern: string): (name: string) => boolean {
  const chars = [...pattern];
  let re = "";
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i];
    if (c === "\\" && i + 1 < chars.length) {
      re += escapeRegExp(chars[++i]);
    } else if (c === "*") {
      re += ".*";
    } else if (c === "?") {
      re += ".";
    } else if (c === "[") {
      // Find the closing bracket; a `]` right after `[` or `[!` is a literal.
      let j = i + 1;
      if (chars[j] === "!" || chars[j] === "^") j++;
      if (chars[j] === "]") j++;
      while (j < chars.length && chars[j] !== "]") j++;
      if (j >= chars.length) {
        re += "\\["; // no closing bracket: a literal `[`
        continue;
      }
      let k = i + 1;
      let negate = false;
      if (chars[k] === "!" || chars[k] === "^") {
        negate = true;
        k++;
      }
      let set = "";
      for (; k < j; k++) {
        const d = chars[k];
        if (d === "\\" && k + 1 < j) set += escapeInSet(chars[++k]);
        else if (d === "-" && set !== "" && k + 1 < j) set += "-";
        else set += escapeInSet(d);
      }
      re += `[${negate ? "^" : ""}${set}]`;
      i = j;
    } else {
      re += escapeRegExp(c);
    }
  }
  const regexp = new RegExp(`^${re}$`, "su");
  const literalDot = pattern.startsWith(".") || pattern.startsWith("\\.");
  return (name) => (literalDot || !name.startsWith(".")) && regexp.test(name);
}

/**
 * Splits a remote path into the directory to list and the pattern of its last component.
 * Returns `null` when the path has no wildcard.
 *
 * @throws {Error} When a wildcard appears before the last component.
 */
export function splitGlob(path: string): { dir: string; pattern: string } | null {
  const trimmed = path.replace(/\/+$/, "");
  const slash = trimmed.lastIndexOf("/");
  const dir = slash < 0 ? "." : slash === 0 ? "/" : trimmed.slice(0, slash);
  const pattern = trimmed.slice(slash + 1);
  if (hasWildcard(dir)) throw new Error("wildcards work in the last path component only");
  if (!hasWildcard(pattern)) return null;
  return { dir: unquote(dir), pattern };
}
