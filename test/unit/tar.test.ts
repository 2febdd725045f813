// Tar headers are checked by GNU tar itself: the archive is composed the way the exporter does
// it and listed and extracted with the real tool.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { endOfArchive, fileHeader, padding } from '../../src/lib/export/tar.ts';

const exec = promisify(execFile);
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-tar-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function compose(files: [string, Uint8Array][]) {
  const parts: BlobPart[] = [];
  for (const [name, body] of files) {
    parts.push(
      fileHeader(name, body.byteLength) as Uint8Array<ArrayBuffer>,
      body as Uint8Array<ArrayBuffer>,
      padding(body.byteLength) as Uint8Array<ArrayBuffer>,
    );
  }
  parts.push(endOfArchive() as Uint8Array<ArrayBuffer>);
  return new Uint8Array(await new Blob(parts).arrayBuffer());
}

describe('tar headers', () => {
  const long = `blobs/sha512/${'ab'.repeat(64)}`;
  const veryLong = `${'d'.repeat(120)}/${'f'.repeat(120)}`;
  const files: [string, Uint8Array][] = [
    ['oci-layout', new TextEncoder().encode('{"imageLayoutVersion":"1.0.0"}')],
    [`blobs/sha256/${'0'.repeat(64)}`, new Uint8Array(513).fill(7)],
    [long, new Uint8Array(0)],
    [veryLong, new Uint8Array(1024).fill(1)],
    ['ünïcode.txt', new TextEncoder().encode('ü')],
  ];

  test('GNU tar lists and extracts every file byte for byte', async () => {
    const archive = await compose(files);
    expect(archive.byteLength % 512).toBe(0);
    const file = join(dir, 'a.tar');
    await writeFile(file, archive);
    const { stdout } = await exec('tar', ['-tf', file]);
    expect(stdout.trim().split('\n')).toEqual(files.map(([n]) => n));
    const out = join(dir, 'x');
    await exec('mkdir', ['-p', out]);
    await exec('tar', ['-xf', file, '-C', out]);
    for (const [name, body] of files) {
      expect(new Uint8Array(await readFile(join(out, name))), name).toEqual(body);
    }
  });

  test('sizes over 8 GiB get a PAX size record', () => {
    const h = new TextDecoder().decode(fileHeader('big', 9 * 2 ** 30));
    expect(h).toContain(`size=${9 * 2 ** 30}\n`);
  });

  test('padding fills to the block boundary', () => {
    const cases: [number, number][] = [
      [0, 0],
      [1, 511],
      [512, 0],
      [513, 511],
    ];
    for (const [size, want] of cases)
      expect(padding(size).byteLength, `padding(${size})`).toBe(want);
  });
});
