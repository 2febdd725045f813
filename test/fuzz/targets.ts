// The fuzz targets: one per parser that reads what someone else wrote. Each is an arbitrary of
// inputs (mutations of real ones, see seeds.ts) and a run that throws when the module fails: an
// exception that is not the module's own typed error, or a result that breaks an invariant. The
// same targets run briefly with fixed seeds in npm test (fuzz.test.ts) and for as long as asked
// with random seeds in `npm run fuzz` (scripts/fuzz.ts), which also stops inputs that hang.
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { ImportError } from '../../src/lib/import/errors.ts';
import { scanArchive } from '../../src/lib/import/members.ts';
import { planImport, type StoredBlobs } from '../../src/lib/import/plan.ts';
import { maxJsonDepth } from '../../src/lib/json.ts';
import { DecompressError, decompress } from '../../src/lib/layers/decompress.ts';
import type { IndexEntry } from '../../src/lib/layers/entry.ts';
import { mergeLayers } from '../../src/lib/layers/filesystem.ts';
import { globMatcher } from '../../src/lib/layers/glob.ts';
import { TarError, TarParser, decodeName, type TarEntry } from '../../src/lib/layers/tar.ts';
import {
  InvalidImageConfigError,
  InvalidManifestError,
  parseImageConfig,
  parseManifestDocument,
} from '../../src/lib/oci/validate.ts';
import {
  InvalidReferenceError,
  familiarName,
  formatReference,
  parseReference,
  type Reference,
} from '../../src/lib/reference/reference.ts';
import { parseChallenges } from '../../src/lib/registry/challenge.ts';
import { RegistryError } from '../../src/lib/registry/errors.ts';
import { nextPagePath } from '../../src/lib/registry/tags.ts';
import {
  catalogQueryProblem,
  formatHostPort,
  parseHostPort,
  parseIPv4,
  parseIPv6,
  parseProxyPath,
  parseRegistryRoute,
} from '../../proxy/policy.ts';
import { passedResponseHeaders } from '../../proxy/headers.ts';
import { effectiveHostPort } from '../../proxy/upstream.ts';
import { mutatedBytes, mutatedJson, mutatedString } from './mutate.ts';
import { seeds } from './seeds.ts';

export interface Target<T = unknown> {
  name: string;
  /** Set when the module belongs to another line of work: its failures are reported to its
   * owner, and listed in `pending` (fuzz.test.ts) until fixed. */
  owner?: string;
  arbitrary: fc.Arbitrary<T>;
  /** Throws when the module fails on `input`. */
  run(input: T): void | Promise<void>;
}

/** A failed invariant (as opposed to an exception of the module under test). */
export class InvariantError extends Error {
  override name = 'InvariantError';
}

function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new InvariantError(what);
}

/** Runs fn; an error it throws is a failure unless `expected` says it is the module's own. */
async function only(expected: (e: unknown) => boolean, fn: () => unknown): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof InvariantError || !expected(e)) throw e;
  }
}

const blob = (bytes: Uint8Array) => new Blob([bytes as Uint8Array<ArrayBuffer>]);

/** A target, its input type erased for the list. */
const target = <T>(t: Target<T>): Target => t as unknown as Target;

const isSafeNat = (n: unknown) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

/** Parses a tar pushed in the given chunk sizes; the entries, or the TarError. */
function parseTar(bytes: Uint8Array, chunk: number): { entries: TarEntry[]; error?: TarError } {
  const entries: TarEntry[] = [];
  const p = new TarParser({ onEntry: (e) => entries.push({ ...e }) });
  try {
    for (let at = 0; at < bytes.length; at += chunk) p.push(bytes.subarray(at, at + chunk));
    p.end();
  } catch (e) {
    if (e instanceof TarError) return { entries, error: e };
    throw e;
  }
  return { entries };
}

