import { describe, expect, test } from 'vitest';
import {
  formatPlatformChoice,
  parsePlatformChoice,
  InvalidPlatformError,
  NoMatchingPlatformError,
  defaultPlatform,
  formatPlatform,
  isAttestation,
  normalizePlatform,
  parsePlatform,
  platformMatches,
  selectManifest,
  selectablePlatforms,
} from '../../src/lib/oci/platform.ts';
import { MediaType } from '../../src/lib/oci/mediatypes.ts';
import type { Descriptor, Index, Platform } from '../../src/lib/oci/types.ts';

const show = (p: Platform) => JSON.stringify(p);

function p(os: string, architecture: string, variant?: string, osVersion?: string): Platform {
  const out: Platform = { os, architecture };
  if (variant !== undefined) out.variant = variant;
  if (osVersion !== undefined) out['os.version'] = osVersion;
  return out;
}

let n = 0;
function desc(platform?: Platform, annotations?: Record<string, string>): Descriptor {
  n++;
  const d: Descriptor = {
    mediaType: MediaType.OciManifest,
    digest: 'sha256:' + n.toString(16).padStart(64, '0'),
    size: 1000 + n,
  };
  if (platform) d.platform = platform;
  if (annotations) d.annotations = annotations;
  return d;
}

function index(...manifests: Descriptor[]): Index {
  return { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests };
}

function attestationFor(of: Descriptor): Descriptor {
  return desc(p('unknown', 'unknown'), {
    'vnd.docker.reference.type': 'attestation-manifest',
    'vnd.docker.reference.digest': of.digest,
  });
}

describe('parsePlatform', () => {
  const cases: { input: string; want: Platform }[] = [
    { input: 'linux/amd64', want: p('linux', 'amd64') },
    { input: 'linux/arm64/v8', want: p('linux', 'arm64', 'v8') },
    { input: 'linux/arm64', want: p('linux', 'arm64') },
    { input: 'linux/arm/v7', want: p('linux', 'arm', 'v7') },
    { input: 'linux/arm/v6', want: p('linux', 'arm', 'v6') },
    { input: 'linux/arm', want: p('linux', 'arm') },
    { input: 'linux/armel', want: p('linux', 'arm', 'v6') },
    { input: 'linux/armhf', want: p('linux', 'arm') },
    { input: 'linux/x86_64', want: p('linux', 'amd64') },
    { input: 'linux/amd64/v1', want: p('linux', 'amd64') },
    { input: 'linux/amd64/v3', want: p('linux', 'amd64', 'v3') },
    { input: 'linux/aarch64', want: p('linux', 'arm64') },
    { input: 'linux/i386', want: p('linux', '386') },
    { input: 'Linux/AMD64', want: p('linux', 'amd64') },
    { input: 'macos/arm64', want: p('darwin', 'arm64') },
    { input: 'linux/s390x', want: p('linux', 's390x') },
    { input: 'linux/riscv64', want: p('linux', 'riscv64') },
    { input: ' linux/ppc64le ', want: p('linux', 'ppc64le') },
    { input: 'windows/amd64', want: p('windows', 'amd64') },
    {
      input: 'windows(10.0.17763)/amd64',
      want: p('windows', 'amd64', undefined, '10.0.17763'),
    },
    {
      input: 'windows/amd64 (10.0.20348.2113)',
      want: p('windows', 'amd64', undefined, '10.0.20348.2113'),
    },
  ];
  test.each(cases)('$input', ({ input, want }) => {
    const got = parsePlatform(input);
    expect(got, `parsePlatform(${input}) = ${show(got)}, want ${show(want)}`).toEqual(want);
  });

  const bad: { input: string; why: string }[] = [
    { input: '', why: 'empty' },
    { input: 'linux', why: 'needs an OS and an architecture, e.g. linux/linux' },
    { input: 'arm64', why: 'e.g. linux/arm64' },
    { input: 'linux/', why: 'architecture is empty' },
    { input: '/amd64', why: 'OS is empty' },
    { input: 'linux/arm64/', why: 'variant is empty' },
    { input: 'linux/arm/v7/x', why: 'more than three parts' },
    { input: 'linux/amd 64', why: 'whitespace' },
    { input: 'linux/*', why: 'may contain only' },
    { input: 'windows(1)/amd64 (2)', why: 'OS version twice' },
  ];
  test.each(bad)('rejects $input', ({ input, why }) => {
    let err: unknown;
    try {
      const got = parsePlatform(input);
      expect.fail(`parsePlatform(${JSON.stringify(input)}) = ${show(got)}, want error`);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidPlatformError);
    expect((err as Error).message, `parsePlatform(${JSON.stringify(input)}) error`).toContain(why);
  });
});

