import { describe, expect, test } from 'vitest';
import { MediaType } from '../../src/lib/oci/mediatypes.ts';
import {
  InvalidImageConfigError,
  InvalidManifestError,
  parseImageConfig,
  parseManifestDocument,
  validateDescriptor,
  type ParsedDocument,
} from '../../src/lib/oci/validate.ts';

const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const dg = (n: number) => 'sha256:' + n.toString(16).padStart(64, '0');

const configDesc = { mediaType: MediaType.OciConfig, digest: dg(1), size: 100 };
const layer = (n: number) => ({ mediaType: MediaType.OciLayerGzip, digest: dg(n), size: 1000 * n });
const ociManifest = {
  schemaVersion: 2,
  mediaType: MediaType.OciManifest,
  config: configDesc,
  layers: [layer(2), layer(3)],
};
const dockerManifest = {
  schemaVersion: 2,
  mediaType: MediaType.DockerManifest,
  config: { ...configDesc, mediaType: MediaType.DockerConfig },
  layers: [{ ...layer(2), mediaType: MediaType.DockerLayerGzip }],
};
const ociIndex = {
  schemaVersion: 2,
  mediaType: MediaType.OciIndex,
  manifests: [
    {
      mediaType: MediaType.OciManifest,
      digest: dg(10),
      size: 500,
      platform: { os: 'linux', architecture: 'amd64' },
    },
    {
      mediaType: MediaType.OciManifest,
      digest: dg(11),
      size: 501,
      platform: { os: 'unknown', architecture: 'unknown' },
      annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
    },
  ],
};
const dockerList = { ...ociIndex, mediaType: MediaType.DockerManifestList };
const { mediaType: _m1, ...bareManifest } = ociManifest;
const { mediaType: _m2, ...bareIndex } = ociIndex;

type Opts = { contentType?: string | null; descriptorMediaType?: string };

describe('parseManifestDocument accepts', () => {
  const cases: { name: string; doc: unknown; opts: Opts; kind: string; mediaType: string }[] = [
    {
      name: 'OCI manifest',
      doc: ociManifest,
      opts: { contentType: MediaType.OciManifest },
      kind: 'manifest',
      mediaType: MediaType.OciManifest,
    },
    {
      name: 'Docker manifest',
      doc: dockerManifest,
      opts: { contentType: MediaType.DockerManifest },
      kind: 'manifest',
      mediaType: MediaType.DockerManifest,
    },
    {
      name: 'OCI index',
      doc: ociIndex,
      opts: { contentType: MediaType.OciIndex },
      kind: 'index',
      mediaType: MediaType.OciIndex,
    },
    {
      name: 'Docker manifest list',
      doc: dockerList,
      opts: { contentType: MediaType.DockerManifestList },
      kind: 'index',
      mediaType: MediaType.DockerManifestList,
    },
    {
      name: 'Content-Type parameters are ignored',
      doc: ociManifest,
      opts: { contentType: `${MediaType.OciManifest}; charset=utf-8` },
      kind: 'manifest',
      mediaType: MediaType.OciManifest,
    },
    {
      name: 'Content-Type case is ignored',
      doc: ociManifest,
      opts: { contentType: MediaType.OciManifest.toUpperCase() },
      kind: 'manifest',
      mediaType: MediaType.OciManifest,
    },
    {
      name: 'document type wins over a generic Content-Type',
      doc: dockerManifest,
      opts: { contentType: 'application/json' },
      kind: 'manifest',
      mediaType: MediaType.DockerManifest,
    },
    {
      name: 'agreeing descriptor media type',
      doc: ociIndex,
      opts: { contentType: MediaType.OciIndex, descriptorMediaType: MediaType.OciIndex },
      kind: 'index',
      mediaType: MediaType.OciIndex,
    },
    {
      name: 'no mediaType field: Content-Type decides',
      doc: bareManifest,
      opts: { contentType: MediaType.DockerManifest },
      kind: 'manifest',
      mediaType: MediaType.DockerManifest,
    },
    {
      name: 'no mediaType field, generic Content-Type: descriptor decides',
      doc: bareIndex,
      opts: {
        contentType: 'application/octet-stream',
        descriptorMediaType: MediaType.DockerManifestList,
      },
      kind: 'index',
      mediaType: MediaType.DockerManifestList,
    },
    {
      name: 'nothing says: manifests means OCI index',
      doc: bareIndex,
      opts: { contentType: null },
      kind: 'index',
      mediaType: MediaType.OciIndex,
    },
    {
      name: 'nothing says: config and layers mean OCI manifest',
      doc: bareManifest,
      opts: { contentType: 'application/json' },
      kind: 'manifest',
      mediaType: MediaType.OciManifest,
    },
    {
      name: 'empty index',
      doc: { ...ociIndex, manifests: [] },
      opts: {},
      kind: 'index',
      mediaType: MediaType.OciIndex,
    },
    {
      name: 'artifact manifest with empty layers, subject and annotations',
      doc: {
        ...ociManifest,
        artifactType: 'application/vnd.example+json',
        config: { mediaType: MediaType.OciEmpty, digest: dg(4), size: 2, data: 'e30=' },
        layers: [],
        subject: { mediaType: MediaType.OciManifest, digest: dg(5), size: 10 },
        annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
      },
      opts: { contentType: MediaType.OciManifest },
      kind: 'manifest',
      mediaType: MediaType.OciManifest,
    },
    {
      name: 'UTF-8 byte order mark',
      doc: '\ufeff' + JSON.stringify(ociManifest),
      opts: {},
      kind: 'manifest',
      mediaType: MediaType.OciManifest,
    },
  ];
  test.each(cases)('$name', ({ doc, opts, kind, mediaType }) => {
    const got = parseManifestDocument(enc(doc), opts);
    expect(got.kind, `kind = ${got.kind}, want ${kind}`).toBe(kind);
    expect(got.mediaType, `mediaType = ${got.mediaType}, want ${mediaType}`).toBe(mediaType);
  });

  test('returns clean copies with the descriptors intact', () => {
    const got = parseManifestDocument(enc({ ...ociManifest, extra: 'x' }), {});
    const want: ParsedDocument = {
      kind: 'manifest',
      mediaType: MediaType.OciManifest,
      manifest: {
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: configDesc,
        layers: [layer(2), layer(3)],
      },
    };
    expect(got).toEqual(want);
  });

  test('keeps index platforms and annotations', () => {
    const got = parseManifestDocument(enc(ociIndex), {});
    if (got.kind !== 'index') throw new Error(`kind = ${got.kind}, want index`);
    expect(got.index.manifests).toEqual(ociIndex.manifests);
  });
});

