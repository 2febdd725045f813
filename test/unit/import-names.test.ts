// Which names imported images get: what the archive claims, when it is a reference, and
// otherwise a name under localhost/imported that cannot be mistaken for a registry's image.
import { describe, expect, test } from 'vitest';
import { dockerImageNames, namesRepository, ociImageName } from '../../src/lib/import/names.ts';

const digest = `sha256:${'0123456789ab'.repeat(5)}cdef`;
const entry = (annotations?: Record<string, string>) => ({
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest,
  size: 1,
  ...(annotations ? { annotations } : {}),
});

describe('ociImageName', () => {
  const containerd = 'io.containerd.image.name';
  const refName = 'org.opencontainers.image.ref.name';
  const cases: [string, Record<string, string> | undefined, string][] = [
    ['no annotations', undefined, 'localhost/imported:0123456789ab'],
    [
      "containerd's name wins",
      { [containerd]: 'docker.io/library/alpine:3.20', [refName]: '3.20' },
      'docker.io/library/alpine:3.20',
    ],
    [
      "containerd's name normalised",
      { [containerd]: 'alpine:3.20' },
      'docker.io/library/alpine:3.20',
    ],
    [
      'a digest reference (what Berth exports for one)',
      { [containerd]: `127.0.0.1:5000/a/b@${digest}` },
      `127.0.0.1:5000/a/b@${digest}`,
    ],
    ['a bare tag is not a repository', { [refName]: '3.20' }, 'localhost/imported:3.20'],
    ['latest', { [refName]: 'latest' }, 'localhost/imported:latest'],
    [
      "skopeo's oci-archive:F:name",
      { [refName]: 'example.com/team/app:v3' },
      'example.com/team/app:v3',
    ],
    ['a familiar name', { [refName]: 'team/app:v3' }, 'docker.io/team/app:v3'],
    [
      'an unparseable containerd name falls through',
      { [containerd]: 'Not A Ref', [refName]: 'v1' },
      'localhost/imported:v1',
    ],
    ['a ref.name that is neither', { [refName]: 'a b' }, 'localhost/imported:0123456789ab'],
    ['an invalid reference', { [refName]: 'UPPER/case:1' }, 'localhost/imported:0123456789ab'],
  ];
  for (const [name, annotations, want] of cases) {
    test(name, () => {
      expect(ociImageName(entry(annotations)), `ociImageName(${JSON.stringify(annotations)})`).toBe(
        want,
      );
    });
  }
});

test('namesRepository', () => {
  for (const [s, want] of [
    ['v1', false],
    ['3.20', false],
    ['a/b', true],
    ['alpine:3', true],
    [`a@${digest}`, true],
  ] as const) {
    expect(namesRepository(s), `namesRepository(${s})`).toBe(want);
  }
});

describe('dockerImageNames', () => {
  test('RepoTags normalised, duplicates once', () => {
    expect(
      dockerImageNames(['alpine:3.20', 'docker.io/library/alpine:3.20', 'a.io/b:c'], digest),
    ).toEqual({
      names: ['docker.io/library/alpine:3.20', 'a.io/b:c'],
    });
  });
  test('untagged: the image ID', () => {
    expect(dockerImageNames([], digest)).toEqual({ names: ['localhost/imported:0123456789ab'] });
  });
  test('an invalid tag is reported', () => {
    expect(dockerImageNames(['ok:1', 'Bad:Tag'], digest).invalid).toBe('Bad:Tag');
  });
});