describe('formatPlatform', () => {
  const cases: { name: string; input: Platform; want: string }[] = [
    { name: 'os/arch', input: p('linux', 'amd64'), want: 'linux/amd64' },
    { name: 'variant', input: p('linux', 'arm64', 'v8'), want: 'linux/arm64/v8' },
    {
      name: 'windows version',
      input: p('windows', 'amd64', undefined, '10.0.20348.2113'),
      want: 'windows/amd64 (10.0.20348.2113)',
    },
    { name: 'windows without version', input: p('windows', 'amd64'), want: 'windows/amd64' },
    {
      name: 'os.version only shown for windows',
      input: p('linux', 'amd64', undefined, '6.1'),
      want: 'linux/amd64',
    },
    { name: 'attestation', input: p('unknown', 'unknown'), want: 'unknown/unknown' },
  ];
  test.each(cases)('$name', ({ input, want }) => {
    const got = formatPlatform(input);
    expect(got, `formatPlatform(${show(input)}) = ${got}, want ${want}`).toBe(want);
  });

  test.each(cases.filter((c) => c.input.os !== 'linux' || !c.input['os.version']))(
    'round-trips $name',
    ({ input }) => {
      const s = formatPlatform(input);
      expect(parsePlatform(s), `parsePlatform(${s})`).toEqual(input);
    },
  );
});

describe('normalizePlatform', () => {
  const cases: { input: Platform; want: Platform }[] = [
    { input: p('linux', 'x86_64'), want: p('linux', 'amd64') },
    { input: p('linux', 'x86-64'), want: p('linux', 'amd64') },
    { input: p('linux', 'amd64', 'v1'), want: p('linux', 'amd64') },
    { input: p('linux', 'amd64', 'v2'), want: p('linux', 'amd64', 'v2') },
    { input: p('linux', 'aarch64'), want: p('linux', 'arm64') },
    { input: p('linux', 'arm64', 'v8'), want: p('linux', 'arm64') },
    { input: p('linux', 'arm64', '8'), want: p('linux', 'arm64') },
    { input: p('linux', 'arm64', 'v8.2'), want: p('linux', 'arm64', 'v8.2') },
    { input: p('linux', 'arm64', '9.0'), want: p('linux', 'arm64', 'v9') },
    { input: p('linux', 'armhf'), want: p('linux', 'arm', 'v7') },
    { input: p('linux', 'armel'), want: p('linux', 'arm', 'v6') },
    { input: p('linux', 'arm'), want: p('linux', 'arm', 'v7') },
    { input: p('linux', 'arm', '7'), want: p('linux', 'arm', 'v7') },
    { input: p('linux', 'arm', '5'), want: p('linux', 'arm', 'v5') },
    { input: p('linux', 'i386', 'whatever'), want: p('linux', '386') },
    { input: p('Linux', 'AMD64'), want: p('linux', 'amd64') },
    { input: p('MacOS', 'arm64'), want: p('darwin', 'arm64') },
    {
      input: p('windows', 'amd64', undefined, '10.0.20348.2113'),
      want: p('windows', 'amd64', undefined, '10.0.20348.2113'),
    },
    {
      input: { ...p('windows', 'amd64'), 'os.features': ['win32k', 'a', 'win32k'] },
      want: { ...p('windows', 'amd64'), 'os.features': ['a', 'win32k'] },
    },
  ];
  test.each(cases)('$input.os/$input.architecture/$input.variant', ({ input, want }) => {
    const before = show(input);
    const got = normalizePlatform(input);
    expect(got, `normalizePlatform(${before}) = ${show(got)}, want ${show(want)}`).toEqual(want);
    expect(show(input), 'normalizePlatform modified its argument').toBe(before);
  });
});