describe('parseManifestDocument rejects', () => {
  const schema1 = {
    schemaVersion: 1,
    name: 'library/alpine',
    tag: 'latest',
    architecture: 'amd64',
    fsLayers: [{ blobSum: dg(1) }],
    history: [{ v1Compatibility: '{}' }],
  };
  // why: a fragment the message must contain.
  const cases: { name: string; doc: unknown; opts: Opts; why: string }[] = [
    { name: 'not JSON', doc: 'hello', opts: {}, why: 'is not JSON' },
    { name: 'HTML page', doc: '<!doctype html><html>', opts: {}, why: 'looks like an HTML page' },
    { name: 'empty body', doc: '', opts: {}, why: 'body is empty' },
    { name: 'JSON array', doc: [], opts: {}, why: 'not an object: it is an array' },
    { name: 'JSON null', doc: 'null', opts: {}, why: 'not an object: it is null' },
    { name: 'JSON string', doc: '"x"', opts: {}, why: 'not an object' },
    {
      name: 'schema1 by version',
      doc: schema1,
      opts: { contentType: MediaType.DockerSchema1Signed },
      why: 'schema1 manifests',
    },
    {
      name: 'schema1 by Content-Type',
      doc: { ...ociManifest, schemaVersion: 2 },
      opts: { contentType: MediaType.DockerSchema1Signed },
      why: 'push the image again',
    },
    {
      name: 'schema1 by mediaType',
      doc: { ...schema1, schemaVersion: 2, mediaType: MediaType.DockerSchema1 },
      opts: {},
      why: 'pull it by another tag',
    },
    {
      name: 'schemaVersion missing',
      doc: { ...ociManifest, schemaVersion: undefined },
      opts: {},
      why: 'no schemaVersion',
    },
    {
      name: 'schemaVersion 3',
      doc: { ...ociManifest, schemaVersion: 3 },
      opts: {},
      why: 'schemaVersion 3',
    },
    {
      name: 'schemaVersion "2"',
      doc: { ...ociManifest, schemaVersion: '2' },
      opts: {},
      why: 'schemaVersion "2"',
    },
    {
      name: 'CVE-2021-41190: manifests and layers',
      doc: { ...ociIndex, layers: [layer(2)] },
      opts: { contentType: MediaType.OciIndex },
      why: 'CVE-2021-41190',
    },
    {
      name: 'CVE-2021-41190: manifests and config, typed as manifest',
      doc: { ...ociManifest, manifests: ociIndex.manifests },
      opts: { contentType: MediaType.OciManifest },
      why: 'CVE-2021-41190',
    },
    {
      name: 'CVE-2021-41190: no mediaType anywhere',
      doc: { schemaVersion: 2, manifests: [], config: configDesc },
      opts: {},
      why: 'reads as an index and as an image manifest',
    },
    {
      name: 'document vs Content-Type',
      doc: ociManifest,
      opts: { contentType: MediaType.OciIndex },
      why: `says its mediaType is ${MediaType.OciManifest}, but its Content-Type is ${MediaType.OciIndex}`,
    },
    {
      name: 'OCI document vs Docker Content-Type',
      doc: ociManifest,
      opts: { contentType: MediaType.DockerManifest },
      why: 'Content-Type is application/vnd.docker.distribution.manifest.v2+json',
    },
    {
      name: 'document vs descriptor',
      doc: ociIndex,
      opts: { contentType: MediaType.OciIndex, descriptorMediaType: MediaType.DockerManifestList },
      why: `but its descriptor media type is ${MediaType.DockerManifestList}`,
    },
    {
      name: 'Content-Type vs descriptor without a document type',
      doc: bareManifest,
      opts: { contentType: MediaType.OciManifest, descriptorMediaType: MediaType.DockerManifest },
      why: 'the descriptor pointing here says',
    },
    {
      name: 'Content-Type says index, shape says manifest',
      doc: bareManifest,
      opts: { contentType: MediaType.OciIndex },
      why: '(an index) but has "config"/"layers"',
    },
    {
      name: 'Content-Type says manifest, shape says index',
      doc: bareIndex,
      opts: { contentType: MediaType.DockerManifest },
      why: '(an image manifest) but has "manifests"',
    },
    {
      name: 'unknown document media type',
      doc: { ...ociManifest, mediaType: 'application/vnd.example.thing+json' },
      opts: {},
      why: 'application/vnd.example.thing+json is not an image manifest or index',
    },
    {
      name: 'config media type served as a manifest',
      doc: { ...ociManifest, mediaType: MediaType.OciConfig },
      opts: {},
      why: 'not an image manifest or index',
    },
    {
      name: 'nothing to infer from',
      doc: { schemaVersion: 2, config: configDesc },
      opts: { contentType: 'application/json' },
      why: 'media type application/json is not a manifest or index',
    },
    {
      name: 'no media type and no shape',
      doc: { schemaVersion: 2 },
      opts: {},
      why: 'has no media type',
    },
    {
      name: 'mediaType not a string',
      doc: { ...ociManifest, mediaType: 2 },
      opts: {},
      why: 'mediaType must be a string',
    },
    {
      name: 'manifest without config',
      doc: { ...ociManifest, config: undefined },
      opts: {},
      why: 'has no "config"',
    },
    {
      name: 'layers not an array',
      doc: { ...ociManifest, layers: {} },
      opts: {},
      why: '"layers" must be an array',
    },
    {
      name: 'manifests not an array',
      doc: { ...ociIndex, manifests: {} },
      opts: {},
      why: '"manifests" must be an array',
    },
    {
      name: 'bad layer digest',
      doc: { ...ociManifest, layers: [layer(2), layer(3), { ...layer(4), digest: 'sha256:abc' }] },
      opts: {},
      why: 'layers[2]: digest "sha256:abc" is not a valid sha256 digest',
    },
    {
      name: 'bad config size',
      doc: { ...ociManifest, config: { ...configDesc, size: -1 } },
      opts: {},
      why: 'config: size must be a non-negative integer',
    },
    {
      name: 'bad index entry',
      doc: {
        ...ociIndex,
        manifests: [ociIndex.manifests[0], { ...ociIndex.manifests[0], digest: 5 }],
      },
      opts: {},
      why: 'manifests[1]: digest must be a string',
    },
    {
      name: 'bad platform',
      doc: {
        ...ociIndex,
        manifests: [{ ...ociIndex.manifests[0], platform: { os: 'linux' } }],
      },
      opts: {},
      why: 'manifests[0]: platform: architecture must be a non-empty string',
    },
    {
      name: 'bad subject',
      doc: { ...ociManifest, subject: { mediaType: MediaType.OciManifest, digest: dg(1) } },
      opts: {},
      why: 'subject: size must be',
    },
    {
      name: 'bad annotations',
      doc: { ...ociManifest, annotations: { a: 1 } },
      opts: {},
      why: 'annotations must be an object of string values',
    },
  ];
  test.each(cases)('$name', ({ doc, opts, why }) => {
    let err: unknown;
    try {
      const got = parseManifestDocument(enc(doc), opts);
      expect.fail(
        `parseManifestDocument = ${JSON.stringify(got).slice(0, 200)}, want error "${why}"`,
      );
    } catch (e) {
      err = e;
    }
    expect(err, String(err)).toBeInstanceOf(InvalidManifestError);
    expect((err as Error).name).toBe('InvalidManifestError');
    expect((err as Error).message).toContain(why);
  });

  test('invalid UTF-8', () => {
    expect(() => parseManifestDocument(new Uint8Array([0x7b, 0xff, 0x7d]), {})).toThrow(
      /not JSON: it is not even UTF-8/,
    );
  });
});

