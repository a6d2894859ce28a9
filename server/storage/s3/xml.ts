/**
 * A small XML reader for the replies of an S3 store: elements, text, the five named entities and
 * numeric character references, CDATA; attributes, comments, processing instructions and
 * namespace prefixes are skipped. No DTDs (a `<!DOCTYPE` is refused), so no entity expansion.
 * It reads a whole reply, which S3 keeps small (a list page is at most 1,000 entries).
 *
 * @module
 */

/** One element: its local name (namespace prefix dropped), child elements and text. */
export interface XmlElement {
  /** The local name, e.g. `Key` for `<s3:Key>`. */
  readonly name: string;
  /** The child elements in document order. */
  readonly children: XmlElement[];
  /** The text directly inside this element (entities decoded), joined. */
  text: string;
}

/** Thrown by {@linkcode parseXml} on input that is not well-formed enough to read. */
export class XmlSyntaxError extends Error {
  /** Creates the error; `at` is the offset in the input. */
  constructor(message: string, at: number) {
    super(`${message} at offset ${at}`);
    this.name = "XmlSyntaxError";
  }
}

const NAMED_ENTITIES: Readonly<Record<string, string>> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
};

/** Decodes entity and character references in `raw` text. */
function decodeText(raw: string, at: number): string {
  if (!raw.includes("&")) return raw;
  return raw.replace(/&([^;&<]*);?/g, (whole, name: string) => {
    if (!whole.endsWith(";")) throw new XmlSyntaxError(`unterminated reference ${whole}`, at);
    if (name.startsWith("#")) {
      const n = name[1] === "x" || name[1] === "X"
        ? parseInt(name.slice(2), 16)
        : parseInt(name.slice(1), 10);
      if (!Number.isInteger(n) || n < 0 || n > 0x10ffff) {
        throw new XmlSyntaxError(`bad character reference ${whole}`, at);
      }
      return String.fromCodePoint(n);
    }
    const named = NAMED_ENTITIES[name];
    if (named === undefined) throw new XmlSyntaxError(`unknown entity ${whole}`, at);
    return named;
  });
}

/** Drops a namespace prefix: `s3:Key` → `Key`. */
function localName(qname: string): string {
  const colon = qname.indexOf(":");
  return colon < 0 ? qname : qname.slice(colon + 1);
}

/** Returns the offset just past `close` searched from `from`, or throws. */
function skipPast(xml: string, from: number, close: string, what: string): number {
  const end = xml.indexOf(close, from);
  if (end < 0) throw new XmlSyntaxError(`unterminated ${what}`, from);
  return end + close.length;
}

/** Returns the offset of the `>` that ends the tag starting at `from`, skipping quoted values. */
function tagEnd(xml: string, from: number): number {
  let quote = "";
  for (let i = from; i < xml.length; i++) {
    const c = xml[i];
    if (quote) {
      if (c === quote) quote = "";
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === ">") {
      return i;
    }
  }
  throw new XmlSyntaxError("unterminated tag", from);
}

/**
 * Parses `xml` and returns its root element.
 * Throws {@linkcode XmlSyntaxError} on mismatched or unterminated tags, a second root, a DTD,
 * or text outside the root.
 */
export function parseXml(xml: string): XmlElement {
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let i = 0;
  while (i < xml.length) {
    const lt = xml.indexOf("<", i);
    const textEnd = lt < 0 ? xml.length : lt;
    if (textEnd > i) {
      const raw = xml.slice(i, textEnd);
      const top = stack.at(-1);
      if (top) top.text += decodeText(raw, i);
      else if (raw.trim() !== "") throw new XmlSyntaxError("text outside the root element", i);
    }
    if (lt < 0) break;
    if (xml.startsWith("<?", lt)) {
      i = skipPast(xml, lt + 2, "?>", "processing instruction");
    } else if (xml.startsWith("<!--", lt)) {
      i = skipPast(xml, lt + 4, "-->", "comment");
    } else if (xml.startsWith("<![CDATA[", lt)) {
      const end = xml.indexOf("]]>", lt + 9);
      if (end < 0) throw new XmlSyntaxError("unterminated CDATA", lt);
      const top = stack.at(-1);
      if (!top) throw new XmlSyntaxError("CDATA outside the root element", lt);
      top.text += xml.slice(lt + 9, end);
      i = end + 3;
    } else if (xml.startsWith("<!", lt)) {
      throw new XmlSyntaxError("DTDs are not accepted", lt);
    } else if (xml[lt + 1] === "/") {
      const gt = tagEnd(xml, lt);
      const name = localName(xml.slice(lt + 2, gt).trim());
      const open = stack.pop();
      if (!open || open.name !== name) {
        throw new XmlSyntaxError(`</${name}> does not close <${open?.name ?? ""}>`, lt);
      }
      i = gt + 1;
    } else {
      const gt = tagEnd(xml, lt);
      const selfClosing = xml[gt - 1] === "/";
      const inner = xml.slice(lt + 1, selfClosing ? gt - 1 : gt);
      const m = /^[^\s/>]+/.exec(inner);
      if (!m) throw new XmlSyntaxError("tag without a name", lt);
      const el: XmlElement = { name: localName(m[0]), children: [], text: "" };
      const parent = stack.at(-1);
      if (parent) parent.children.push(el);
      else if (root) throw new XmlSyntaxError("a second root element", lt);
      else root = el;
      if (!selfClosing) stack.push(el);
      i = gt + 1;
    }
  }
  if (stack.length) throw new XmlSyntaxError(`<${stack.at(-1)!.name}> is never closed`, xml.length);
  if (!root) throw new XmlSyntaxError("no root element", 0);
  return root;
}

/** Returns the first child of `el` named `name`, or undefined. */
export function xmlChild(el: XmlElement, name: string): XmlElement | undefined {
  return el.children.find((c) => c.name === name);
}

/** Returns every child of `el` named `name`, in document order. */
export function xmlChildren(el: XmlElement, name: string): XmlElement[] {
  return el.children.filter((c) => c.name === name);
}

/** Returns the text of the first child of `el` named `name`, or undefined when there is none. */
export function xmlText(el: XmlElement, name: string): string | undefined {
  return xmlChild(el, name)?.text;
}

/**
 * Escapes `s` for use as XML text or a quoted attribute value. A carriage return becomes
 * `&#13;` (a reader would turn a literal one into a line feed). Characters XML 1.0 cannot carry
 * at all are left as they are: check with {@linkcode isXmlText} first.
 */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"'\r]/g, (c) => `&${ESCAPES[c]};`);
}

const ESCAPES: Readonly<Record<string, string>> = {
  "&": "amp",
  "<": "lt",
  ">": "gt",
  '"': "quot",
  "'": "apos",
  "\r": "#13",
};

/**
 * Returns true when XML 1.0 can carry `s`: no C0 control but tab, line feed and carriage
 * return, no U+FFFE / U+FFFF, no lone surrogate.
 */
export function isXmlText(s: string): boolean {
  return /^[\t\n\r\x20-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]*$/u.test(s);
}
