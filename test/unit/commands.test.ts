// The command lines of every view: the quoter, checked by a real shell reading back what it
// wrote, and each builder's text against the tools' documented syntax (crane, regctl, docker
// and oras are not installed here; skopeo is run by the integration test).
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  compareCommands,
  fileCommands,
  imageCommands,
  layerCommands,
  mergedCommands,
  type Command,
  type ImageTarget,
} from '../../src/lib/commands/commands.ts';
import { shellJoin, shellQuote } from '../../src/lib/commands/quote.ts';
import { parseReference } from '../../src/lib/reference/reference.ts';

const digestA = 'sha256:' + 'a'.repeat(64);
const digestB = 'sha256:' + 'b'.repeat(64);
const digestL = 'sha256:' + 'c'.repeat(64);
const digestI = 'sha256:' + 'd'.repeat(64);

/** What a POSIX shell makes of `printf '%s' <quoted>`: the bytes of the one argument. */
function readBack(shell: string, quoted: string): Buffer {
  const r = spawnSync(shell, ['-c', `printf '%s' ${quoted}`]);
  if (r.status !== 0) throw new Error(`${shell} failed on ${quoted}: ${r.stderr.toString()}`);
  return r.stdout;
}

describe('shellQuote', () => {
  const cases: [string, string][] = [
    ['alpine:3.20', 'alpine:3.20'],
    ['docker://127.0.0.1:5000/a/b@sha256:00', 'docker://127.0.0.1:5000/a/b@sha256:00'],
    ['', "''"],
    ['a b', "'a b'"],
    ["it's", "'it'\\''s'"],
    ['$HOME', "'$HOME'"],
    ['`id`', "'`id`'"],
    ['a\nb', "'a\nb'"],
    ['~root', "'~root'"],
    ['=ls', "'=ls'"],
    ['*.so', "'*.so'"],
    ['-rf', '-rf'],
  ];
  test.each(cases)('shellQuote(%j) = %j', (input, want) => {
    expect(shellQuote(input), `shellQuote(${JSON.stringify(input)})`).toBe(want);
  });

  test('refuses NUL, which no argument can hold', () => {
    expect(() => shellQuote('a\0b')).toThrow(RangeError);
  });

  // Strings built from the characters that break naive quoting, and any code point but NUL.
  const nasty = fc.constantFrom(
    "'",
    '"',
    '\\',
    '$',
    '`',
    '!',
    '*',
    '?',
    '[',
    '~',
    '=',
    '-',
    ' ',
    '\t',
    '\n',
    '\r',
    '\x1b',
    '\x7f',
    ';',
    '&',
    '|',
    '(',
    '#',
    '%',
    '\u202e',
    'é',
    '\u{1f600}',
  );
  // Plain characters too, so that the words left unquoted are tried next to the others.
  const plainChar = fc.constantFrom('a', 'Z', '0', '_', '.', '/', ':', '@', '+', ',');
  const arg = fc
    .array(fc.oneof(nasty, plainChar, plainChar, fc.string({ unit: 'grapheme', maxLength: 3 })), {
      maxLength: 12,
    })
    .map((parts) => parts.join('').replaceAll('\0', ''));
  // Short ASCII words over every character the shell gives a meaning, and the plain ones.
  const ascii = fc.string({
    unit: fc.constantFrom(...'aZ0_.:/@+,%=-$`\'"\\!*?[]{}()<>|&;#~^ \t\n'),
    maxLength: 6,
  });

  for (const shell of ['bash', 'sh']) {
    test(`${shell} reads back exactly the bytes quoted`, () => {
      fc.assert(
        fc.property(fc.oneof(arg, ascii), (s) => {
          const got = readBack(shell, shellQuote(s));
          expect(got.equals(Buffer.from(s, 'utf8')), `${shell}: ${JSON.stringify(s)}`).toBe(true);
        }),
        { numRuns: 200 },
      );
      // One shell per string: slow on a busy machine, and not a timing under test.
    }, 60_000);
  }

  test('shellJoin keeps each argument one word', () => {
    const args = ['a b', "c'd", '', '-e', '$f'];
    const r = spawnSync('bash', ['-c', `printf '<%s>' ${shellJoin(args)}`]);
    expect(r.stdout.toString()).toBe(args.map((a) => `<${a}>`).join(''));
  });
});