describe('validateDescriptor', () => {
  const good = { mediaType: MediaType.OciLayerGzip, digest: dg(1), size: 0 };
  test('returns a clean copy', () => {
    const input = {
      ...good,
      urls: ['https://example.com/blob'],
      annotations: { a: 'b' },
      platform: { os: 'linux', architecture: 'arm64', variant: 'v8', 'os.features': ['x'] },
      artifactType: 'application/vnd.example',
      data: 'e30=',
      unknownField: 1,
    };
    const { unknownField: _u, ...want } = input;
    expect(validateDescriptor(input, 'd')).toEqual(want);
  });

  // why: a fragment the message must contain, after the "where" prefix.
  const cases: { name: string; d: unknown; why: string }[] = [
    { name: 'not an object', d: 'sha256:x', why: 'x: a descriptor must be an object' },
    { name: 'null', d: null, why: 'must be an object, got null' },
    { name: 'array', d: [], why: 'must be an object, got an array' },
    {
      name: 'no mediaType',
      d: { ...good, mediaType: undefined },
      why: 'x: mediaType must be a non-empty string',
    },
    {
      name: 'empty mediaType',
      d: { ...good, mediaType: '' },
      why: 'mediaType must be a non-empty',
    },
    {
      name: 'malformed mediaType',
      d: { ...good, mediaType: 'layer' },
      why: 'is not a type/subtype',
    },
    {
      name: 'mediaType with spaces',
      d: { ...good, mediaType: 'a/b c' },
      why: 'is not a type/subtype',
    },
    { name: 'no digest', d: { ...good, digest: undefined }, why: 'x: digest must be a string' },
    {
      name: 'short digest',
      d: { ...good, digest: 'sha256:00' },
      why: 'x: digest "sha256:00" is not a valid sha256 digest',
    },
    {
      name: 'uppercase digest',
      d: { ...good, digest: dg(1).toUpperCase() },
      why: 'unsupported algorithm',
    },
    {
      name: 'unknown algorithm',
      d: { ...good, digest: 'md5:' + '0'.repeat(32) },
      why: 'unsupported algorithm "md5"',
    },
    {
      name: 'no size',
      d: { ...good, size: undefined },
      why: 'x: size must be a non-negative integer',
    },
    { name: 'string size', d: { ...good, size: '10' }, why: 'size must be' },
    { name: 'negative size', d: { ...good, size: -1 }, why: 'size must be' },
    { name: 'fractional size', d: { ...good, size: 1.5 }, why: 'size must be' },
    { name: 'unsafe size', d: { ...good, size: 2 ** 53 }, why: 'size must be' },
    {
      name: 'urls not strings',
      d: { ...good, urls: [1] },
      why: 'x: urls must be an array of strings',
    },
    {
      name: 'annotations array',
      d: { ...good, annotations: ['a'] },
      why: 'x: annotations must be',
    },
    {
      name: 'platform string',
      d: { ...good, platform: 'linux/amd64' },
      why: 'x: platform: must be an object',
    },
    {
      name: 'platform without os',
      d: { ...good, platform: { architecture: 'amd64' } },
      why: 'os must be',
    },
    {
      name: 'platform variant number',
      d: { ...good, platform: { os: 'linux', architecture: 'arm', variant: 7 } },
      why: 'platform: variant must be a string',
    },
    {
      name: 'artifactType number',
      d: { ...good, artifactType: 1 },
      why: 'x: artifactType must be a string',
    },
  ];
  test.each(cases)('$name', ({ d, why }) => {
    expect(() => validateDescriptor(d, 'x'), `validateDescriptor(${JSON.stringify(d)})`).toThrow(
      InvalidManifestError,
    );
    expect(() => validateDescriptor(d, 'x')).toThrow(why);
  });
});