function tarInvariants(bytes: Uint8Array, entries: TarEntry[], complete: boolean) {
  let end = 0;
  for (const e of entries) {
    const at = `entry ${JSON.stringify(e.path)}`;
    check(typeof e.path === 'string', `${at}: path is not a string`);
    check(
      !e.path.includes('\uFFFD') || decodeName(new TextEncoder().encode(e.path)) === e.path,
      `${at}: path has a replacement character that is not in the bytes`,
    );
    check(
      isSafeNat(e.size) && isSafeNat(e.stored),
      `${at}: size ${e.size} / stored ${e.stored} is not a safe non-negative integer`,
    );
    check(
      isSafeNat(e.uid) && isSafeNat(e.gid),
      `${at}: uid ${e.uid} / gid ${e.gid} is not a safe non-negative integer`,
    );
    check(Number.isFinite(e.mtime), `${at}: mtime ${e.mtime} is not a finite number`);
    check(
      isSafeNat(e.offset) && e.offset >= end,
      `${at}: offset ${e.offset} is before the end of the previous entry (${end})`,
    );
    check(e.offset % 512 === 0, `${at}: offset ${e.offset} is not on a block boundary`);
    end = e.offset + e.stored;
  }
  // A truncated archive is a TarError, raised only once its end is seen.
  if (complete)
    check(
      end <= bytes.length,
      `the last entry's data ends at ${end}, past the input's ${bytes.length} bytes`,
    );
}

/** Reads a whole decompressed stream, up to a cap (a real bomb is the decoder's own business). */
async function drain(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    n += value.length;
    if (n > 64 << 20) {
      await reader.cancel();
      break;
    }
  }
  return Buffer.concat(parts);
}

const nothingStored: StoredBlobs = {
  info: () => Promise.resolve(undefined),
  readBytes: (d) => Promise.reject(new Error(`${d} is not stored`)),
};

function maxDepth(v: unknown, depth = 0): number {
  if (typeof v !== 'object' || v === null) return depth;
  let m = depth + 1;
  for (const x of Object.values(v)) m = Math.max(m, maxDepth(x, depth + 1));
  return m;
}

const digestRe = /^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/;

function descriptorOk(d: unknown, where: string) {
  check(typeof d === 'object' && d !== null, `${where} is not an object`);
  const o = d as Record<string, unknown>;
  check(
    typeof o.digest === 'string' && digestRe.test(o.digest),
    `${where}.digest ${String(o.digest)} is not a digest`,
  );
  check(isSafeNat(o.size), `${where}.size ${String(o.size)} is not a safe size`);
  check(typeof o.mediaType === 'string', `${where}.mediaType is not a string`);
}

const pathTokens = [
  'a',
  'b',
  '__proto__',
  'constructor',
  'prototype',
  '.',
  '..',
  '',
  '.wh.a',
  '.wh.__proto__',
  '.wh..wh..opq',
  '.wh...',
  '.wh.',
  'a\nb',
  'hasOwnProperty',
  'toString',
];
const entryTypes = ['file', 'dir', 'symlink', 'hardlink', 'char', 'fifo'] as const;

const mergeEntry: fc.Arbitrary<IndexEntry> = fc
  .record({
    parts: fc.array(fc.constantFrom(...pathTokens), { minLength: 1, maxLength: 4 }),
    slash: fc.boolean(),
    type: fc.constantFrom(...entryTypes),
    size: fc.oneof(
      fc.nat({ max: 4096 }),
      fc.constant(2 ** 52),
      fc.constant(Number.MAX_SAFE_INTEGER),
    ),
  })
  .map(({ parts, slash, type, size }) => ({
    path: parts.join('/') + (slash ? '/' : ''),
    type,
    size,
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: 0,
    offset: 0,
  }));

const protoKeys = () => Object.getOwnPropertyNames(Object.prototype).sort().join();

const anyRef: Reference = { registry: 'docker.io', repository: 'library/a' };

