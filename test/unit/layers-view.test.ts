// The hex dump is checked against the real hexdump (or od) over real files, run at test time.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { EntryType } from '../../src/lib/layers/entry.ts';
import {
  MAX_SCROLL_PX,
  controlParts,
  formatMode,
  hexLines,
  safeFileName,
  scrollTopFor,
  showControls,
  sniff,
  splitLines,
  viewWindow,
} from '../../src/lib/layers/view.ts';

const exec = promisify(execFile);
const enc = new TextEncoder();
const bytes = (...v: number[]) => new Uint8Array(v);
const utf8Length = (s: string) => enc.encode(s).length;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-view-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('sniff', () => {
  const png = bytes(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13);
  const bmp = new Uint8Array(30);
  bmp.set(enc.encode('BM'));
  bmp[14] = 40;
  const ico = new Uint8Array(22);
  ico.set([0, 0, 1, 0, 1, 0, 16, 16, 0, 0]);
  const webp = enc.encode('RIFF\x24\0\0\0WEBPVP8 ');
  const cut = enc.encode('héllo €').slice(0, -1); // the euro sign's last byte is missing
  const cases: [string, Uint8Array, ReturnType<typeof sniff>][] = [
    ['png', png, { kind: 'image', mime: 'image/png' }],
    ['jpeg', bytes(0xff, 0xd8, 0xff, 0xe0, 0, 0x10), { kind: 'image', mime: 'image/jpeg' }],
    ['gif87a', enc.encode('GIF87a\x01\0'), { kind: 'image', mime: 'image/gif' }],
    ['gif89a', enc.encode('GIF89a\x01\0'), { kind: 'image', mime: 'image/gif' }],
    ['webp', webp, { kind: 'image', mime: 'image/webp' }],
    ['bmp', bmp, { kind: 'image', mime: 'image/bmp' }],
    ['ico', ico, { kind: 'image', mime: 'image/x-icon' }],
    [
      'text starting BM',
      enc.encode('BMW cars are listed below.\n'),
      { kind: 'text', text: 'BMW cars are listed below.\n' },
    ],
    [
      'svg is text',
      enc.encode('<svg onload="alert(1)"/>'),
      { kind: 'text', text: '<svg onload="alert(1)"/>' },
    ],
    ['empty', new Uint8Array(0), { kind: 'text', text: '' }],
    [
      'utf-8',
      enc.encode('grüße\r\n\tok\f\x1b[31m'),
      { kind: 'text', text: 'grüße\r\n\tok\f\x1b[31m' },
    ],
    ['bom is dropped', bytes(0xef, 0xbb, 0xbf, 0x61), { kind: 'text', text: 'a' }],
    ['truncated at the end', cut, { kind: 'text', text: 'héllo ' }],
    ['invalid utf-8', bytes(0x61, 0xff, 0x62), { kind: 'binary' }],
    ['truncated in the middle', bytes(0x61, 0xe2, 0x82, 0x61), { kind: 'binary' }],
    ['nul', enc.encode('abc\0def'), { kind: 'binary' }],
    ['elf', enc.encode('\x7fELF\x02\x01\x01'), { kind: 'binary' }],
    ['many controls', enc.encode('a\x01b\x02c\x03'), { kind: 'binary' }],
    [
      'one stray control in long text',
      enc.encode(`${'x'.repeat(200)}\x07`),
      { kind: 'text', text: `${'x'.repeat(200)}\x07` },
    ],
  ];
  test.each(cases)('%s', (_name, input, want) => {
    expect(sniff(input), `sniff(${JSON.stringify(Array.from(input.slice(0, 16)))})`).toEqual(want);
  });

  test('a real ELF binary is binary', async () => {
    const elf = await readFile(process.execPath);
    expect(sniff(new Uint8Array(elf.buffer, elf.byteOffset, 65536))).toEqual({ kind: 'binary' });
  });
});