describe('parseImageConfig', () => {
  const config = {
    created: '2024-05-22T18:18:12Z',
    architecture: 'amd64',
    os: 'linux',
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: ['/bin/sh'],
      WorkingDir: '/',
      Labels: null,
      ArgsEscaped: true,
    },
    rootfs: { type: 'layers', diff_ids: [dg(20), dg(21)] },
    history: [
      { created: '2024-05-22T18:18:12Z', created_by: 'ADD file:abc in / ' },
      { created: '2024-05-22T18:18:12Z', created_by: 'CMD ["/bin/sh"]', empty_layer: true },
    ],
  };

  test('accepts a typical config and keeps unknown fields', () => {
    const got = parseImageConfig(enc(config));
    expect(got).toEqual(config);
  });

  const accepts: {
    name: string;
    doc: unknown;
    check: (c: ReturnType<typeof parseImageConfig>) => unknown;
    want: unknown;
  }[] = [
    {
      name: 'no history',
      doc: { ...config, history: undefined },
      check: (c) => c.history,
      want: undefined,
    },
    {
      name: 'null history',
      doc: { ...config, history: null },
      check: (c) => 'history' in c,
      want: false,
    },
    {
      name: 'no runtime config',
      doc: { ...config, config: undefined },
      check: (c) => c.config,
      want: undefined,
    },
    {
      name: 'null runtime config',
      doc: { ...config, config: null },
      check: (c) => 'config' in c,
      want: false,
    },
    {
      name: 'null Env dropped',
      doc: { ...config, config: { Env: null, Cmd: null } },
      check: (c) => c.config,
      want: { Cmd: null },
    },
    {
      name: 'no layers',
      doc: { ...config, rootfs: { type: 'layers', diff_ids: [] } },
      check: (c) => c.rootfs.diff_ids,
      want: [],
    },
    {
      name: 'windows os.version',
      doc: { ...config, os: 'windows', 'os.version': '10.0.17763.1' },
      check: (c) => c['os.version'],
      want: '10.0.17763.1',
    },
  ];
  test.each(accepts)('accepts $name', ({ doc, check, want }) => {
    expect(check(parseImageConfig(enc(doc)))).toEqual(want);
  });

  const rejects: { name: string; doc: unknown; why: string }[] = [
    { name: 'not JSON', doc: '{', why: 'the image config is not JSON' },
    { name: 'array', doc: [], why: 'not an object' },
    {
      name: 'no architecture',
      doc: { ...config, architecture: undefined },
      why: 'has no architecture',
    },
    { name: 'no os', doc: { ...config, os: undefined }, why: 'has no os' },
    { name: 'empty os', doc: { ...config, os: '' }, why: 'os must be a non-empty string' },
    {
      name: 'numeric architecture',
      doc: { ...config, architecture: 64 },
      why: 'architecture must be a non-empty string, got number 64',
    },
    { name: 'no rootfs', doc: { ...config, rootfs: undefined }, why: 'has no rootfs' },
    {
      name: 'rootfs string',
      doc: { ...config, rootfs: 'layers' },
      why: 'rootfs must be an object',
    },
    {
      name: 'no diff_ids',
      doc: { ...config, rootfs: { type: 'layers' } },
      why: 'rootfs.diff_ids must be an array',
    },
    {
      name: 'no rootfs type',
      doc: { ...config, rootfs: { diff_ids: [] } },
      why: 'rootfs.type must be a string',
    },
    {
      name: 'bad diff_id',
      doc: { ...config, rootfs: { type: 'layers', diff_ids: [dg(1), 'sha256:xyz'] } },
      why: 'rootfs.diff_ids[1]: digest "sha256:xyz" is not a valid sha256 digest',
    },
    {
      name: 'numeric diff_id',
      doc: { ...config, rootfs: { type: 'layers', diff_ids: [7] } },
      why: 'rootfs.diff_ids[0] must be a digest string',
    },
    { name: 'history object', doc: { ...config, history: {} }, why: 'history must be an array' },
    {
      name: 'history entry string',
      doc: { ...config, history: ['x'] },
      why: 'history[0] must be an object',
    },
    {
      name: 'history empty_layer string',
      doc: { ...config, history: [{ empty_layer: 'true' }] },
      why: 'history[0].empty_layer must be true or false',
    },
    {
      name: 'history created_by number',
      doc: { ...config, history: [{}, { created_by: 1 }] },
      why: 'history[1].created_by must be a string',
    },
    {
      name: 'runtime config array',
      doc: { ...config, config: [] },
      why: 'config must be an object',
    },
    {
      name: 'Env string',
      doc: { ...config, config: { Env: 'A=1' } },
      why: 'config.Env must be an array of strings',
    },
    {
      name: 'Cmd string',
      doc: { ...config, config: { Cmd: 'sh' } },
      why: 'config.Cmd must be an array of strings',
    },
    {
      name: 'Labels numbers',
      doc: { ...config, config: { Labels: { a: 1 } } },
      why: 'config.Labels must be an object of string values',
    },
    {
      name: 'User number',
      doc: { ...config, config: { User: 0 } },
      why: 'config.User must be a string',
    },
    {
      name: 'ExposedPorts array',
      doc: { ...config, config: { ExposedPorts: ['80/tcp'] } },
      why: 'config.ExposedPorts must be an object',
    },
    { name: 'created number', doc: { ...config, created: 0 }, why: 'created must be a string' },
  ];
  test.each(rejects)('rejects $name', ({ doc, why }) => {
    let err: unknown;
    try {
      const got = parseImageConfig(enc(doc));
      expect.fail(`parseImageConfig = ${JSON.stringify(got).slice(0, 200)}, want error "${why}"`);
    } catch (e) {
      err = e;
    }
    expect(err, String(err)).toBeInstanceOf(InvalidImageConfigError);
    expect((err as Error).name).toBe('InvalidImageConfigError');
    expect((err as Error).message).toContain(why);
  });
});

