// Mutations of real inputs, as fast-check arbitraries: a seed and a short list of edits. fast-check
// shrinks the list (fewer, smaller edits) and the seed choice, so a failure is reported as the
// smallest change to a real input that still fails.
import fc from 'fast-check';

type Edit =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; byte: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; len: number }
  | { op: 'truncate'; at: number }
  | { op: 'splice'; at: number; from: number; other: number; len: number }
  | { op: 'field'; block: number; field: number; value: Uint8Array };

// Tar header fields (offset, length): name, mode, uid, gid, size, mtime, chksum, typeflag,
// linkname, magic, uname, gname, devmajor, devminor, prefix.
const tarFields: [number, number][] = [
  [0, 100],
  [100, 8],
  [108, 8],
  [116, 8],
  [124, 12],
  [136, 12],
  [148, 8],
  [156, 1],
  [157, 100],
  [257, 8],
  [265, 32],
  [297, 32],
  [329, 8],
  [337, 8],
  [345, 155],
];

// Values that probe numeric and text fields: base-256 (positive, negative, beyond 2^53), octal
// edges, PAX-ish and typeflag bytes.
const interesting: Uint8Array[] = [
  [0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
  [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
  [0x80, 0, 0, 0, 0x20, 0, 0, 0, 0, 0, 0, 1],
  [0xbf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
  [...'77777777777\0'].map((c) => c.charCodeAt(0)),
  [...'00000001000 '].map((c) => c.charCodeAt(0)),
  [...' 1 2 '].map((c) => c.charCodeAt(0)),
  [...'x'].map((c) => c.charCodeAt(0)),
  [...'g'].map((c) => c.charCodeAt(0)),
  [...'L'].map((c) => c.charCodeAt(0)),
  [...'K'].map((c) => c.charCodeAt(0)),
  [...'S'].map((c) => c.charCodeAt(0)),
  [...'ustar\0'].map((c) => c.charCodeAt(0)),
  [0xff, 0xfe, 0x5c, 0x78],
].map((a) => Uint8Array.from(a));

function edit(max: number, others: number): fc.Arbitrary<Edit> {
  const at = fc.nat({ max });
  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({ op: fc.constant('flip' as const), at, bit: fc.nat({ max: 7 }) }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        op: fc.constant('set' as const),
        at,
        byte: fc.oneof(
          fc.constantFrom(0, 0xff, 0x80, 0x7f, 0x30, 0x37, 0x20),
          fc.nat({ max: 255 }),
        ),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        op: fc.constant('insert' as const),
        at,
        bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        op: fc.constant('delete' as const),
        at,
        len: fc.integer({ min: 1, max: 600 }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), at }) },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant('splice' as const),
        at,
        from: fc.nat({ max }),
        other: fc.nat({ max: Math.max(0, others - 1) }),
        len: fc.integer({ min: 1, max: 1024 }),
      }),
    },
  );
}

function tarFieldEdit(blocks: number): fc.Arbitrary<Edit> {
  return fc.record({
    op: fc.constant('field' as const),
    block: fc.nat({ max: Math.max(0, blocks - 1) }),
    field: fc.nat({ max: tarFields.length - 1 }),
    value: fc.oneof(fc.constantFrom(...interesting), fc.uint8Array({ maxLength: 12 })),
  });
}

