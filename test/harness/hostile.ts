// A hostile image, built at test time from declared fields: the tar headers are written here byte
// by byte, because GNU tar will not store what a hostile image holds (invalid UTF-8 names, an
// mtime of 1e13 s, device nodes without root, whiteouts named after prototype keys). Layers
// are gzipped with node:zlib; the zstd layer is the 18-byte frame of issue 13; the gzip bomb
// is one member of zeros repeated, which decodes to gigabytes from a few megabytes.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants, gzipSync } from 'node:zlib';
import { push, type FixtureImage } from './fixtures.ts';
import {
  FIXED_CREATED,
  MT,
  OciLayout,
  sha256Bytes,
  type BuiltImage,
  type Descriptor,
  type ImageConfig,
  type LayerInfo,
} from './oci.ts';
import type { Registry } from './registry.ts';

const block = 512;
const enc = new TextEncoder();

/** One tar entry, as its header declares it. */
export interface RawEntry {
  /** The name's bytes (a string is UTF-8 encoded): longer than 100 bytes goes into PAX. */
  name: string | Uint8Array;
  /** Typeflag: '0' file, '2' symlink, '3' char device, '5' dir. */
  type?: '0' | '2' | '3' | '4' | '5';
  content?: string | Uint8Array;
  linkname?: string;
  /** Seconds; past ustar's 11 octal digits it goes into a PAX mtime record. */
  mtime?: number;
  mode?: number;
  devmajor?: number;
  devminor?: number;
}

const bytesOf = (v: string | Uint8Array) => (typeof v === 'string' ? enc.encode(v) : v);

function field(h: Uint8Array, at: number, len: number, value: string | Uint8Array) {
  h.set(bytesOf(value).subarray(0, len), at);
}

function octal(h: Uint8Array, at: number, len: number, n: number) {
  field(h, at, len, n.toString(8).padStart(len - 1, '0') + '\0');
}

