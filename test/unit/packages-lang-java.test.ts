// The Java cataloger over the jars of this machine (Debian's /usr/share/java, a sample of
// ~/.m2), against what `unzip -p` shows of their pom.properties and manifests, and over jars
// built at test time with zip: stored entries, data descriptors, a fat jar, damage and a bomb.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isJavaArchive, javaCataloger, readJava } from '../../src/lib/packages/java.ts';
import type { CatalogResult } from '../../src/lib/packages/types.ts';
import { walk } from './packages-lang-helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'berth-java-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const read = (path: string, name = path.slice(1)): CatalogResult => {
  const st = statSync(path);
  return readJava({
    path: name,
    size: st.size,
    mode: st.mode,
    bytes: new Uint8Array(readFileSync(path)),
  });
};

/** What `unzip -c` shows (one run per jar): group:artifact@version per pom.properties, and the
 * main section of the manifest. */
function unzipSays(jar: string): { poms: Set<string>; manifest: Map<string, string> } {
  const r = spawnSync(
    'unzip',
    ['-c', jar, 'META-INF/MANIFEST.MF', 'META-INF/maven/*pom.properties'],
    {
      encoding: 'latin1',
      maxBuffer: 64 << 20,
    },
  );
  // Each entry's text follows an "  inflating: name" (or "extracting:") line.
  const parts = r.stdout.split(/^ +(?:inflating|extracting): (.*?) *$/m);
  const poms = new Set<string>();
  const manifest = new Map<string, string>();
  for (let i = 1; i + 1 < parts.length; i += 2) {
    const name = parts[i]!;
    const text = parts[i + 1]!;
    if (/^META-INF\/maven\/[^/]+\/[^/]+\/pom\.properties$/.test(name)) {
      const get = (k: string) => new RegExp(`^${k}\\s*=\\s*(.*?)\\s*$`, 'm').exec(text)?.[1];
      poms.add(`${get('groupId')}:${get('artifactId')}@${get('version')}`);
    } else if (name === 'META-INF/MANIFEST.MF') {
      for (const line of text
        .replace(/^\r?\n/, '')
        .replace(/\r?\n /g, '')
        .split(/\r?\n/)) {
        if (line === '') break;
        const colon = line.indexOf(':');
        if (colon > 0 && !manifest.has(line.slice(0, colon)))
          manifest.set(line.slice(0, colon), line.slice(colon + 1).trim());
      }
    }
  }
  return { poms, manifest };
}

function machineJars(): string[] {
  const jars = [...walk('/usr/share/java')].map(([p]) => p).filter((p) => p.endsWith('.jar'));
  // ~/.m2 may hold a thousand jars; every 100th keeps the test quick and still varied.
  const m2 = join(homedir(), '.m2', 'repository');
  if (existsSync(m2))
    jars.push(
      ...[...walk(m2)]
        .map(([p]) => p)
        .filter((p) => p.endsWith('.jar'))
        .sort()
        .filter((_, i) => i % 100 === 0),
    );
  return jars;
}