function apply(input: Uint8Array, edits: Edit[], others: Uint8Array[]): Uint8Array {
  let b = input;
  for (const e of edits) {
    const at = b.length === 0 ? 0 : e.op === 'field' ? 0 : e.at % (b.length + 1);
    switch (e.op) {
      case 'flip':
        if (at < b.length) (b = b.slice())[at]! ^= 1 << e.bit;
        break;
      case 'set':
        if (at < b.length) (b = b.slice())[at] = e.byte;
        break;
      case 'insert':
        b = concat(b.subarray(0, at), e.bytes, b.subarray(at));
        break;
      case 'delete':
        b = concat(b.subarray(0, at), b.subarray(at + e.len));
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'splice': {
        const other = others[e.other % others.length]!;
        const from = other.length === 0 ? 0 : e.from % other.length;
        b = concat(b.subarray(0, at), other.subarray(from, from + e.len), b.subarray(at));
        break;
      }
      case 'field': {
        const [off, len] = tarFields[e.field]!;
        const start = e.block * 512 + off;
        // Only a whole header: its checksum is rewritten below.
        if (e.block * 512 + 512 > b.length) break;
        b = b.slice();
        b.fill(0, start, start + len);
        b.set(e.value.subarray(0, len), start);
        fixChecksum(b, e.block * 512);
        break;
      }
    }
  }
  return b;
}

/** Makes a tar header's checksum right again, as a crafted archive would. */
function fixChecksum(b: Uint8Array, at: number) {
  const h = b.subarray(at, at + 512);
  h.fill(0x20, 148, 156);
  const sum = h.reduce((a, c) => a + c, 0);
  h.set(new TextEncoder().encode(`${sum.toString(8).padStart(6, '0')}\0 `), 148);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Real inputs, each possibly changed by up to `maxEdits` edits; `tar` adds field-aware edits
 * of tar headers (with the checksum fixed, so they get past it). */
export function mutatedBytes(
  inputs: Uint8Array[],
  opts: { tar?: boolean; maxEdits?: number } = {},
): fc.Arbitrary<Uint8Array> {
  const longest = Math.max(...inputs.map((i) => i.length));
  const one = opts.tar
    ? fc.oneof(
        { weight: 3, arbitrary: edit(longest, inputs.length) },
        { weight: 2, arbitrary: tarFieldEdit(Math.ceil(longest / 512)) },
      )
    : edit(longest, inputs.length);
  return fc
    .tuple(fc.nat({ max: inputs.length - 1 }), fc.array(one, { maxLength: opts.maxEdits ?? 4 }))
    .map(([i, edits]) => apply(inputs[i]!, edits, inputs));
}

/** Random JSON values, including deep nesting and long strings, to put into real documents. */
const jsonValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 5, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      'x'.repeat(70_000),
      -1,
      2 ** 53 + 2,
      1e308,
      0.5,
      null,
      true,
      [],
      {},
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'sha256:' + 'a'.repeat(64),
      'sha256:x',
      'application/vnd.oci.image.layer.v1.tar+gzip',
      '__proto__',
    ),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 1, max: 6000 }).map((depth) => {
      let v: unknown = 1;
      for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { a: v };
      return v;
    }),
  },
);

interface JsonEdit {
  path: number[];
  /** Replace the value there, delete its key or insert a key. */
  op: 'replace' | 'delete' | 'add';
  key: string;
  value: unknown;
}

/** Adds a key as an own property (so `__proto__` is a key, not a prototype); to an array, it
 * appends the value instead (an array's `length` cannot be redefined). */