describe('deep documents (issue 13)', () => {
  /** JSON text of `inner` wrapped in `levels` arrays: "[[[…inner…]]]". */
  const nested = (levels: number, inner = '1') => '['.repeat(levels) + inner + ']'.repeat(levels);
  const configText = (unknown: string) =>
    `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"x":${unknown}}`;

  test('a manifest whose schemaVersion nests 5000 deep is a ValidationError naming the limit', () => {
    const text = `{"schemaVersion":${nested(5000)}}`;
    let err: unknown;
    try {
      parseManifestDocument(enc(text), {});
    } catch (e) {
      err = e;
    }
    expect(err, String(err)).toBeInstanceOf(InvalidManifestError);
    expect((err as Error).message).toBe(
      'the manifest nests 5001 levels deep; Berth reads at most 64',
    );
  });

  test('a config with an unknown field nested 2000 deep is refused, not passed on', () => {
    expect(() => parseImageConfig(enc(configText(nested(2000))))).toThrow(
      new InvalidImageConfigError(
        'the image config nests 2001 levels deep; Berth reads at most 64',
      ),
    );
  });

  test('a config nested to the limit parses, and what it holds can be posted to the page', () => {
    const config = parseImageConfig(enc(configText(nested(63))));
    expect(() => structuredClone(config)).not.toThrow();
  });

  test('brackets inside strings do not count as nesting', () => {
    const config = parseImageConfig(enc(configText(JSON.stringify('['.repeat(5000) + '\\"{'))));
    expect((config as unknown as { x: string }).x).toHaveLength(5003);
  });

  test('a manifest over the size limit is refused by its size', () => {
    const text = `{"schemaVersion":2,"pad":"${'x'.repeat(4 << 20)}"}`;
    expect(() => parseManifestDocument(enc(text), {})).toThrow(
      new InvalidManifestError(
        `the manifest is ${text.length} bytes; Berth reads at most ${4 << 20} bytes`,
      ),
    );
  });
});