describe('hexLines', () => {
  async function reference(file: string): Promise<string[]> {
    try {
      const { stdout } = await exec('hexdump', ['-C', '-v', file], { maxBuffer: 1 << 26 });
      const lines = stdout.split('\n').filter(Boolean);
      lines.pop(); // the final offset line
      return lines;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      return [];
    }
  }

  test('matches hexdump -C -v on the head of a real binary and on short tails', async () => {
    const elf = new Uint8Array(await readFile(process.execPath)).slice(0, 4096 + 7);
    const samples: [string, Uint8Array][] = [
      ['elf', elf],
      ['one byte', bytes(0x41)],
      ['nine bytes', enc.encode('ab\ncd\x7fe\x80f')],
      ['all bytes', Uint8Array.from({ length: 256 }, (_, i) => i)],
    ];
    for (const [name, data] of samples) {
      const file = join(dir, name);
      await writeFile(file, data);
      const want = await reference(file);
      if (want.length === 0) {
        // No hexdump: check the bytes against od instead.
        const { stdout } = await exec('od', ['-A', 'x', '-t', 'x1', '-v', file]);
        const od = stdout
          .split('\n')
          .filter((l) => l.includes(' '))
          .map((l) => l.split(/\s+/).slice(1).join(' '));
        const ours = hexLines(data).map((l) => l.slice(10, 59).trim().split(/\s+/).join(' '));
        expect(ours, `hexLines(${name}) vs od`).toEqual(od);
        continue;
      }
      expect(hexLines(data), `hexLines(${name})`).toEqual(want);
    }
  });

  test('start and count select lines', () => {
    const data = Uint8Array.from({ length: 100 }, (_, i) => i);
    const all = hexLines(data);
    expect(all).toHaveLength(7);
    expect(hexLines(data, 2, 3)).toEqual(all.slice(2, 5));
    expect(hexLines(data, 6, 10)).toEqual(all.slice(6));
    expect(hexLines(data, 9)).toEqual([]);
    expect(hexLines(new Uint8Array(0))).toEqual([]);
    expect(all[6]).toBe('00000060  60 61 62 63                                       |`abc|');
  });
});

describe('safeFileName', () => {
  const cases: [string, string][] = [
    ['etc/passwd', 'passwd'],
    ['usr/lib/', 'lib'],
    ['a/../..', 'file'],
    ['..', 'file'],
    ['.bashrc', 'bashrc'],
    ['...x', 'x'],
    ['', 'file'],
    ['/', 'file'],
    ['dir/a\nb\tc\x7f', 'a_b_c_'],
    ['x/a\\b:c*d?e"f<g>h|i', 'a_b_c_d_e_f_g_h_i'],
    ['CON', '_CON'],
    ['nul.txt', '_nul.txt'],
    ['com1', '_com1'],
    ['LPT9.tar.gz', '_LPT9.tar.gz'],
    ['console', 'console'],
    ['name. ', 'name'],
    ['grüße.txt', 'grüße.txt'],
    ['bad\uD800surrogate', 'bad_surrogate'],
    ['invoice-\u202efdp.exe', 'invoice-_fdp.exe'],
    ['a\u200e\u200f\u061c\u2066\u2067\u2068\u2069\u202a\u202b\u202c\u202d.txt', 'a___________.txt'],
    ['line\u2028para\u2029bom\ufeff', 'line_para_bom_'],
  ];
  test.each(cases)('safeFileName(%j)', (input, want) => {
    expect(safeFileName(input), `safeFileName(${JSON.stringify(input)})`).toBe(want);
  });

  test('a long run of dots, spaces or slashes is trimmed in linear time (a backtracking regex hung)', () => {
    const run = '. '.repeat(100_000);
    expect(safeFileName(`x${run}`)).toBe(`x`);
    expect(safeFileName(`d/y${run}${run}`)).toBe('y');
    expect(safeFileName(`a${'/'.repeat(200_000)}b`)).toBe('b');
    expect(safeFileName(`${'/'.repeat(200_000)}a`)).toBe('a');
  });

  test('long names are cut to 200 bytes of UTF-8 on a character boundary, keeping the extension', () => {
    const long = `${'é'.repeat(150)}.json`;
    const got = safeFileName(`d/${long}`);
    expect(utf8Length(got)).toBeLessThanOrEqual(200);
    expect(got.endsWith('.json')).toBe(true);
    expect(got.startsWith('é'.repeat(97))).toBe(true);
    const noExt = safeFileName('€'.repeat(100));
    expect(utf8Length(noExt)).toBe(198);
    expect(noExt).toBe('€'.repeat(66));
  });
});

describe('splitLines', () => {
  const cases: [string, string[]][] = [
    ['', []],
    ['a', ['a']],
    ['a\n', ['a']],
    ['a\n\n', ['a', '']],
    ['\n', ['']],
    ['a\r\nb\nc', ['a', 'b', 'c']],
    ['a\r\n', ['a']],
    ['a\rb', ['a\rb']],
  ];
  test.each(cases)('splitLines(%j)', (input, want) => {
    expect(splitLines(input), `splitLines(${JSON.stringify(input)})`).toEqual(want);
  });
});