describe('platformMatches', () => {
  const cases: { name: string; want: Platform; have: Platform; match: boolean }[] = [
    { name: 'same', want: p('linux', 'amd64'), have: p('linux', 'amd64'), match: true },
    { name: 'alias', want: p('linux', 'x86_64'), have: p('linux', 'amd64'), match: true },
    { name: 'other os', want: p('linux', 'amd64'), have: p('windows', 'amd64'), match: false },
    { name: 'other arch', want: p('linux', 'amd64'), have: p('linux', 'arm64'), match: false },
    {
      name: 'arm64 = arm64/v8',
      want: p('linux', 'arm64'),
      have: p('linux', 'arm64', 'v8'),
      match: true,
    },
    {
      name: 'arm64/v8 = arm64',
      want: p('linux', 'arm64', 'v8'),
      have: p('linux', 'arm64'),
      match: true,
    },
    {
      name: 'amd64/v3 takes v3',
      want: p('linux', 'amd64', 'v3'),
      have: p('linux', 'amd64', 'v3'),
      match: true,
    },
    {
      name: 'amd64/v3 takes v2',
      want: p('linux', 'amd64', 'v3'),
      have: p('linux', 'amd64', 'v2'),
      match: true,
    },
    {
      name: 'amd64/v3 takes v1',
      want: p('linux', 'amd64', 'v3'),
      have: p('linux', 'amd64', 'v1'),
      match: true,
    },
    {
      name: 'amd64/v3 takes plain',
      want: p('linux', 'amd64', 'v3'),
      have: p('linux', 'amd64'),
      match: true,
    },
    {
      name: 'amd64/v2 refuses v3',
      want: p('linux', 'amd64', 'v2'),
      have: p('linux', 'amd64', 'v3'),
      match: false,
    },
    {
      name: 'amd64 refuses v2',
      want: p('linux', 'amd64'),
      have: p('linux', 'amd64', 'v2'),
      match: false,
    },
    {
      name: 'amd64 does not fall back to 386',
      want: p('linux', 'amd64'),
      have: p('linux', '386'),
      match: false,
    },
    {
      name: 'arm/v7 takes v6',
      want: p('linux', 'arm', 'v7'),
      have: p('linux', 'arm', 'v6'),
      match: true,
    },
    {
      name: 'arm/v7 takes v5',
      want: p('linux', 'arm', 'v7'),
      have: p('linux', 'arm', 'v5'),
      match: true,
    },
    {
      name: 'arm takes v7 (default)',
      want: p('linux', 'arm'),
      have: p('linux', 'arm', 'v7'),
      match: true,
    },
    { name: 'arm takes armel', want: p('linux', 'arm'), have: p('linux', 'armel'), match: true },
    {
      name: 'arm/v6 refuses v7',
      want: p('linux', 'arm', 'v6'),
      have: p('linux', 'arm', 'v7'),
      match: false,
    },
    {
      name: 'arm/v8 takes v7',
      want: p('linux', 'arm', 'v8'),
      have: p('linux', 'arm', 'v7'),
      match: true,
    },
    {
      name: 'arm64 does not fall back to arm',
      want: p('linux', 'arm64'),
      have: p('linux', 'arm', 'v7'),
      match: false,
    },
    {
      name: 'arm64/v8.2 takes v8.1',
      want: p('linux', 'arm64', 'v8.2'),
      have: p('linux', 'arm64', 'v8.1'),
      match: true,
    },
    {
      name: 'arm64/v8.2 takes v8',
      want: p('linux', 'arm64', 'v8.2'),
      have: p('linux', 'arm64'),
      match: true,
    },
    {
      name: 'arm64 refuses v8.1',
      want: p('linux', 'arm64'),
      have: p('linux', 'arm64', 'v8.1'),
      match: false,
    },
    {
      name: 'arm64/v9 takes v8.5',
      want: p('linux', 'arm64', 'v9'),
      have: p('linux', 'arm64', 'v8.5'),
      match: true,
    },
    {
      name: 'arm64/v9 takes v8',
      want: p('linux', 'arm64', 'v9'),
      have: p('linux', 'arm64', 'v8'),
      match: true,
    },
    {
      name: 'arm64/v9 refuses v8.6',
      want: p('linux', 'arm64', 'v9'),
      have: p('linux', 'arm64', 'v8.6'),
      match: false,
    },
    {
      name: 'arm64/v9.1 takes v9',
      want: p('linux', 'arm64', 'v9.1'),
      have: p('linux', 'arm64', 'v9'),
      match: true,
    },
    { name: 'macos is darwin', want: p('macos', 'arm64'), have: p('darwin', 'arm64'), match: true },
    {
      name: 'windows without version takes any build',
      want: p('windows', 'amd64'),
      have: p('windows', 'amd64', undefined, '10.0.20348.2113'),
      match: true,
    },
    {
      name: 'windows same build, other revision',
      want: p('windows', 'amd64', undefined, '10.0.20348.1'),
      have: p('windows', 'amd64', undefined, '10.0.20348.2113'),
      match: true,
    },
    {
      name: 'windows other build',
      want: p('windows', 'amd64', undefined, '10.0.20348'),
      have: p('windows', 'amd64', undefined, '10.0.17763.5122'),
      match: false,
    },
    {
      name: 'linux ignores os.version',
      want: p('linux', 'amd64', undefined, '1'),
      have: p('linux', 'amd64'),
      match: true,
    },
  ];
  test.each(cases)('$name', ({ want, have, match }) => {
    const got = platformMatches(want, have);
    expect(got, `platformMatches(${show(want)}, ${show(have)}) = ${got}, want ${match}`).toBe(
      match,
    );
  });
});

