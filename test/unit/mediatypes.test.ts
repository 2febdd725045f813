import { describe, expect, test } from 'vitest';
import {
  type Compression,
  MediaType,
  isConfig,
  isIndex,
  isLayer,
  isManifest,
  isSchema1,
  layerCompression,
  manifestAccept,
} from '../../src/lib/oci/mediatypes.ts';
import type { Descriptor } from '../../src/lib/oci/types.ts';
import { type BlobRole, refKey, roleOf } from '../../src/lib/oci/refkey.ts';

type Kind = 'index' | 'manifest' | 'config' | 'layer' | 'schema1' | 'other';

// Every known type and a few strangers, with what each predicate should say about it.
const table: { mt: string; kind: Kind; compression: Compression }[] = [
  { mt: MediaType.OciIndex, kind: 'index', compression: 'unknown' },
  { mt: MediaType.DockerManifestList, kind: 'index', compression: 'unknown' },
  { mt: MediaType.OciManifest, kind: 'manifest', compression: 'unknown' },
  { mt: MediaType.DockerManifest, kind: 'manifest', compression: 'unknown' },
  { mt: MediaType.DockerSchema1, kind: 'schema1', compression: 'unknown' },
  { mt: MediaType.DockerSchema1Signed, kind: 'schema1', compression: 'unknown' },
  { mt: MediaType.OciConfig, kind: 'config', compression: 'unknown' },
  { mt: MediaType.DockerConfig, kind: 'config', compression: 'unknown' },
  { mt: MediaType.OciLayer, kind: 'layer', compression: 'none' },
  { mt: MediaType.OciLayerGzip, kind: 'layer', compression: 'gzip' },
  { mt: MediaType.OciLayerZstd, kind: 'layer', compression: 'zstd' },
  { mt: MediaType.OciLayerNondistributable, kind: 'layer', compression: 'none' },
  { mt: MediaType.OciLayerNondistributableGzip, kind: 'layer', compression: 'gzip' },
  { mt: MediaType.OciLayerNondistributableZstd, kind: 'layer', compression: 'zstd' },
  { mt: MediaType.DockerLayer, kind: 'layer', compression: 'none' },
  { mt: MediaType.DockerLayerGzip, kind: 'layer', compression: 'gzip' },
  { mt: MediaType.DockerLayerZstd, kind: 'layer', compression: 'zstd' },
  { mt: MediaType.DockerLayerForeignGzip, kind: 'layer', compression: 'gzip' },
  { mt: MediaType.OciEmpty, kind: 'other', compression: 'unknown' },
  { mt: MediaType.InTotoAttestation, kind: 'other', compression: 'unknown' },
  {
    mt: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip',
    kind: 'other',
    compression: 'unknown',
  },
  { mt: 'application/octet-stream', kind: 'other', compression: 'unknown' },
  { mt: 'application/gzip', kind: 'other', compression: 'unknown' },
  { mt: '', kind: 'other', compression: 'unknown' },
  // Predicates compare exactly: parameters and case are not folded.
  { mt: `${MediaType.OciManifest}; charset=utf-8`, kind: 'other', compression: 'unknown' },
  { mt: MediaType.OciIndex.toUpperCase(), kind: 'other', compression: 'unknown' },
];

describe('media type predicates', () => {
  for (const { mt, kind } of table) {
    test(`${JSON.stringify(mt)} is ${kind}`, () => {
      expect({
        index: isIndex(mt),
        manifest: isManifest(mt),
        config: isConfig(mt),
        layer: isLayer(mt),
        schema1: isSchema1(mt),
      }).toEqual({
        index: kind === 'index',
        manifest: kind === 'manifest',
        config: kind === 'config',
        layer: kind === 'layer',
        schema1: kind === 'schema1',
      });
    });
  }
});

describe('layerCompression', () => {
  for (const { mt, compression } of table) {
    test(`${JSON.stringify(mt)} → ${compression}`, () => {
      expect(layerCompression(mt)).toBe(compression);
    });
  }
});

describe('manifestAccept', () => {
  test('lists the four manifest and index types, the index types included', () => {
    const types = manifestAccept.split(',').map((s) => s.trim());
    expect(types).toHaveLength(4);
    expect(new Set(types)).toEqual(
      new Set([
        MediaType.OciIndex,
        MediaType.OciManifest,
        MediaType.DockerManifestList,
        MediaType.DockerManifest,
      ]),
    );
    expect(types.every((t) => isIndex(t) || isManifest(t))).toBe(true);
  });
});

describe('roleOf and refKey', () => {
  const digest = `sha256:${'c'.repeat(64)}`;
  const cases: [mediaType: string, role: BlobRole][] = [
    [MediaType.OciIndex, 'index'],
    [MediaType.DockerManifestList, 'index'],
    [MediaType.OciManifest, 'manifest'],
    [MediaType.DockerManifest, 'manifest'],
    [MediaType.OciConfig, 'config'],
    [MediaType.DockerConfig, 'config'],
    [MediaType.OciLayerGzip, 'layer'],
    [MediaType.OciLayerNondistributableZstd, 'layer'],
    [MediaType.DockerLayerGzip, 'layer'],
    [MediaType.DockerLayerForeignGzip, 'layer'],
    [MediaType.OciEmpty, 'blob'],
    [MediaType.InTotoAttestation, 'blob'],
    [MediaType.DockerSchema1Signed, 'blob'],
    ['application/octet-stream', 'blob'],
  ];
  for (const [mediaType, role] of cases) {
    test(`${mediaType} → ${role}-<digest>`, () => {
      const desc: Descriptor = { mediaType, digest, size: 1 };
      expect(roleOf(desc)).toBe(role);
      expect(refKey(desc)).toBe(`${role}-${digest}`);
    });
  }
});