const hub = (over: Partial<ImageTarget> = {}): ImageTarget => ({
  ref: parseReference('alpine:3.20'),
  manifestDigest: digestA,
  insecure: false,
  ...over,
});

const local = (over: Partial<ImageTarget> = {}): ImageTarget => ({
  ref: parseReference('127.0.0.1:5000/team/app:v1'),
  manifestDigest: digestA,
  insecure: true,
  ...over,
});

const arm64 = { os: 'linux', architecture: 'arm64', variant: 'v8' };

/** The commands as "tool: title" lines, for a table to read. */
function texts(cmds: Command[]): Record<string, string> {
  return Object.fromEntries(cmds.map((c) => [`${c.tool}: ${c.title}`, c.text]));
}

describe('imageCommands', () => {
  test('a Docker Hub image pinned to its manifest digest', () => {
    const got = texts(imageCommands(hub(), { pinned: true }));
    const at = `docker.io/library/alpine@${digestA}`;
    expect(got).toEqual({
      'crane: Manifest': `crane manifest ${at}`,
      'crane: Config': `crane config ${at}`,
      'crane: Pull as an OCI layout': `crane pull --format=oci ${at} alpine_3.20`,
      'skopeo: Inspect': `skopeo inspect docker://${at}`,
      'skopeo: Raw manifest': `skopeo inspect --raw docker://${at}`,
      'skopeo: Config': `skopeo inspect --config docker://${at}`,
      'skopeo: Download as an OCI archive': `skopeo copy docker://${at} oci-archive:alpine_3.20.tar:3.20`,
      'regctl: Manifest': `regctl manifest get ${at}`,
      'regctl: Config': `regctl image inspect ${at}`,
      'docker: Pull': `docker pull alpine@${digestA}`,
      'podman: Pull': `podman pull ${at}`,
      'oras: Manifest': `oras manifest fetch ${at}`,
      'oras: Config': `oras manifest fetch-config ${at}`,
    });
  });

  test("not pinned, an index: the tag and each tool's platform flags", () => {
    const got = texts(imageCommands(hub({ platform: arm64 }), { pinned: false }));
    const tag = 'docker.io/library/alpine:3.20';
    expect(got['crane: Config']).toBe(`crane --platform linux/arm64/v8 config ${tag}`);
    expect(got['skopeo: Config']).toBe(
      `skopeo --override-os linux --override-arch arm64 --override-variant v8 inspect --config docker://${tag}`,
    );
    // --raw ignores the overrides: it shows the index the tag names.
    expect(got['skopeo: Raw index']).toBe(`skopeo inspect --raw docker://${tag}`);
    expect(got['regctl: Config']).toBe(`regctl image inspect --platform linux/arm64/v8 ${tag}`);
    expect(got['docker: Pull']).toBe('docker pull --platform linux/arm64/v8 alpine:3.20');
    expect(got['podman: Pull']).toBe(`podman pull --platform linux/arm64/v8 ${tag}`);
    expect(got['oras: Manifest']).toBe(`oras manifest fetch --platform linux/arm64/v8 ${tag}`);
  });

  test('pinned, an index: the platform manifest needs no platform flags', () => {
    const got = texts(imageCommands(hub({ platform: arm64 }), { pinned: true }));
    for (const text of Object.values(got)) expect(text).not.toMatch(/platform|override/);
  });

  test("a plain-http registry: each tool's own insecure spelling", () => {
    const got = texts(imageCommands(local(), { pinned: false }));
    const tag = '127.0.0.1:5000/team/app:v1';
    expect(got['crane: Manifest']).toBe(`crane --insecure manifest ${tag}`);
    expect(got['skopeo: Inspect']).toBe(`skopeo inspect --tls-verify=false docker://${tag}`);
    expect(got['skopeo: Download as an OCI archive']).toBe(
      `skopeo copy --src-tls-verify=false docker://${tag} oci-archive:app_v1.tar:v1`,
    );
    expect(got['regctl: Manifest']).toBe(
      `regctl registry set 127.0.0.1:5000 --tls disabled\nregctl manifest get ${tag}`,
    );
    // docker reaches loopback registries over http by itself.
    expect(got['docker: Pull']).toBe(`docker pull ${tag}`);
    expect(got['podman: Pull']).toBe(`podman pull --tls-verify=false ${tag}`);
    expect(got['oras: Config']).toBe(`oras manifest fetch-config --plain-http ${tag}`);
  });

  test('docker is told about a plain-http registry that is not loopback', () => {
    const t = local({ ref: parseReference('registry.lan:5000/app:v1') });
    const got = texts(imageCommands(t, { pinned: false }));
    expect(got['docker: Pull']).toBe(
      '# registry.lan:5000 needs "insecure-registries": ["registry.lan:5000"] in /etc/docker/daemon.json\n' +
        'docker pull registry.lan:5000/app:v1',
    );
  });

  test('a reference typed by digest keeps it when not pinned', () => {
    const t = hub({ ref: parseReference(`alpine@${digestI}`), platform: arm64 });
    const got = texts(imageCommands(t, { pinned: false }));
    expect(got['crane: Manifest']).toBe(
      `crane --platform linux/arm64/v8 manifest docker.io/library/alpine@${digestI}`,
    );
    expect(got['skopeo: Download as an OCI archive']).toMatch(
      / oci-archive:alpine_dddddddddddd\.tar$/,
    );
  });
});