describe('showControls and controlParts', () => {
  const cases: [string, boolean, string][] = [
    ['passwd', false, 'passwd'],
    ['a\nb', false, 'a\\nb'],
    ['a\x1b[31mb\nc', false, 'a\\x1b[31mb\\nc'],
    ['\0\x7f\r', false, '\\x00\\x7f\\r'],
    ['\u0085', false, '\\x85'],
    ['evil\u202Etxt.exe', false, 'evil\\u202Etxt.exe'],
    ['line\u2028sep', false, 'line\\u2028sep'],
    ['lone\uDC00', false, 'lone\\uDC00'],
    ['a\tb', false, 'a\\tb'],
    ['a\tb', true, 'a\tb'],
    ['<img src=x onerror=alert(1)>', false, '<img src=x onerror=alert(1)>'],
    ['emoji 👩‍💻', false, 'emoji 👩‍💻'],
  ];
  test.each(cases)('showControls(%j, %s)', (input, keepTabs, want) => {
    expect(showControls(input, keepTabs)).toBe(want);
  });

  test('controlParts marks the escapes apart from literal text', () => {
    expect(controlParts('a\x1b[1m\\x1b')).toEqual([
      ['a', false],
      ['\\x1b', true],
      ['[1m\\x1b', false],
    ]);
    expect(controlParts('')).toEqual([['', false]]);
    expect(controlParts('\n')).toEqual([['\\n', true]]);
    expect(controlParts('\ta\tb\f', true)).toEqual([
      ['\ta\tb', false],
      ['\\x0c', true],
    ]);
  });
});

describe('viewWindow and scrollTopFor', () => {
  test('a short list renders from the top with overscan', () => {
    expect(viewWindow(1000, 20, 0, 200, 5)).toEqual({
      start: 0,
      end: 15,
      height: 20000,
      offset: 0,
    });
    expect(viewWindow(1000, 20, 1000, 200, 5)).toEqual({
      start: 45,
      end: 65,
      height: 20000,
      offset: 0,
    });
    expect(viewWindow(10, 20, 0, 200, 5)).toEqual({ start: 0, end: 10, height: 200, offset: 0 });
    expect(viewWindow(0, 20, 0, 200)).toEqual({ start: 0, end: 0, height: 0, offset: 0 });
  });

  test('a list taller than the browser allows is scaled and still reaches its last row', () => {
    const count = 2_000_000;
    const rh = 26;
    const vp = 600;
    const bottom = MAX_SCROLL_PX - vp;
    const w = viewWindow(count, rh, bottom, vp, 0);
    expect(w.height).toBe(MAX_SCROLL_PX);
    expect(w.end).toBe(count);
    // The last row's bottom edge is the content's bottom edge.
    expect((count - 1) * rh + w.offset + rh).toBeCloseTo(MAX_SCROLL_PX, 5);
    // The first rendered row at any position starts at or above the viewport's top.
    const mid = viewWindow(count, rh, 4_000_000, vp, 0);
    const top = mid.start * rh + mid.offset;
    expect(top).toBeLessThanOrEqual(4_000_000);
    expect(top).toBeGreaterThan(4_000_000 - rh);
  });

  test('scrollTopFor moves as little as it must', () => {
    expect(scrollTopFor(5, 1000, 20, 0, 200)).toBe(0);
    expect(scrollTopFor(10, 1000, 20, 0, 200)).toBe(20);
    expect(scrollTopFor(3, 1000, 20, 500, 200)).toBe(60);
    expect(scrollTopFor(999, 1000, 20, 0, 200)).toBe(19800);
    const count = 2_000_000;
    const st = scrollTopFor(count - 1, count, 26, 0, 600);
    const w = viewWindow(count, 26, st, 600, 0);
    const rowTop = (count - 1) * 26 + w.offset;
    expect(rowTop).toBeGreaterThanOrEqual(st);
    expect(rowTop + 26).toBeLessThanOrEqual(st + 600 + 1e-6);
  });
});

describe('formatMode', () => {
  const cases: [EntryType, number, string][] = [
    ['file', 0o755, '-rwxr-xr-x'],
    ['file', 0o644, '-rw-r--r--'],
    ['file', 0o100644, '-rw-r--r--'],
    ['dir', 0o1777, 'drwxrwxrwt'],
    ['dir', 0o1776, 'drwxrwxrwT'],
    ['symlink', 0o777, 'lrwxrwxrwx'],
    ['file', 0o4755, '-rwsr-xr-x'],
    ['file', 0o4644, '-rwSr--r--'],
    ['file', 0o2755, '-rwxr-sr-x'],
    ['file', 0o2745, '-rwxr-Sr-x'],
    ['hardlink', 0o644, '-rw-r--r--'],
    ['char', 0o620, 'crw--w----'],
    ['block', 0o660, 'brw-rw----'],
    ['fifo', 0o600, 'prw-------'],
    ['other', 0, '?---------'],
    // Bits above the 12 of a mode, as a base-256 tar field can carry: ignored, not wrapped.
    ['file', 2 ** 40 + 0o644, '-rw-r--r--'],
    ['file', 2 ** 53 - 1, '-rwsrwsrwt'],
    ['file', -1, '-?????????'],
    ['file', Number.NaN, '-?????????'],
    ['dir', 1.5, 'd?????????'],
  ];
  test.each(cases)('formatMode(%s, %o) = %s', (type, mode, want) => {
    expect(formatMode(type, mode), `formatMode(${type}, ${mode.toString(8)})`).toBe(want);
  });
});
