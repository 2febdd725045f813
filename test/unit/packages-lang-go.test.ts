// The Go cataloger over this machine's Go binaries (Debian's, and any others on it), against
// `go version -m`, and over a program built at test time with a vendored, replaced dependency.
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { goCataloger } from '../../src/lib/packages/go.ts';
import { catalog, scanFile, walk } from './packages-lang-helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'berth-go-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface GoSays {
  goVersion: string;
  packages: Set<string>;
}

/** `go version -m` on files or directories, parsed to name@version per binary: the main module,
 * each dependency (as its versioned replacement when it has one) and stdlib. */
function goVersionM(...paths: string[]): Map<string, GoSays> {
  const out = execFileSync('go', ['version', '-m', ...paths], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const binaries = new Map<string, GoSays>();
  let current: GoSays | undefined;
  let last: string | undefined;
  for (const line of out.split('\n')) {
    const top = /^(\S.*): (go\S*.*)$/.exec(line);
    if (top) {
      current = { goVersion: top[2]!, packages: new Set([`stdlib@${top[2]!.split(' ')[0]}`]) };
      binaries.set(realpathSync(top[1]!), current);
      last = undefined;
      continue;
    }
    const f = line.split('\t').slice(1);
    if (!current) continue;
    if (f[0] === 'mod' || f[0] === 'dep') {
      last = `${f[1]}@${f[2]}`;
      current.packages.add(last);
    } else if (f[0] === '=>' && f[2] && last) {
      current.packages.delete(last);
      current.packages.add(`${f[1]}@${f[2]}`);
    }
  }
  return binaries;
}

async function scanned(path: string, chunk?: number) {
  const st = statSync(path);
  return scanFile(goCataloger, path, path.slice(1), st.size, st.mode & 0o7777, chunk);
}

const candidates = ['/usr/bin', '/usr/sbin', '/usr/lib/go/bin', '/usr/lib/go/pkg/tool'].filter(
  existsSync,
);

describe('go cataloger', () => {
  const says = goVersionM(...candidates);

  it("reads every Go binary on this machine as go version -m does (Debian's among them)", async () => {
    for (const name of ['/usr/bin/docker-registry', '/usr/bin/skopeo', '/usr/bin/umoci'])
      expect(says.has(name), `${name} is a Go binary`).toBe(true);
    expect(says.size).toBeGreaterThan(5);
    // Odd chunk sizes too, so that the header straddles chunks somewhere.
    for (const [i, [path, want]] of [...says].entries()) {
      const result = await scanned(path, i % 2 ? 4099 : 65536);
      expect(result.problems, path).toEqual([]);
      expect(new Set(result.packages.map((p) => `${p.name}@${p.version}`)), path).toEqual(
        want.packages,
      );
      const goVersions = new Set(result.packages.map((p) => p.extra?.goVersion));
      expect(goVersions, path).toEqual(new Set([want.goVersion]));
    }
  });

  it('finds nothing in executables that are not Go, and reads no further than their first chunk', async () => {
    const found = await catalog(goCataloger, '/usr/bin', '/');
    expect(found.problems).toEqual([]);
    // /usr/bin/go and friends are symlinks there: regular files only, like a layer's files.
    const regular = [...says.keys()].filter((p) => p.startsWith('/usr/bin/'));
    const withStdlib = found.packages.filter((p) => p.name === 'stdlib').length;
    expect(withStdlib).toBe(regular.length);

    const script = join(tmp, 'script.sh');
    writeFileSync(script, '#!/bin/sh\n' + '# \xff Go buildinf:\n'.repeat(200), { mode: 0o755 });
    const st = statSync(script);
    const scan = goCataloger.scan!({ path: 'script.sh', size: st.size, mode: 0o755 });
    expect(scan.push(new Uint8Array(Buffer.from('#!/bin/sh\n')))).toBe(false);
    expect(scan.finish()).toEqual({ packages: [], problems: [] });
    expect(goCataloger.wants('usr/bin/x', 1 << 20, 0o644)).toBe(false);
    expect(goCataloger.wants('usr/bin/x', 1 << 20, 0o755)).toBe(true);
  });

  it('reads the main module, a vendored dependency and its replacement from a program built now', async () => {
    const dir = join(tmp, 'hello');
    const file = (path: string, body: string) => {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), body);
    };
    file(
      'go.mod',
      'module example.com/hello\n\ngo 1.18\n\nrequire (\n\texample.com/dep v1.2.3\n\texample.com/old v0.1.0\n)\n\nreplace example.com/old => example.com/new v1.0.0\n',
    );
    file(
      'main.go',
      'package main\n\nimport (\n\t"example.com/dep"\n\t"example.com/old"\n)\n\nfunc main() { println(dep.Hello(), old.Hello()) }\n',
    );
    file('vendor/example.com/dep/dep.go', 'package dep\n\nfunc Hello() string { return "dep" }\n');
    file('vendor/example.com/old/old.go', 'package old\n\nfunc Hello() string { return "new" }\n');
    file(
      'vendor/modules.txt',
      '# example.com/dep v1.2.3\n## explicit\nexample.com/dep\n# example.com/old v0.1.0 => example.com/new v1.0.0\n## explicit\nexample.com/old\n# example.com/old => example.com/new v1.0.0\n',
    );
    const bin = join(tmp, 'hello-bin');
    execFileSync('go', ['build', '-mod=vendor', '-o', bin, '.'], {
      cwd: dir,
      env: {
        ...process.env,
        GOFLAGS: '',
        GOPROXY: 'off',
        GOCACHE: join(tmp, 'cache'),
        CGO_ENABLED: '0',
      },
      stdio: 'pipe',
    });
    const want = goVersionM(bin).get(realpathSync(bin))!;
    const result = await scanned(bin, 8191);
    expect(result.problems).toEqual([]);
    const byName = Object.fromEntries(result.packages.map((p) => [p.name, p]));
    expect(byName['example.com/hello']).toMatchObject({
      version: '(devel)',
      extra: { main: 'true', GOOS: 'linux' },
    });
    expect(byName['example.com/dep']?.version).toBe('v1.2.3');
    expect(byName['example.com/new']).toMatchObject({
      version: 'v1.0.0',
      extra: { replaces: 'example.com/old@v0.1.0' },
    });
    expect(byName.stdlib?.version).toBe(want.goVersion);
    expect(new Set(result.packages.map((p) => `${p.name}@${p.version}`))).toEqual(want.packages);

    // The header cut in two by a chunk boundary, at a few places.
    const bytes = new Uint8Array(readFileSync(bin));
    const magic = Buffer.from('\xff Go buildinf:', 'latin1');
    let at = -1;
    for (
      let i = Buffer.from(bytes).indexOf(magic);
      i >= 0;
      i = Buffer.from(bytes).indexOf(magic, i + 1)
    )
      if (i % 16 === 0) at = i;
    expect(at).toBeGreaterThan(0);
    for (const cut of [1, 7, 13, 20, 40]) {
      const scan = goCataloger.scan!({ path: 'hello-bin', size: bytes.length, mode: 0o755 });
      let more = scan.push(bytes.slice(0, at + cut));
      for (let i = at + cut; more && i < bytes.length; i += 4096)
        more = scan.push(bytes.slice(i, i + 4096));
      const cutResult = await scan.finish();
      expect(cutResult.packages.map((p) => p.name).sort(), `cut at header + ${cut}`).toEqual(
        result.packages.map((p) => p.name).sort(),
      );
    }
  });
});