describe('layerCommands', () => {
  const cases: [string, string, string][] = [
    ['gzip', 'application/vnd.oci.image.layer.v1.tar+gzip', 'tar -tvz -f -'],
    ['docker gzip', 'application/vnd.docker.image.rootfs.diff.tar.gzip', 'tar -tvz -f -'],
    ['zstd', 'application/vnd.oci.image.layer.v1.tar+zstd', 'zstd -dc | tar -tv -f -'],
    ['none', 'application/vnd.oci.image.layer.v1.tar', 'tar -tv -f -'],
  ];
  test.each(cases)('%s: each tool lists the blob', (_, mediaType, untar) => {
    const got = texts(layerCommands(hub(), { digest: digestL, mediaType }));
    expect(got).toEqual({
      'crane: List the layer': `crane blob docker.io/library/alpine@${digestL} | ${untar}`,
      'regctl: List the layer': `regctl blob get docker.io/library/alpine ${digestL} | ${untar}`,
      'oras: List the layer': `oras blob fetch --output - docker.io/library/alpine@${digestL} | ${untar}`,
    });
  });

  test('skopeo has no blob fetch, so no layer command', () => {
    const tools = layerCommands(local(), { digest: digestL, mediaType: 'x+gzip' }).map(
      (c) => c.tool,
    );
    expect(tools).not.toContain('skopeo');
  });

  test('plain http', () => {
    const got = texts(
      layerCommands(local(), {
        digest: digestL,
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      }),
    );
    expect(got['crane: List the layer']).toMatch(/^crane --insecure blob /);
    expect(got['oras: List the layer']).toMatch(/^oras blob fetch --plain-http --output - /);
    expect(got['regctl: List the layer']).toMatch(
      /^regctl registry set 127\.0\.0\.1:5000 --tls disabled\nregctl blob get /,
    );
  });
});

describe('mergedCommands', () => {
  test('an export listed by crane, and through a container', () => {
    const got = texts(mergedCommands(local({ platform: arm64 }), { pinned: false }));
    const tag = '127.0.0.1:5000/team/app:v1';
    const p = '--platform linux/arm64/v8';
    expect(got).toEqual({
      'crane: List the merged filesystem': `crane --insecure ${p} export ${tag} - | tar -tv -f -`,
      'docker: List the merged filesystem': `id=$(docker create ${p} ${tag} true) && docker export "$id" | tar -tv -f -; docker rm "$id"`,
      'podman: List the merged filesystem': `id=$(podman create --tls-verify=false ${p} ${tag} true) && podman export "$id" | tar -tv -f -; podman rm "$id"`,
    });
  });
});

