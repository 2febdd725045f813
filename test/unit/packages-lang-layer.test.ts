// Every language cataloger over one layer made by GNU tar, read the way the inventory reads a
// layer: entries in stream order through the project's tar parser, each wanted file either
// collected whole for `read` or streamed to `scan` in the parser's own pieces. Checks that the
// paths as a layer spells them (./ stripped, no leading slash) are the ones the catalogers want.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TarParser, type TarEntry } from '../../src/lib/layers/tar.ts';
import { langCatalogers } from '../../src/lib/packages/lang.ts';
import type { CatalogResult, FileScan, PackageFacts } from '../../src/lib/packages/types.ts';

const tmp = mkdtempSync(join(tmpdir(), 'berth-lang-layer-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Open {
  entry: TarEntry;
  left: number;
  whole: { cataloger: string; parts: Uint8Array[] }[];
  scans: { cataloger: string; scan: FileScan; more: boolean }[];
}

/** The catalogers' findings for a tar stream fed in chunks of `chunk` bytes. */
async function catalogLayer(tar: Uint8Array, chunk: number) {
  const found: { cataloger: string; path: string; result: CatalogResult }[] = [];
  const pending: Promise<void>[] = [];
  let open: Open | undefined;
  const close = (o: Open) => {
    for (const w of o.whole) {
      const c = langCatalogers.find((x) => x.id === w.cataloger)!;
      const bytes = new Uint8Array(o.entry.size);
      let at = 0;
      for (const p of w.parts) {
        bytes.set(p, at);
        at += p.length;
      }
      const { path, size, mode } = o.entry;
      pending.push(
        Promise.resolve(c.read!({ path, size, mode, bytes })).then(
          (result) => void found.push({ cataloger: c.id, path, result }),
        ),
      );
    }
    for (const s of o.scans)
      pending.push(
        Promise.resolve(s.scan.finish()).then(
          (result) => void found.push({ cataloger: s.cataloger, path: o.entry.path, result }),
        ),
      );
  };
  const parser = new TarParser({
    onEntry(entry) {
      if (entry.type !== 'file') return;
      const o: Open = { entry, left: entry.size, whole: [], scans: [] };
      for (const c of langCatalogers) {
        if (!c.wants(entry.path, entry.size, entry.mode)) continue;
        if (c.scan) o.scans.push({ cataloger: c.id, scan: c.scan(entry), more: true });
        else if (entry.size <= c.maxBytes) o.whole.push({ cataloger: c.id, parts: [] });
      }
      if (o.left === 0) close(o);
      else open = o;
    },
    onData(entry, bytes) {
      const o = open!;
      for (const w of o.whole) w.parts.push(bytes.slice());
      for (const s of o.scans) if (s.more) s.more = s.scan.push(bytes);
      o.left -= bytes.length;
      if (o.left === 0) {
        close(o);
        open = undefined;
      }
    },
  });
  for (let i = 0; i < tar.length; i += chunk) parser.push(tar.subarray(i, i + chunk));
  await Promise.all(pending);
  return found;
}

describe('language catalogers over a layer', { timeout: 120_000 }, () => {
  it('find each ecosystem at the paths GNU tar writes', async () => {
    const root = join(tmp, 'root');
    const put = (path: string, body: string | Uint8Array, mode = 0o644) => {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), body, { mode });
    };
    put(
      'usr/lib/node_modules/npm/package.json',
      JSON.stringify({ name: 'npm', version: '9.2.0', license: 'Artistic-2.0' }),
    );
    put(
      'usr/lib/node_modules/npm/node_modules/@npmcli/arborist/package.json',
      JSON.stringify({ name: '@npmcli/arborist', version: '6.1.1' }),
    );
    put(
      'usr/lib/node_modules/npm/test/fixtures/package.json',
      JSON.stringify({ name: 'fixture', version: '0.0.0' }),
    );
    put(
      'usr/lib/python3/dist-packages/six-1.16.0.egg-info',
      'Metadata-Version: 1.1\nName: six\nVersion: 1.16.0\nLicense: MIT\n',
    );
    put(
      'usr/local/lib/python3.11/site-packages/pip-23.0.1.dist-info/METADATA',
      'Metadata-Version: 2.1\nName: pip\nVersion: 23.0.1\nLicense: MIT\n',
    );
    mkdirSync(join(root, 'usr/local/bin'), { recursive: true });
    copyFileSync('/usr/bin/umoci', join(root, 'usr/local/bin/umoci'));
    mkdirSync(join(root, 'opt/app'), { recursive: true });
    copyFileSync('/usr/share/java/commons-lang3.jar', join(root, 'opt/app/commons-lang3.jar'));
    const section = join(tmp, 'dep.z');
    writeFileSync(
      section,
      execFileSync(
        'python3',
        ['-c', 'import sys, zlib; sys.stdout.buffer.write(zlib.compress(sys.stdin.buffer.read()))'],
        {
          input: JSON.stringify({
            packages: [{ name: 'rusty', version: '0.3.0', source: 'local', root: true }],
          }),
        },
      ),
    );
    copyFileSync('/bin/true', join(root, 'usr/local/bin/rusty'));
    execFileSync('objcopy', [
      '--add-section',
      `.dep-v0=${section}`,
      join(root, 'usr/local/bin/rusty'),
    ]);
    execFileSync('tar', ['-C', root, '-cf', join(tmp, 'layer.tar'), '.']);
    const tar = new Uint8Array(readFileSync(join(tmp, 'layer.tar')));

    const umoci = execFileSync('go', ['version', '-m', '/usr/bin/umoci'], { encoding: 'utf8' });
    const goVersion = /: (go\S+)/.exec(umoci)![1]!;
    const want = [
      'cargo usr/local/bin/rusty rusty@0.3.0',
      `go usr/local/bin/umoci stdlib@${goVersion}`,
      'java opt/app/commons-lang3.jar org.apache.commons:commons-lang3@3.12.0',
      'npm usr/lib/node_modules/npm/node_modules/@npmcli/arborist/package.json @npmcli/arborist@6.1.1',
      'npm usr/lib/node_modules/npm/package.json npm@9.2.0',
      'python usr/lib/python3/dist-packages/six-1.16.0.egg-info six@1.16.0',
      'python usr/local/lib/python3.11/site-packages/pip-23.0.1.dist-info/METADATA pip@23.0.1',
    ];
    for (const chunk of [1 << 20, 7919]) {
      const found = await catalogLayer(tar, chunk);
      expect(found.flatMap((f) => f.result.problems)).toEqual([]);
      const got = found
        .flatMap((f) =>
          f.result.packages.map(
            (p: PackageFacts) => `${f.cataloger} ${f.path} ${p.name}@${p.version}`,
          ),
        )
        .sort();
      expect(got, `chunks of ${chunk}`).toEqual(want);
    }
  });
});