export async function loadTargets(): Promise<Target[]> {
  const s = await seeds();
  const targets: Target[] = [
    target({
      name: 'tar',
      arbitrary: fc.tuple(
        mutatedBytes(s.tars, { tar: true, maxEdits: 5 }),
        fc.integer({ min: 1, max: 2048 }),
      ),
      run([bytes, chunk]: [Uint8Array, number]) {
        const whole = parseTar(bytes, Math.max(1, bytes.length));
        tarInvariants(bytes, whole.entries, !whole.error);
        // Any chunking gives the same answer.
        const chunked = parseTar(bytes, chunk);
        check(
          JSON.stringify(chunked.entries) === JSON.stringify(whole.entries),
          `entries differ in ${chunk}-byte chunks`,
        );
        check(
          chunked.error?.message === whole.error?.message,
          `error differs in ${chunk}-byte chunks: ${chunked.error?.message} vs ${whole.error?.message}`,
        );
      },
    }),
    target({
      name: 'tar-names',
      // Bytes rich in what the escaping treats specially: backslash, 'x', hex digits, invalid
      // and multi-byte UTF-8.
      arbitrary: fc
        .array(
          fc.oneof(
            fc.constantFrom(
              0x5c,
              0x78,
              0x66,
              0x30,
              0xff,
              0xc3,
              0xa9,
              0xe2,
              0x82,
              0xac,
              0xed,
              0xa0,
              0xf0,
              0x90,
              0x61,
            ),
            fc.nat({ max: 255 }),
          ),
          { maxLength: 40 },
        )
        .map((a) => Uint8Array.from(a)),
      run(bytes: Uint8Array) {
        const name = decodeName(bytes);
        const back = encodeName(name);
        check(
          Buffer.from(back).equals(Buffer.from(bytes)),
          `decodeName is not injective: ${Buffer.from(bytes).toString('hex')} -> ${JSON.stringify(name)} -> ${Buffer.from(back).toString('hex')}`,
        );
        let plain: string | undefined;
        try {
          plain = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
        } catch {
          // not UTF-8
        }
        if (plain !== undefined && !/\\[x\\]/.test(plain))
          check(
            name === plain,
            `valid UTF-8 ${JSON.stringify(plain)} changed to ${JSON.stringify(name)}`,
          );
      },
    }),
    target({
      name: 'gzip',
      owner: 'decompress',
      arbitrary: mutatedBytes(s.gzip),
      async run(bytes: Uint8Array) {
        let out: Uint8Array | undefined;
        await only(
          (e) => e instanceof DecompressError,
          async () =>
            (out = await drain(decompress(() => blob(bytes).stream(), 'gzip', { native: false }))),
        );
        if (out === undefined || out.length > 64 << 20) return;
        let want: Buffer | undefined;
        try {
          want = gunzipSync(bytes);
        } catch (e) {
          throw new InvariantError(`accepted a stream zlib rejects (${(e as Error).message})`);
        }
        check(want.equals(out), 'output differs from zlib');
      },
    }),
    target({
      name: 'zstd',
      owner: 'decompress',
      arbitrary: mutatedBytes(s.zstd),
      async run(bytes: Uint8Array) {
        await only(
          (e) => e instanceof DecompressError,
          () => drain(decompress(() => blob(bytes).stream(), 'zstd')),
        );
      },
    }),
    target({
      name: 'manifest',
      owner: 'validate',
      arbitrary: mutatedJson([...s.manifests, ...s.indexes]),
      run(bytes: Uint8Array) {
        let doc: ReturnType<typeof parseManifestDocument> | undefined;
        try {
          doc = parseManifestDocument(bytes, {});
        } catch (e) {
          if (e instanceof InvalidManifestError) return;
          throw e;
        }
        if (doc.kind === 'manifest') {
          descriptorOk(doc.manifest.config, 'config');
          check(Array.isArray(doc.manifest.layers), 'layers is not an array');
          doc.manifest.layers.forEach((l, i) => descriptorOk(l, `layers[${i}]`));
        } else {
          check(Array.isArray(doc.index.manifests), 'manifests is not an array');
          doc.index.manifests.forEach((m, i) => descriptorOk(m, `manifests[${i}]`));
        }
        check(maxDepth(doc) <= maxJsonDepth, `accepted a document nested ${maxDepth(doc)} deep`);
      },
    }),
    target({
      name: 'config',
      owner: 'validate',
      arbitrary: mutatedJson(s.configs),
      run(bytes: Uint8Array) {
        let config: ReturnType<typeof parseImageConfig> | undefined;
        try {
          config = parseImageConfig(bytes);
        } catch (e) {
          if (e instanceof InvalidImageConfigError) return;
          throw e;
        }
        check(Array.isArray(config.rootfs?.diff_ids), 'rootfs.diff_ids is not an array');
        for (const d of config.rootfs.diff_ids)
          check(digestRe.test(d), `diff_id ${d} is not a digest`);
        check(
          maxDepth(config) <= maxJsonDepth,
          `accepted a config nested ${maxDepth(config)} deep`,
        );
      },
    }),
    target({
      name: 'reference',
      arbitrary: fc.oneof(
        {
          weight: 4,
          arbitrary: mutatedString(s.references, 'aA0:/@.-_[]%sha256:' + '\u0130\u212a'),
        },
        { weight: 1, arbitrary: fc.string({ maxLength: 80 }) },
      ),
      run(input: string) {
        let ref: Reference;
        try {
          ref = parseReference(input);
        } catch (e) {
          if (e instanceof InvalidReferenceError) return;
          throw e;
        }
        check(
          ref.repository.length > 0 && ref.repository.length <= 255,
          `repository ${ref.repository} has a bad length`,
        );
        const formatted = formatReference(ref);
        const again = parseReference(formatted);
        check(
          JSON.stringify(again) === JSON.stringify(ref),
          `parse(format(parse(x))) = ${JSON.stringify(again)}, want ${JSON.stringify(ref)}`,
        );
        const familiar = parseReference(familiarName(ref));
        check(
          familiar.registry === ref.registry && familiar.repository === ref.repository,
          `familiarName ${familiarName(ref)} names another repository`,
        );
      },
    }),
    target({
      name: 'import',
      arbitrary: mutatedBytes(s.archives, { tar: true, maxEdits: 3 }),
      async run(bytes: Uint8Array) {
        await only(
          (e) => e instanceof ImportError,
          async () => planImport(await scanArchive(blob(bytes)), nothingStored),
        );
      },
    }),
    target({
      name: 'merge',
      owner: 'filesystem',
      arbitrary: fc.array(fc.array(mergeEntry, { maxLength: 80 }), {
        minLength: 1,
        maxLength: 4,
      }),
      run(layers: IndexEntry[][]) {
        const before = protoKeys();
        const merged = mergeLayers(layers);
        check(protoKeys() === before, 'Object.prototype was changed');
        const seen = new Set<string>();
        for (const m of merged) {
          check(!seen.has(m.path), `path ${JSON.stringify(m.path)} appears twice`);
          const parent = m.path.includes('/') ? m.path.slice(0, m.path.lastIndexOf('/')) : '';
          check(
            parent === '' || seen.has(parent),
            `${JSON.stringify(m.path)} comes before its parent`,
          );
          seen.add(m.path);
        }
      },
    }),
    target({
      name: 'glob',
      owner: 'glob',
      arbitrary: fc.tuple(
        fc
          .array(
            fc.oneof(
              // Star-literal runs are what backtracking matchers choke on.
              { weight: 2, arbitrary: fc.constantFrom('*a', '**a', '*', 'a', 'b', '?') },
              {
                weight: 1,
                arbitrary: fc.constantFrom('/', '[', ']', '[a]', '!', '-', '\\', '.', '{', '('),
              },
            ),
            { maxLength: 10 },
          )
          .map((a) => a.join('')),
        fc
          .tuple(
            fc.constantFrom('a', 'ab', 'b/a', 'a/'),
            fc.oneof(fc.nat({ max: 300 }), fc.integer({ min: 1000, max: 20_000 })),
          )
          .map(([u, n]) => u.repeat(n)),
      ),
      run([pattern, path]: [string, string]) {
        const got = globMatcher(pattern)(path);
        check(typeof got === 'boolean', 'not a boolean');
      },
    }),
    target({
      name: 'challenge',
      arbitrary: mutatedString(s.challenges, ' ,="\\\t;=Bearer realm' + '\u00e9'),
      run(header: string) {
        for (const c of parseChallenges(header)) {
          check(
            /^[!#$%&'*+\-.^_`|~0-9a-z]+$/.test(c.scheme),
            `scheme ${JSON.stringify(c.scheme)} is not a lowercase token`,
          );
          for (const k of Object.keys(c.params))
            check(k === k.toLowerCase() && k !== '', `param name ${JSON.stringify(k)}`);
          check(
            Object.getPrototypeOf(c.params) === null ||
              !Object.hasOwn(c.params, '__proto__') ||
              typeof c.params.__proto__ === 'string',
            'params prototype',
          );
        }
      },
    }),
    target({
      name: 'link',
      arbitrary: mutatedString(s.links, '<>;,=" \trel=next/?#@:%\\'),
      run(header: string) {
        let next: string | undefined;
        try {
          next = nextPagePath(header, anyRef, 'tags/list', 'tags');
        } catch (e) {
          if (e instanceof RegistryError) return;
          throw e;
        }
        if (next === undefined) return;
        check(
          next === 'tags/list' || next.startsWith('tags/list?'),
          `next page ${JSON.stringify(next)} leaves tags/list`,
        );
        check(!next.includes('#'), `next page ${JSON.stringify(next)} has a fragment`);
        const url = new URL(`/v2/library/a/${next}`, 'https://registry-1.docker.io');
        check(
          url.host === 'registry-1.docker.io' && url.pathname === '/v2/library/a/tags/list',
          `next page ${JSON.stringify(next)} resolves to ${url.href}`,
        );
      },
    }),
    target({
      // What the proxy passes as WWW-Authenticate must be Bearer alone, as the client reads
      // it; everything else travels as Berth-WWW-Authenticate, and nothing is lost.
      name: 'proxy-challenge',
      arbitrary: mutatedString(
        [...s.challenges, 'Basic realm="r"', 'Bearer realm="a", Basic realm="b"'],
        ' ,="\\\t;=Bearer Basic Digest realm',
      ),
      run(header: string) {
        let res: Response;
        try {
          res = new Response(null, { headers: { 'WWW-Authenticate': header } });
        } catch {
          return; // not a header value at all
        }
        const out = passedResponseHeaders(res);
        const passed = out.get('www-authenticate');
        const moved = out.get('berth-www-authenticate');
        check((passed === null) !== (moved === null), 'the challenge is in exactly one header');
        check((passed ?? moved) === res.headers.get('www-authenticate'), 'the value changed');
        if (passed !== null) {
          const schemes = parseChallenges(passed).map((c) => c.scheme);
          check(
            schemes.every((c) => c === 'bearer'),
            `passed ${JSON.stringify(passed)} holds ${schemes.join(', ')}`,
          );
        }
      },
    }),
    target({
      name: 'proxy-catalog-query',
      arbitrary: mutatedString(['?n=100&last=a/b', '?last=x', '?n=1'], '?&=%nlast0a/#'),
      run(query: string) {
        if (catalogQueryProblem(query) !== null) return;
        const params = new URLSearchParams(query.slice(1));
        for (const name of params.keys()) {
          check(name === 'n' || name === 'last', `parameter ${JSON.stringify(name)} passes`);
        }
        check(params.getAll('n').length <= 1 && params.getAll('last').length <= 1, 'a repeat');
      },
    }),
    target({
      name: 'proxy-path',
      arbitrary: mutatedString(s.proxyPaths, '/.%2e%2f%5c@:[]?#\\x0Aa-_~' + '\u00e9\uff0e'),
      run(input: string) {
        const parsed = parseProxyPath(input);
        if (!parsed.ok) return;
        const t = parsed.target;
        const url = new URL(`https://${formatHostPort(t)}${t.path}${t.query}`);
        check(
          url.pathname === t.path,
          `path ${JSON.stringify(t.path)} becomes ${JSON.stringify(url.pathname)} upstream`,
        );
        check(url.hostname === t.host, `host ${t.host} becomes ${url.hostname} upstream`);
        check(!t.query.includes('#'), `query ${JSON.stringify(t.query)} has a fragment`);
        parseRegistryRoute(t.path);
      },
    }),
    target({
      name: 'proxy-host',
      arbitrary: fc.oneof(
        mutatedString(
          [
            'registry-1.docker.io',
            'localhost:5000',
            '127.0.0.1:80',
            '[::1]:5000',
            '[::ffff:10.0.0.1]',
            '[64:ff9b::1.2.3.4]',
            '1.2.3.4',
            'xn--bcher-kva.example',
          ],
          '0123456789abcdef:.[]%x-',
        ),
        fc.ipV6(),
        fc.ipV4Extended(),
      ),
      run(input: string) {
        const v4 = parseIPv4(input);
        if (v4)
          check(
            new URL(`http://${input}/`).hostname === input,
            `IPv4 ${input} is rewritten by URL`,
          );
        const v6 = parseIPv6(input);
        let url: URL | undefined;
        try {
          url = /^[0-9a-fA-F:.]+$/.test(input) ? new URL(`http://[${input}]/`) : undefined;
        } catch {
          // not an address URL parses
        }
        check(!v6 || url !== undefined, `parseIPv6 accepts ${input}, which URL refuses`);
        if (v6 && url) {
          const canonical = parseIPv6(url.hostname.slice(1, -1));
          check(
            JSON.stringify(canonical) === JSON.stringify(v6),
            `parseIPv6(${input}) = ${v6}, URL reads ${url.hostname}`,
          );
        }
        const hp = parseHostPort(input);
        if (!hp) return;
        const u = new URL(`https://${formatHostPort(hp)}/`);
        check(u.hostname === hp.host, `host ${hp.host} becomes ${u.hostname}`);
        check(u.port === (hp.port === '443' ? '' : hp.port), `port ${hp.port} becomes ${u.port}`);
        check(/:\d+$/.test(effectiveHostPort(u)), `effectiveHostPort(${u.href}) has no port`);
      },
    }),
  ];
  return targets;
}

/** The inverse of decodeName (tar.ts documents the escaping). */
export function encodeName(name: string): Uint8Array {
  const out: number[] = [];
  const enc = new TextEncoder();
  for (let i = 0; i < name.length;) {
    if (name[i] === '\\' && name[i + 1] === '\\') {
      out.push(0x5c);
      i += 2;
    } else if (
      name[i] === '\\' &&
      name[i + 1] === 'x' &&
      /^[0-9a-f]{2}$/.test(name.slice(i + 2, i + 4))
    ) {
      out.push(parseInt(name.slice(i + 2, i + 4), 16));
      i += 4;
    } else {
      const cp = name.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      out.push(...enc.encode(ch));
      i += ch.length;
    }
  }
  return Uint8Array.from(out);
}

/** Inputs as JSON: byte arrays as {hex}, so corpus files stay readable. */
export function encodeInput(input: unknown): string {
  return JSON.stringify(
    input,
    (_k, v: unknown) => (v instanceof Uint8Array ? { hex: Buffer.from(v).toString('hex') } : v),
    1,
  );
}

export function decodeInput(json: string): unknown {
  return JSON.parse(json, (_k, v: unknown) =>
    v &&
    typeof v === 'object' &&
    !Array.isArray(v) &&
    Object.keys(v).length === 1 &&
    typeof (v as { hex?: unknown }).hex === 'string'
      ? new Uint8Array(Buffer.from((v as { hex: string }).hex, 'hex'))
      : v,
  );
}