describe('fileCommands', () => {
  const layer = { digest: digestL, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' };

  test('a plain path: the layer copy, the merged copy, and through a container', () => {
    const got = texts(fileCommands(hub(), { path: '/etc/os-release', layer }, { pinned: true }));
    const at = `docker.io/library/alpine@${digestA}`;
    expect(got).toEqual({
      "crane: This layer's copy": `crane blob docker.io/library/alpine@${digestL} | tar -xOz -f - -- etc/os-release`,
      "regctl: This layer's copy": `regctl blob get docker.io/library/alpine ${digestL} | tar -xOz -f - -- etc/os-release`,
      "oras: This layer's copy": `oras blob fetch --output - docker.io/library/alpine@${digestL} | tar -xOz -f - -- etc/os-release`,
      'crane: Merged filesystem': `crane export ${at} - | tar -xO -f - -- etc/os-release`,
      'docker: Merged filesystem': `id=$(docker create alpine@${digestA} true) && docker cp "$id":/etc/os-release - | tar -xO -f -; docker rm "$id"`,
      'podman: Merged filesystem': `id=$(podman create ${at} true) && podman cp "$id":/etc/os-release - | tar -xO -f -; podman rm "$id"`,
    });
  });

  test('a hostile path stays one quoted argument, after --', () => {
    const path = "-rf $(rm x)/it's\n`a`";
    const got = texts(fileCommands(local(), { path, layer }, { pinned: false }));
    const q = `'-rf $(rm x)/it'\\''s\n\`a\`'`;
    expect(got['crane: Merged filesystem']).toBe(
      `crane --insecure export 127.0.0.1:5000/team/app:v1 - | tar -xO -f - -- ${q}`,
    );
    expect(got['podman: Merged filesystem']).toContain(
      `podman cp "$id":'/-rf $(rm x)/it'\\''s\n\`a\`' -`,
    );
  });

  test('lines: a setup line is one, a newline in a quoted name is not', () => {
    const cmds = fileCommands(local(), { path: 'a\nb', layer }, { pinned: false });
    const regctl = cmds.find((c) => c.tool === 'regctl')!;
    expect(regctl.lines).toHaveLength(2);
    expect(regctl.lines[0]).toBe('regctl registry set 127.0.0.1:5000 --tls disabled');
    expect(regctl.lines[1]).toContain("-- 'a\nb'");
    expect(regctl.text).toBe(regctl.lines.join('\n'));
    for (const c of cmds.filter((c) => c.tool !== 'regctl')) {
      expect(c.lines, `${c.tool}: ${c.title}`).toEqual([c.text]);
    }
  });

  test('without its layer only the merged commands', () => {
    const got = fileCommands(hub(), { path: 'a' }, { pinned: true }).map((c) => c.title);
    expect(new Set(got)).toEqual(new Set(['Merged filesystem']));
  });

  test('an index not pinned: platform flags on export and create', () => {
    const got = texts(
      fileCommands(hub({ platform: arm64 }), { path: 'a', layer }, { pinned: false }),
    );
    expect(got['crane: Merged filesystem']).toMatch(/^crane --platform linux\/arm64\/v8 export /);
    expect(got['docker: Merged filesystem']).toContain(
      'docker create --platform linux/arm64/v8 alpine:3.20',
    );
  });
});

describe('compareCommands', () => {
  test('configs and manifests of both, side by side', () => {
    const a = hub();
    const b = { ...local({ manifestDigest: digestB }), configDigest: digestI };
    const got = texts(compareCommands({ ...a, configDigest: digestL }, b, { pinned: true }));
    const atA = `docker.io/library/alpine@${digestA}`;
    const atB = `127.0.0.1:5000/team/app@${digestB}`;
    expect(got).toEqual({
      'crane: Configs': `diff <(crane config ${atA} | jq -S .) <(crane --insecure config ${atB} | jq -S .)`,
      'crane: Manifests': `diff <(crane manifest ${atA} | jq -S .) <(crane --insecure manifest ${atB} | jq -S .)`,
      'skopeo: Configs': `diff <(skopeo inspect --config docker://${atA} | jq -S .) <(skopeo inspect --config --tls-verify=false docker://${atB} | jq -S .)`,
      'skopeo: Inspect': `diff <(skopeo inspect docker://${atA} | jq -S .) <(skopeo inspect --tls-verify=false docker://${atB} | jq -S .)`,
      'regctl: Manifests': `regctl registry set 127.0.0.1:5000 --tls disabled\nregctl manifest diff ${atA} ${atB}`,
      'regctl: Configs': `regctl registry set 127.0.0.1:5000 --tls disabled\nregctl blob diff-config docker.io/library/alpine ${digestL} 127.0.0.1:5000/team/app ${digestI}`,
    });
  });

  test('regctl manifest diff takes no platform, so an unpinned index leaves it out', () => {
    const got = compareCommands(hub({ platform: arm64 }), local(), { pinned: false });
    expect(got.map((c) => `${c.tool}: ${c.title}`)).not.toContain('regctl: Manifests');
    expect(texts(got)['crane: Configs']).toContain('crane --platform linux/arm64/v8 config');
  });
});