function addKey(obj: Record<string, unknown>, key: string, value: unknown) {
  if (Array.isArray(obj)) obj.push(value);
  else
    Object.defineProperty(obj, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
}

function applyJson(doc: unknown, e: JsonEdit): unknown {
  if (e.path.length === 0 || typeof doc !== 'object' || doc === null) {
    return e.op === 'replace' ? e.value : doc;
  }
  const obj = doc as Record<string, unknown>;
  const keys = Object.keys(obj);
  if (keys.length === 0) {
    if (e.op === 'add') addKey(obj, e.key, e.value);
    return doc;
  }
  const key = keys[e.path[0]! % keys.length]!;
  if (e.path.length === 1) {
    if (e.op === 'delete') delete obj[key];
    else if (e.op === 'add') addKey(obj, e.key, e.value);
    else obj[key] = e.value;
    return doc;
  }
  obj[key] = applyJson(obj[key], { ...e, path: e.path.slice(1) });
  return doc;
}

/** Real JSON documents with values replaced, removed or added anywhere in them (deep nesting and
 * huge strings included), serialised back; then possibly byte-mutated too. */
export function mutatedJson(inputs: Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const docs = inputs.map((b) => new TextDecoder().decode(b));
  const edits = fc.array(
    fc.record({
      path: fc.array(fc.nat({ max: 20 }), { minLength: 1, maxLength: 5 }),
      op: fc.constantFrom('replace' as const, 'delete' as const, 'add' as const),
      key: fc.oneof(
        fc.constantFrom('__proto__', 'constructor', 'mediaType', 'schemaVersion', 'size', 'digest'),
        fc.string({ maxLength: 8 }),
      ),
      value: jsonValue,
    }),
    { minLength: 1, maxLength: 3 },
  );
  const structural = fc.tuple(fc.nat({ max: docs.length - 1 }), edits).map(([i, es]) => {
    let doc: unknown = JSON.parse(docs[i]!);
    for (const e of es) doc = applyJson(doc, e);
    try {
      return new TextEncoder().encode(JSON.stringify(doc));
    } catch {
      // Too deep for JSON.stringify: write the nesting by hand.
      return new TextEncoder().encode(docs[i]!);
    }
  });
  return fc.oneof(
    { weight: 3, arbitrary: structural },
    { weight: 1, arbitrary: mutatedBytes(inputs) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.nat({ max: docs.length - 1 }),
          fc.integer({ min: 1, max: 12_000 }),
          fc.constantFrom('[', '{"a":'),
          fc.constantFrom('schemaVersion', 'mediaType', 'config', 'x-unknown'),
        )
        .map(([i, depth, open, key]) => {
          // A value nested deeper than any recursion can follow, written as raw text in place
          // of a real field (or as a new one).
          const close = open === '[' ? ']' : '}';
          const deep = open.repeat(depth) + '1' + close.repeat(depth);
          const rest = JSON.parse(docs[i]!) as Record<string, unknown>;
          delete rest[key];
          const text = JSON.stringify(rest);
          const sep = text === '{}' ? '' : ',';
          return new TextEncoder().encode(`{${JSON.stringify(key)}:${deep}${sep}${text.slice(1)}`);
        }),
    },
  );
}

/** Real strings with character edits: insert, delete, replace, repeat, case change. */
export function mutatedString(inputs: string[], alphabet: string): fc.Arbitrary<string> {
  const chars = [...alphabet];
  const ch = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...chars) },
    { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 2, unit: 'binary' }) },
  );
  const strEdit = fc.record({
    op: fc.constantFrom('insert', 'delete', 'replace', 'repeat', 'upper'),
    at: fc.nat(),
    s: fc.array(ch, { minLength: 1, maxLength: 6 }).map((a) => a.join('')),
    // Up to ~300 KB: work that grows faster than the input shows as a hang in the long run.
    n: fc.oneof(fc.integer({ min: 1, max: 3000 }), fc.integer({ min: 3000, max: 50_000 })),
  });
  return fc
    .tuple(fc.nat({ max: inputs.length - 1 }), fc.array(strEdit, { maxLength: 4 }))
    .map(([i, edits]) => {
      let s = inputs[i]!;
      for (const e of edits) {
        const at = e.at % (s.length + 1);
        if (e.op === 'insert') s = s.slice(0, at) + e.s + s.slice(at);
        else if (e.op === 'delete') s = s.slice(0, at) + s.slice(at + e.s.length);
        else if (e.op === 'replace') s = s.slice(0, at) + e.s + s.slice(at + e.s.length);
        else if (e.op === 'repeat') s = s.slice(0, at) + e.s.repeat(e.n) + s.slice(at);
        else
          s =
            s.slice(0, at) + s.slice(at, at + e.s.length).toUpperCase() + s.slice(at + e.s.length);
      }
      return s;
    });
}