// Real tools on a shared machine: slow under load, never a timing assertion.
describe('java cataloger', { timeout: 120_000 }, () => {
  it('reads the jars on this machine as unzip shows them', () => {
    const jars = machineJars();
    expect(jars).toContain('/usr/share/java/commons-lang3.jar');
    let fromPoms = 0;
    for (const jar of jars) {
      const want = unzipSays(jar);
      const got = read(jar);
      expect(got.problems, jar).toEqual([]);
      // Nested jars are read too; these are the archive's own packages.
      const own = got.packages.filter((p) => !p.extra?.jarPath);
      if (want.poms.size) {
        fromPoms++;
        expect(new Set(own.map((p) => `${p.name}@${p.version}`)), jar).toEqual(want.poms);
        continue;
      }
      const m = want.manifest;
      const versions = [
        m.get('Bundle-Version'),
        m.get('Implementation-Version'),
        m.get('Specification-Version'),
      ];
      const fileVersion = /-(\d[\w.+-]*)\.jar$/.exec(basename(jar))?.[1];
      if (own.length === 0) {
        expect(versions.some(Boolean) || fileVersion, `${jar} has a version somewhere`).toBeFalsy();
        continue;
      }
      expect(own, jar).toHaveLength(1);
      expect([...versions, fileVersion], jar).toContain(own[0]!.version);
    }
    expect(fromPoms).toBeGreaterThan(10);
    const lang3 = read('/usr/share/java/commons-lang3.jar');
    expect(lang3.packages).toEqual([
      {
        ecosystem: 'maven',
        name: 'org.apache.commons:commons-lang3',
        version: '3.12.0',
        extra: { homepage: 'https://commons.apache.org/proper/commons-lang/' },
      },
    ]);
  });

  it.each([
    ['usr/share/java/a.jar', true],
    ['app/ROOT.war', true],
    ['x/app.EAR', true],
    ['a.jar.sha1', false],
    ['ajar', false],
    ['jar', false],
  ])('isJavaArchive(%s) = %s', (path, want) => {
    expect(isJavaArchive(path)).toBe(want);
    expect(javaCataloger.wants(path, 1000, 0o644)).toBe(want);
  });

  describe('jars built now', () => {
    const src = join(tmp, 'src');
    const file = (path: string, body: string | Uint8Array) => {
      mkdirSync(join(src, path, '..'), { recursive: true });
      writeFileSync(join(src, path), body);
    };
    const zip = (out: string, args: string[], input?: string) =>
      execFileSync('zip', ['-q', ...args], { cwd: src, input, stdio: ['pipe', 'pipe', 'pipe'] }) &&
      join(src, out);
    file(
      'META-INF/MANIFEST.MF',
      'Manifest-Version: 1.0\r\nBundle-SymbolicName: org.example.thing;singleton:=tru\r\n e\r\nBundle-Version: 2.1.0.RC1\r\nBundle-License: Apache-2.0\r\n\r\nName: x\r\nBundle-Version: 9\r\n',
    );
    file(
      'META-INF/maven/org.example/thing/pom.properties',
      '#Generated\ngroupId=org.example\nartifactId=thing\nversion=2.1.0-RC1\n',
    );
    file(
      'META-INF/maven/org.shaded/inner/pom.properties',
      'groupId = org.shaded\nartifactId: inner\nversion=0.9\n',
    );
    file('org/example/Thing.class', new Uint8Array(5000).fill(7));

    it('reads stored entries and entries with data descriptors', () => {
      const stored = zip('stored.jar', ['-0', '-r', 'stored.jar', 'META-INF', 'org']);
      // zip writing to a pipe cannot seek back: every entry gets a data descriptor.
      const streamed = join(src, 'streamed.jar');
      writeFileSync(
        streamed,
        execFileSync('zip', ['-q', '-r', '-D', '-', 'META-INF', 'org'], {
          cwd: src,
          maxBuffer: 1 << 24,
        }),
      );
      const bytes = readFileSync(streamed);
      expect(bytes.readUInt16LE(6) & 8, 'the first local header has the data descriptor flag').toBe(
        8,
      );
      // A launch script in front of the zip, as Spring Boot's executable jars have: every
      // offset the directory records is then short by the script's length.
      const executable = join(src, 'executable.jar');
      writeFileSync(
        executable,
        Buffer.concat([Buffer.from('#!/bin/sh\nexec java -jar "$0" "$@"\n'), readFileSync(stored)]),
      );
      // zip -fz: zip64 end records (the directory's offset only there) and zip64 extra fields.
      const zip64 = zip('zip64.jar', ['-fz', '-r', 'zip64.jar', 'META-INF', 'org']);
      expect(readFileSync(zip64).readUInt32LE(readFileSync(zip64).length - 22 + 16)).toBe(
        0xffffffff,
      );
      for (const jar of [stored, streamed, executable, zip64]) {
        const got = read(jar, basename(jar));
        expect(got.problems, jar).toEqual([]);
        expect(got.packages.map((p) => `${p.name}@${p.version}`).sort(), jar).toEqual([
          'org.example:thing@2.1.0-RC1',
          'org.shaded:inner@0.9',
        ]);
        // Two poms: the manifest's licence is not given to either.
        expect(got.packages.every((p) => p.license === undefined)).toBe(true);
      }
    });

    it('falls back to the manifest, and reads nested jars one level deep', () => {
      const dir = join(tmp, 'manifest-only');
      mkdirSync(join(dir, 'META-INF'), { recursive: true });
      mkdirSync(join(src, 'BOOT-INF/lib'), { recursive: true });
      writeFileSync(
        join(dir, 'META-INF/MANIFEST.MF'),
        readFileSync(join(src, 'META-INF/MANIFEST.MF')),
      );
      execFileSync(
        'zip',
        ['-q', join(src, 'BOOT-INF/lib/bundle-2.1.0.jar'), 'META-INF/MANIFEST.MF'],
        { cwd: dir },
      );
      const inner = zip('BOOT-INF/lib/inner.jar', [
        '-r',
        'BOOT-INF/lib/inner.jar',
        'META-INF/maven/org.shaded',
      ]);
      expect(inner).toBeTruthy();
      // A stored nested jar (as Spring Boot wants) and a deflated one (as a war may have).
      execFileSync('zip', ['-q', '-0', 'fat.jar', 'BOOT-INF/lib/bundle-2.1.0.jar'], { cwd: src });
      execFileSync(
        'zip',
        [
          '-q',
          'fat.jar',
          'BOOT-INF/lib/inner.jar',
          'META-INF/maven/org.example/thing/pom.properties',
        ],
        {
          cwd: src,
        },
      );
      const got = read(join(src, 'fat.jar'), 'app/fat.jar');
      expect(got.problems).toEqual([]);
      expect(got.packages).toEqual([
        { ecosystem: 'maven', name: 'org.example:thing', version: '2.1.0-RC1' },
        {
          ecosystem: 'maven',
          name: 'org.example.thing',
          version: '2.1.0.RC1',
          license: 'Apache-2.0',
          extra: { jarPath: 'BOOT-INF/lib/bundle-2.1.0.jar', from: 'manifest' },
        },
        {
          ecosystem: 'maven',
          name: 'org.shaded:inner',
          version: '0.9',
          extra: { jarPath: 'BOOT-INF/lib/inner.jar' },
        },
      ]);
    });

    it('says what is wrong with a truncated jar, a bomb and a jar that is not a zip, without throwing', () => {
      const whole = readFileSync('/usr/share/java/commons-lang3.jar');
      const cut = (n: number) => ({
        path: 'cut.jar',
        size: n,
        mode: 0o644,
        bytes: new Uint8Array(whole.subarray(0, n)),
      });
      for (const n of [0, 10, 1000, whole.length >> 1, whole.length - 10]) {
        const got = readJava(cut(n));
        expect(got.packages, `cut at ${n}`).toEqual([]);
        expect(got.problems, `cut at ${n}`).toEqual([
          expect.stringMatching(/^cut\.jar: no zip end record/),
        ]);
      }
      // The directory intact but an entry's data gone: the local header points past the end.
      const tail = Buffer.concat([whole.subarray(0, 100), Buffer.alloc(whole.length - 100)]);
      const zeroed = readJava({
        path: 'zeroed.jar',
        size: tail.length,
        mode: 0o644,
        bytes: new Uint8Array(tail),
      });
      expect(zeroed.problems.length).toBeGreaterThan(0);
      expect(
        readJava({
          path: 'text.jar',
          size: 5,
          mode: 0o644,
          bytes: new TextEncoder().encode('hello'),
        }).problems,
      ).toEqual(['text.jar: no zip end record (truncated or not a zip)']);

      // A pom.properties that inflates to 4 MiB of comments (the cap for such files is 1 MiB).
      const bomb = join(tmp, 'bomb');
      mkdirSync(join(bomb, 'META-INF/maven/g/a'), { recursive: true });
      writeFileSync(
        join(bomb, 'META-INF/maven/g/a/pom.properties'),
        '#'.repeat(4 << 20) + '\nversion=1\n',
      );
      execFileSync('zip', ['-q', '-r', 'bomb.jar', 'META-INF'], { cwd: bomb });
      expect(statSync(join(bomb, 'bomb.jar')).size).toBeLessThan(1 << 20);
      const got = read(join(bomb, 'bomb.jar'), 'bomb.jar');
      expect(got.packages).toEqual([]);
      expect(got.problems).toEqual([
        'bomb.jar: META-INF/maven/g/a/pom.properties: inflates to more than 1048576 bytes',
      ]);
    });
  });
});
