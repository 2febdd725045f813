// The cargo auditable cataloger over real ELF files: a copy of /bin/true given a `.dep-v0`
// section by objcopy, holding zlib-compressed JSON in cargo auditable's format (its schema:
// rustsec.org/schemas/cargo-auditable.json). No cargo-auditable tool is available offline, so
// the section is made here, with Python's zlib as cargo auditable uses zlib.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cargoCataloger } from '../../src/lib/packages/cargo.ts';
import { scanFile } from './packages-lang-helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'berth-cargo-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const audit = {
  packages: [
    { name: 'adler', version: '1.0.2', source: 'crates.io' },
    { name: 'cc', version: '1.0.83', source: 'crates.io', kind: 'build' },
    { name: 'miniz_oxide', version: '0.7.1', source: 'crates.io', dependencies: [0] },
    { name: 'hello', version: '0.1.0', source: 'local', dependencies: [1, 2], root: true },
  ],
};

/** zlib-compressed bytes, by Python's zlib. */
function zlib(data: Uint8Array): Uint8Array {
  return new Uint8Array(
    execFileSync(
      'python3',
      [
        '-c',
        'import sys, zlib; sys.stdout.buffer.write(zlib.compress(sys.stdin.buffer.read(), 9))',
      ],
      {
        input: data,
        maxBuffer: 64 << 20,
      },
    ),
  );
}

/** A copy of /bin/true with a `.dep-v0` section holding `contents`. */
function elfWith(name: string, contents: Uint8Array): string {
  const section = join(tmp, `${name}.section`);
  writeFileSync(section, contents);
  const out = join(tmp, name);
  copyFileSync('/bin/true', out);
  execFileSync('objcopy', ['--add-section', `.dep-v0=${section}`, out]);
  return out;
}

async function scanned(path: string, chunk?: number) {
  const st = statSync(path);
  return scanFile(
    cargoCataloger,
    path,
    path.slice(tmp.length + 1),
    st.size,
    st.mode & 0o7777,
    chunk,
  );
}

describe('cargo cataloger', { timeout: 120_000 }, () => {
  it('reads the packages of a .dep-v0 section, whatever the chunk size', async () => {
    const bin = elfWith('hello', zlib(new TextEncoder().encode(JSON.stringify(audit))));
    expect(execFileSync('objdump', ['-h', bin], { encoding: 'utf8' })).toContain('.dep-v0');
    for (const chunk of [1 << 20, 4096, 333]) {
      const got = await scanned(bin, chunk);
      expect(got.problems).toEqual([]);
      expect(got.packages, `chunks of ${chunk}`).toEqual([
        { ecosystem: 'cargo', name: 'adler', version: '1.0.2', extra: { source: 'crates.io' } },
        {
          ecosystem: 'cargo',
          name: 'cc',
          version: '1.0.83',
          extra: { source: 'crates.io', kind: 'build' },
        },
        {
          ecosystem: 'cargo',
          name: 'miniz_oxide',
          version: '0.7.1',
          extra: { source: 'crates.io' },
        },
        {
          ecosystem: 'cargo',
          name: 'hello',
          version: '0.1.0',
          extra: { source: 'local', root: 'true' },
        },
      ]);
    }
  });

  it('reads a file whose first chunks are a byte each', async () => {
    const bytes = readFileSync(
      elfWith('bytewise', zlib(new TextEncoder().encode(JSON.stringify(audit)))),
    );
    const scan = cargoCataloger.scan!({ path: 'bytewise', size: bytes.length, mode: 0o755 });
    for (let i = 0; i < 5; i++) expect(scan.push(bytes.subarray(i, i + 1))).toBe(true);
    for (let i = 5; i < bytes.length; i += 4096)
      expect(scan.push(bytes.subarray(i, i + 4096))).toBe(true);
    const got = await scan.finish();
    expect(got.problems).toEqual([]);
    expect(got.packages.map((p) => p.name)).toEqual(['adler', 'cc', 'miniz_oxide', 'hello']);
  });

  it('finds nothing, and says nothing, in ELF files without the section and in other files', async () => {
    for (const path of ['/bin/true', '/usr/bin/docker-registry', '/bin/busybox']) {
      const st = statSync(path);
      expect(await scanFile(cargoCataloger, path, path.slice(1), st.size, st.mode), path).toEqual({
        packages: [],
        problems: [],
      });
    }
    const scan = cargoCataloger.scan!({ path: 'script', size: 2000, mode: 0o755 });
    expect(scan.push(new TextEncoder().encode('#!/bin/sh\n'))).toBe(false);
    expect(scan.finish()).toEqual({ packages: [], problems: [] });
  });

  it('says what is wrong with a lying section table, bad zlib, bad JSON and a bomb, without throwing', async () => {
    const good = elfWith('lying', zlib(new TextEncoder().encode(JSON.stringify(audit))));
    const bytes = readFileSync(good);
    const lie = (what: string, change: (b: Buffer) => void) => {
      const b = Buffer.from(bytes);
      change(b);
      writeFileSync(join(tmp, what), b);
      return scanned(join(tmp, what));
    };
    // e_shoff far past the end; e_shstrndx past e_shnum; the .dep-v0 header's size huge.
    const past = await lie('shoff', (b) => b.writeBigUInt64LE(BigInt(b.length * 4), 0x28));
    expect(past.problems).toEqual(['shoff: the section header table lies outside the file']);
    const strndx = await lie('strndx', (b) => b.writeUInt16LE(0xfff0, 0x3e));
    expect(strndx.problems).toEqual(['strndx: the section header table lies outside the file']);
    const index = Number(
      /\[\s*(\d+)\]\s+\.dep-v0/.exec(
        execFileSync('readelf', ['-S', '-W', good], { encoding: 'utf8' }),
      )![1],
    );
    const size = await lie('size', (b) => {
      const shoff = Number(b.readBigUInt64LE(0x28));
      b.writeBigUInt64LE(1n << 40n, shoff + index * 64 + 0x20);
    });
    expect(size.problems).toEqual(['size: section .dep-v0 lies outside the file']);

    const notZlib = await scanned(
      elfWith('not-zlib', new TextEncoder().encode('{"packages": []}')),
    );
    expect(notZlib.problems).toEqual(['not-zlib: .dep-v0 is not zlib data']);
    const notJson = await scanned(
      elfWith('not-json', zlib(new TextEncoder().encode('{"packages": ['))),
    );
    expect(notJson.problems).toEqual(['not-json: .dep-v0 is not JSON']);
    const cut = zlib(new TextEncoder().encode(JSON.stringify(audit)));
    const truncated = await scanned(elfWith('truncated', cut.subarray(0, cut.length >> 1)));
    expect(truncated.problems).toEqual([expect.stringMatching(/^truncated: \.dep-v0: /)]);
    const noName = await scanned(
      elfWith(
        'no-name',
        zlib(new TextEncoder().encode('{"packages":[{"version":"1"},{"name":"a","version":"2"}]}')),
      ),
    );
    expect(noName.packages.map((p) => p.name)).toEqual(['a']);
    expect(noName.problems).toEqual(['no-name: a .dep-v0 package has no name or version']);
    // 16 MiB of spaces after the JSON: past the 8 MiB cap.
    const padded = new Uint8Array(16 << 20).fill(0x20);
    padded.set(new TextEncoder().encode(JSON.stringify(audit)));
    const bomb = await scanned(elfWith('bomb', zlib(padded)));
    expect(bomb.packages).toEqual([]);
    expect(bomb.problems).toEqual(['bomb: .dep-v0: inflates to more than 8388608 bytes']);
  });
});
