/**
 * Batch files (`ferry -b FILE`): one command per line, like `sftp -b`. Blank lines and lines
 * starting with `#` are skipped; a line starting with `-` may fail without stopping the batch.
 * Words are split like a shell's: `'single'` and `"double"` quotes, `\` escapes, and a `#` at
 * the start of a word begins a comment.
 *
 * @module
 */

import { FerryError } from "../protocol/errors.ts";

/** One command line of a batch. */
export interface BatchLine {
  /** The command and its arguments. */
  words: string[];
  /** The line started with `-`: a failure is reported and the batch goes on. */
  ignoreFailure: boolean;
}

/** Splits a batch line into words; `null` for a blank line or a comment. */
export function parseBatchLine(line: string): BatchLine | null {
  let text = line.trim();
  if (text === "" || text.startsWith("#")) return null;
  let ignoreFailure = false;
  if (text.startsWith("-")) {
    ignoreFailure = true;
    text = text.slice(1).trimStart();
  }
  const words: string[] = [];
  let word = "";
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new FerryError("USAGE", "unterminated ' quote");
      word += text.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      inWord = true;
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === "\\" && j + 1 < text.length && /["\\$`]/.test(text[j + 1])) j++;
        word += text[j];
      }
      if (j >= text.length) throw new FerryError("USAGE", 'unterminated " quote');
      i = j;
    } else if (c === "\\") {
      if (i + 1 < text.length) word += text[++i];
      inWord = true;
    } else if (c === "#" && !inWord) {
      break; // a comment, as in a shell: # at the start of a word
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  if (words.length === 0) throw new FerryError("USAGE", "a lone - with no command");
  return { words, ignoreFailure };
}