function header(e: {
  name: Uint8Array;
  type: string;
  size: number;
  mtime: number;
  mode: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}): Uint8Array {
  const h = new Uint8Array(block);
  field(h, 0, 100, e.name);
  octal(h, 100, 8, e.mode);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, e.size);
  octal(h, 136, 12, e.mtime);
  h[156] = e.type.charCodeAt(0);
  if (e.linkname !== undefined) field(h, 157, 100, e.linkname);
  field(h, 257, 8, 'ustar\x0000');
  octal(h, 329, 8, e.devmajor ?? 0);
  octal(h, 337, 8, e.devminor ?? 0);
  field(h, 148, 8, '        ');
  const sum = h.reduce((n, b) => n + b, 0);
  field(h, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

function paxRecord(key: string, value: string): string {
  const base = enc.encode(` ${key}=${value}\n`).length;
  let len = base + 1;
  while (String(len).length + base !== len) len = String(len).length + base;
  return `${len} ${key}=${value}\n`;
}

const pad = (n: number) => new Uint8Array((block - (n % block)) % block);

/** The tar of these entries, with PAX records where ustar cannot hold a field. */
export function rawTar(entries: RawEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    const name = bytesOf(e.name);
    const body = bytesOf(e.content ?? '');
    const mtime = e.mtime ?? 0;
    let pax = '';
    if (name.length > 100) pax += paxRecord('path', new TextDecoder().decode(name));
    if (mtime > 8 ** 11 - 1) pax += paxRecord('mtime', String(mtime));
    if (pax) {
      const p = enc.encode(pax);
      parts.push(
        header({ name: enc.encode('PaxHeader'), type: 'x', size: p.length, mtime: 0, mode: 0o644 }),
        p,
        pad(p.length),
      );
    }
    const type = e.type ?? '0';
    parts.push(
      header({
        name: name.length > 100 ? enc.encode('long-name') : name,
        type,
        size: body.length,
        mtime: Math.min(mtime, 8 ** 11 - 1),
        mode: e.mode ?? (type === '5' ? 0o755 : 0o644),
        ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
        ...(e.devmajor !== undefined ? { devmajor: e.devmajor } : {}),
        ...(e.devminor !== undefined ? { devminor: e.devminor } : {}),
      }),
      body,
      pad(body.length),
    );
  }
  parts.push(new Uint8Array(block * 2));
  return concat(parts);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Markup that must stay text: run, it sets window.__pwned. */
export const MARKUP = {
  img: '<img src=x onerror=window.__pwned=1>',
  script: '<script>window.__pwned=2</script>.txt',
  content: '<img src=x onerror="window.__pwned=3"><script>window.__pwned=4</script>\n',
} as const;

/** Names of the first layer's odd entries, as the page must tell them apart. */
export const ODD = {
  bidi: 'invoice-\u202efdp.exe',
  newline: 'two\nlines.txt',
  badFF: new Uint8Array([...enc.encode('bad-'), 0xff]),
  badFE: new Uint8Array([...enc.encode('bad-'), 0xfe]),
  long: 'a'.repeat(4096),
  future: 'future.txt',
  loopA: 'loop/a',
  loopB: 'loop/b',
  passwd: 'passwd-link',
  device: 'dev/null-ish',
} as const;

/** A control a person could be fooled by: right-to-left override and a newline. */
export const SPOOF = '\u202Eexe.txt\nforged line';

/** The zstd frame from issue 13 (18 bytes): one compressed block declaring about 98,000
 * sequences of ~128 KiB copies each. Made by a fuzzer from a real zstd layer. */
export const ZSTD_FRAME = Buffer.from('28b52ffd00004d000000ffffff5423053401', 'hex');

/** The gzip bomb decodes to this many bytes of zeros in one file. */
export const BOMB_MEMBERS = 32;
export const BOMB_MEMBER_BYTES = 64 << 20;

/** A gzip of a tar holding one file of BOMB_MEMBERS x 64 MiB zeros (2 GiB), a few MB in
 * size: the header, then one gzip member of 64 MiB zeros repeated, then the padding and end
 * blocks; concatenated gzip members decode to the concatenation. Also its diffID, computed
 * the same way (hashing the tar as it would decode). */
export function gzipBomb(): { gz: Buffer; diffID: string } {
  const size = BOMB_MEMBERS * BOMB_MEMBER_BYTES;
  const head = header({
    name: enc.encode('zeros.bin'),
    type: '0',
    size,
    mtime: 0,
    mode: 0o644,
  });
  const zeros = Buffer.alloc(BOMB_MEMBER_BYTES);
  const member = gzipSync(zeros, { level: constants.Z_BEST_COMPRESSION });
  const tail = new Uint8Array(block * 2); // the file is block-aligned: only the end blocks
  const hash = createHash('sha256');
  hash.update(head);
  for (let i = 0; i < BOMB_MEMBERS; i++) hash.update(zeros);
  hash.update(tail);
  const gz = Buffer.concat([
    gzipSync(head),
    ...Array.from({ length: BOMB_MEMBERS }, () => member),
    gzipSync(tail),
  ]);
  return { gz, diffID: `sha256:${hash.digest('hex')}` };
}

/** An unknown config field nested `depth` levels deep. */
export function nested(depth: number): unknown {
  let v: unknown = 'bottom';
  for (let i = 0; i < depth; i++) v = { d: v };
  return v;
}

export interface HostileFixtures {
  /** Layers: 1 odd names; 2 prototype whiteouts; 3 the gzip bomb; 4 the zstd frame. */
  hostile: FixtureImage;
  /** A config with an unknown field nested 2,000 deep (and nothing else odd). */
  deep: FixtureImage;
}

/** The hostile image's layer indexes, for the test. */
export const LAYER = { odd: 0, whiteouts: 1, bomb: 2, zstd: 3 } as const;

export async function buildHostileFixtures(registry: Registry): Promise<HostileFixtures> {
  const work = await mkdtemp(join(tmpdir(), 'berth-hostile-'));
  try {
    const layout = await OciLayout.create(join(work, 'layout'));
    const odd = rawTar([
      { name: 'etc/', type: '5' },
      { name: 'etc/os-release', content: 'NAME="hostile"\n' },
      { name: MARKUP.img, content: MARKUP.content },
      { name: MARKUP.script, content: MARKUP.content },
      { name: 'page.html', content: MARKUP.content },
      { name: ODD.bidi, content: 'not a pdf\n' },
      { name: ODD.newline, content: 'two lines\n' },
      { name: ODD.badFF, content: 'ff\n' },
      { name: ODD.badFE, content: 'fe\n' },
      { name: ODD.long, content: 'a long name\n' },
      // Paths of 8,193 and 12,290 characters: what a backtracking glob spends the most time on
      // (*a*a*b over them froze the page for minutes; 4096 alone was about the hang bound).
      { name: `${ODD.long}/`, type: '5' },
      { name: `${ODD.long}/${ODD.long}/`, type: '5' },
      { name: `${ODD.long}/${ODD.long}/${ODD.long}`, content: 'a long path\n' },
      { name: ODD.future, content: 'from the far future\n', mtime: 1e13 },
      { name: '__proto__/', type: '5' },
      { name: '__proto__/polluted', content: 'x\n' },
      { name: 'constructor/', type: '5' },
      { name: 'constructor/prototype/', type: '5' },
      { name: 'constructor/prototype/polluted', content: 'y\n' },
      { name: 'loop/', type: '5' },
      { name: ODD.loopA, type: '2', linkname: 'b' },
      { name: ODD.loopB, type: '2', linkname: 'a' },
      { name: ODD.passwd, type: '2', linkname: '/etc/passwd' },
      { name: 'dev/', type: '5' },
      { name: ODD.device, type: '3', devmajor: 1, devminor: 3 },
    ]);
    const whiteouts = rawTar([
      { name: '.wh.__proto__', content: '' },
      { name: 'constructor/', type: '5' },
      { name: 'constructor/.wh..wh..opq', content: '' },
      { name: '.wh.constructor', content: '' },
      { name: 'etc/', type: '5' },
      { name: 'etc/.wh.os-release', content: '' },
    ]);
    const bomb = gzipBomb();
    const layerBlobs: { bytes: Buffer; mediaType: string; diffID: string }[] = [
      { bytes: gzipSync(odd), mediaType: MT.ociLayerGzip, diffID: sha256Bytes(odd) },
      { bytes: gzipSync(whiteouts), mediaType: MT.ociLayerGzip, diffID: sha256Bytes(whiteouts) },
      { bytes: bomb.gz, mediaType: MT.ociLayerGzip, diffID: bomb.diffID },
      // Last, so no other layer's view reads it. Its diffID cannot be known (the frame does not
      // decode); the empty tar's stands in.
      {
        bytes: ZSTD_FRAME,
        mediaType: MT.ociLayerZstd,
        diffID: sha256Bytes(new Uint8Array(block * 2)),
      },
    ];
    const big = (c: string) => c.repeat(1 << 20);
    const hostile = await imageOf(layout, layerBlobs, {
      Env: ['PATH=/usr/bin', `SPOOF=${SPOOF}`, `HUGE=${big('e')}`],
      Cmd: ['/bin/sh', '-c', `echo ${SPOOF}`],
      User: `root${SPOOF}`,
      WorkingDir: `/${MARKUP.img}`,
      Labels: { [`spoof${SPOOF}`]: SPOOF, huge: big('l'), html: MARKUP.content },
    });
    const plain = rawTar([{ name: 'ok.txt', content: 'fine\n' }]);
    const deep = await imageOf(
      layout,
      [{ bytes: gzipSync(plain), mediaType: MT.ociLayerGzip, diffID: sha256Bytes(plain) }],
      { Env: ['PATH=/usr/bin'] },
      { unknownDeep: nested(2000) },
    );
    return {
      hostile: await push(layout, registry, 'hostile/everything', 'v1', hostile),
      deep: await push(layout, registry, 'hostile/deep', 'v1', deep),
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function imageOf(
  layout: OciLayout,
  blobs: { bytes: Buffer; mediaType: string; diffID: string }[],
  runtime: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Promise<BuiltImage> {
  const layers: LayerInfo[] = [];
  const descriptors: Descriptor[] = [];
  for (const b of blobs) {
    const d = await layout.addBlobBytes(b.bytes, b.mediaType);
    descriptors.push(d);
    layers.push({ digest: d.digest, size: d.size, diffID: b.diffID, mediaType: d.mediaType });
  }
  const config: ImageConfig = {
    architecture: 'amd64',
    os: 'linux',
    created: FIXED_CREATED,
    config: runtime,
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) },
    history: blobs.map((_, i) => ({
      created: FIXED_CREATED,
      created_by: `/bin/sh -c #(nop) layer ${i + 1} ${SPOOF}`,
    })),
  };
  const configDescriptor = await layout.addJson({ ...config, ...extra }, MT.ociConfig);
  const manifest = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: configDescriptor,
    layers: descriptors,
  };
  const descriptor = await layout.addJson(manifest, MT.ociManifest);
  return { kind: 'image', descriptor, manifest, configDescriptor, config, layers };
}
