/**
 * Lines from standard input (batch commands, answers to questions), yes/no questions asked on
 * standard error, and the lines the CLI writes there.
 *
 * @module
 */

const encoder = new TextEncoder();

/** Writes one line to standard error (nothing if standard error is gone). */
export function stderr(text: string): void {
  try {
    Deno.stderr.writeSync(encoder.encode(text + "\n"));
  } catch {
    // nowhere to report
  }
}

/** Reads standard input one line at a time. */
export interface LineReader {
  /** The next line without its line ending, or `null` at the end of input. */
  readLine(): Promise<string | null>;
}

let stdin: LineReader | undefined;

/** The one reader of standard input (shared, so no bytes are lost between users). */
export function stdinLines(): LineReader {
  if (stdin !== undefined) return stdin;
  const decoder = new TextDecoder();
  const buf = new Uint8Array(64 * 1024);
  let text = "";
  let eof = false;
  stdin = {
    async readLine() {
      while (true) {
        const nl = text.indexOf("\n");
        if (nl >= 0) {
          const line = text.slice(0, nl);
          text = text.slice(nl + 1);
          return line.endsWith("\r") ? line.slice(0, -1) : line;
        }
        if (eof) {
          if (text === "") return null;
          const line = text;
          text = "";
          return line;
        }
        const n = await Deno.stdin.read(buf);
        if (n === null) {
          eof = true;
          text += decoder.decode();
        } else {
          text += decoder.decode(buf.subarray(0, n), { stream: true });
        }
      }
    },
  };
  return stdin;
}

/** Asks `question` on standard error and reads the answer; only `y` or `yes` is a yes. */
export async function confirm(
  question: string,
  lines: LineReader = stdinLines(),
): Promise<boolean> {
  await Deno.stderr.write(new TextEncoder().encode(`${question} [y/N] `));
  const answer = await lines.readLine();
  if (answer === null) await Deno.stderr.write(new TextEncoder().encode("\n"));
  return answer !== null && /^\s*y(es)?\s*$/i.test(answer);
}