describe('isAttestation', () => {
  const img = desc(p('linux', 'amd64'));
  const cases: { name: string; d: Descriptor; want: boolean }[] = [
    { name: 'image', d: img, want: false },
    { name: 'buildkit attestation', d: attestationFor(img), want: true },
    { name: 'unknown/unknown without annotation', d: desc(p('unknown', 'unknown')), want: true },
    {
      name: 'annotation alone',
      d: desc(p('linux', 'amd64'), { 'vnd.docker.reference.type': 'attestation-manifest' }),
      want: true,
    },
    { name: 'no platform', d: desc(), want: false },
    { name: 'unknown os only', d: desc(p('unknown', 'amd64')), want: false },
  ];
  test.each(cases)('$name', ({ d, want }) => {
    const got = isAttestation(d);
    expect(got, `isAttestation(${JSON.stringify(d)}) = ${got}, want ${want}`).toBe(want);
  });
});

describe('selectablePlatforms', () => {
  test('distinct, in index order, attestations and platformless entries left out', () => {
    const amd = desc(p('linux', 'amd64'));
    const arm = desc(p('linux', 'arm64', 'v8'));
    const idx = index(
      amd,
      arm,
      attestationFor(amd),
      desc(p('linux', 'amd64')),
      desc(),
      desc(p('linux', 'arm', 'v7')),
      attestationFor(arm),
      desc(p('windows', 'amd64', undefined, '10.0.17763.1')),
      desc(p('windows', 'amd64', undefined, '10.0.20348.1')),
    );
    const got = selectablePlatforms(idx).map(formatPlatform);
    const want = [
      'linux/amd64',
      'linux/arm64/v8',
      'linux/arm/v7',
      'windows/amd64 (10.0.17763.1)',
      'windows/amd64 (10.0.20348.1)',
    ];
    expect(got, `selectablePlatforms = ${got.join(', ')}, want ${want.join(', ')}`).toEqual(want);
  });

  test('empty index', () => {
    expect(selectablePlatforms(index())).toEqual([]);
  });
});

describe('defaultPlatform', () => {
  const cases: { name: string; input: Platform[]; want: Platform | undefined }[] = [
    { name: 'none', input: [], want: undefined },
    {
      name: 'linux/amd64 wins',
      input: [p('linux', 'arm64', 'v8'), p('linux', 'amd64')],
      want: p('linux', 'amd64'),
    },
    {
      name: 'amd64/v1 is linux/amd64',
      input: [p('linux', 'arm64'), p('linux', 'amd64', 'v1')],
      want: p('linux', 'amd64', 'v1'),
    },
    {
      name: 'else the first',
      input: [p('linux', 'arm64', 'v8'), p('linux', 's390x')],
      want: p('linux', 'arm64', 'v8'),
    },
    {
      name: 'windows/amd64 is not linux/amd64',
      input: [p('windows', 'amd64'), p('linux', 'arm64')],
      want: p('windows', 'amd64'),
    },
  ];
  test.each(cases)('$name', ({ input, want }) => {
    const got = defaultPlatform(input);
    expect(got, `defaultPlatform(${JSON.stringify(input)}) = ${JSON.stringify(got)}`).toEqual(want);
  });
});

