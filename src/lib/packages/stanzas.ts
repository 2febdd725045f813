// dpkg's files of "Field: value" stanzas separated by blank lines (RFC 822 style, with
// continuation lines): var/lib/dpkg/status and the distroless status.d files.

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Text, or a problem when the bytes are plainly not text (a NUL byte in the first 8 KiB). */
export function textOf(bytes: Uint8Array): string | undefined {
  const head = bytes.subarray(0, 8192);
  if (head.includes(0)) return undefined;
  return utf8.decode(bytes);
}

/** One stanza: its fields by lower-case name (dpkg's field names ignore case; a later
 * duplicate wins), and its 1-based line number. */
export interface Stanza {
  line: number;
  fields: Map<string, string>;
}

/**
 * dpkg's control-file syntax: a line starting with space or tab continues the previous field
 * (only the first line of a field is kept: Berth reads no multi-line field), `#` lines are
 * comments, and a line without a colon is counted in `bad`.
 */
export function controlStanzas(text: string): { stanzas: Stanza[]; bad: number } {
  const stanzas: Stanza[] = [];
  let bad = 0;
  let current: Stanza | undefined;
  let lineNo = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    let line = text.slice(start, end);
    start = end + 1;
    lineNo++;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.trim() === '') {
      current = undefined;
      if (end === text.length) break;
      continue;
    }
    if (line[0] === ' ' || line[0] === '\t') {
      if (!current) bad++;
      continue;
    }
    if (line[0] === '#') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) {
      bad++;
      continue;
    }
    if (!current) {
      current = { line: lineNo, fields: new Map() };
      stanzas.push(current);
    }
    current.fields.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    if (end === text.length) break;
  }
  return { stanzas, bad };
}