describe('selectManifest', () => {
  const amd64 = desc(p('linux', 'amd64'));
  const amd64v2 = desc(p('linux', 'amd64', 'v2'));
  const amd64v3 = desc(p('linux', 'amd64', 'v3'));
  const arm64 = desc(p('linux', 'arm64', 'v8'));
  const armv6 = desc(p('linux', 'arm', 'v6'));
  const armv7 = desc(p('linux', 'arm', 'v7'));
  const ws2019 = desc(p('windows', 'amd64', undefined, '10.0.17763.5122'));
  const ws2022 = desc(p('windows', 'amd64', undefined, '10.0.20348.2113'));
  const att = attestationFor(amd64);

  const cases: { name: string; idx: Index; want: Platform; pick: Descriptor }[] = [
    { name: 'exact', idx: index(arm64, amd64, att), want: p('linux', 'amd64'), pick: amd64 },
    {
      name: 'arm64 finds arm64/v8',
      idx: index(amd64, arm64),
      want: p('linux', 'arm64'),
      pick: arm64,
    },
    { name: 'alias', idx: index(arm64, amd64), want: p('linux', 'aarch64'), pick: arm64 },
    {
      name: 'exact variant before compatible, whatever the order',
      idx: index(amd64, amd64v2, amd64v3),
      want: p('linux', 'amd64', 'v3'),
      pick: amd64v3,
    },
    {
      name: 'best compatible variant',
      idx: index(amd64, amd64v2),
      want: p('linux', 'amd64', 'v3'),
      pick: amd64v2,
    },
    {
      name: 'plain amd64 ignores v2',
      idx: index(amd64v2, amd64),
      want: p('linux', 'amd64'),
      pick: amd64,
    },
    {
      name: 'arm/v7 prefers v7',
      idx: index(armv6, armv7),
      want: p('linux', 'arm', 'v7'),
      pick: armv7,
    },
    {
      name: 'arm/v7 settles for v6',
      idx: index(armv6, amd64),
      want: p('linux', 'arm', 'v7'),
      pick: armv6,
    },
    {
      name: 'first of equals',
      idx: index(ws2019, ws2022),
      want: p('windows', 'amd64'),
      pick: ws2019,
    },
    {
      name: 'windows build',
      idx: index(ws2019, ws2022),
      want: p('windows', 'amd64', undefined, '10.0.20348'),
      pick: ws2022,
    },
  ];
  test.each(cases)('$name', ({ idx, want, pick }) => {
    const got = selectManifest(idx, want);
    expect(
      got,
      `selectManifest(${formatPlatform(want)}) = ${got.platform && formatPlatform(got.platform)}, want ${pick.platform && formatPlatform(pick.platform)}`,
    ).toBe(pick);
  });

  const misses: { name: string; idx: Index; want: Platform; message: string }[] = [
    {
      name: 'lists what there is, without attestations',
      idx: index(amd64, arm64, att, attestationFor(arm64)),
      want: p('linux', 's390x'),
      message: 'no image for linux/s390x; this index has linux/amd64, linux/arm64/v8',
    },
    {
      name: 'never swaps in a 32-bit image',
      idx: index(armv7),
      want: p('linux', 'arm64'),
      message: 'no image for linux/arm64; this index has linux/arm/v7',
    },
    {
      name: 'attestations are never selected',
      idx: index(att),
      want: p('unknown', 'unknown'),
      message: 'no image for unknown/unknown; this index lists no platforms',
    },
    {
      name: 'windows build mismatch',
      idx: index(ws2019),
      want: p('windows', 'amd64', undefined, '10.0.20348'),
      message:
        'no image for windows/amd64 (10.0.20348); this index has windows/amd64 (10.0.17763.5122)',
    },
  ];
  test.each(misses)('$name', ({ idx, want, message }) => {
    let err: unknown;
    try {
      const got = selectManifest(idx, want);
      expect.fail(`selectManifest(${formatPlatform(want)}) = ${JSON.stringify(got)}, want error`);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NoMatchingPlatformError);
    const e = err as NoMatchingPlatformError;
    expect(e.name).toBe('NoMatchingPlatformError');
    expect(e.message).toBe(message);
    expect(e.want).toEqual(want);
  });
});

describe('defaultPlatform with a preferred platform (the Settings default)', () => {
  const offered = [p('linux', 'amd64'), p('linux', 'arm64', 'v8'), p('linux', 'arm', 'v7')];
  const cases: { name: string; preferred: Platform; want: Platform | undefined }[] = [
    { name: 'offered: chosen', preferred: p('linux', 'arm64'), want: p('linux', 'arm64', 'v8') },
    {
      name: 'a compatible variant',
      preferred: p('linux', 'arm', 'v8'),
      want: p('linux', 'arm', 'v7'),
    },
    { name: 'not offered: linux/amd64', preferred: p('linux', 's390x'), want: p('linux', 'amd64') },
  ];
  test.each(cases)('$name', ({ preferred, want }) => {
    const got = defaultPlatform(offered, preferred);
    expect(
      got,
      `defaultPlatform(…, ${JSON.stringify(preferred)}) = ${JSON.stringify(got)}`,
    ).toEqual(want);
  });
});

describe('platform choices', () => {
  test.each([
    ['all', 'all'],
    ['linux/amd64', 'linux/amd64'],
    ['linux/arm/v7', 'linux/arm/v7'],
  ])('formatPlatformChoice(parsePlatformChoice(%j)) = %j', (input, want) => {
    expect(formatPlatformChoice(parsePlatformChoice(input))).toBe(want);
  });

  test('anything else is refused, not taken for all', () => {
    expect(() => parsePlatformChoice('All')).toThrow(/invalid platform/);
    expect(() => parsePlatformChoice('')).toThrow(/invalid platform/);
  });
});
