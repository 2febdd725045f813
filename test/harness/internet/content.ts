// What the emulated registries serve, built at test time from real files with real tools
// (GNU tar, gzip) into an OCI layout: a single-platform image, a multi-platform index, and an
// SBOM artifact whose subject is the single image (with its referrers tag-schema index). Each
// emulator's tests push these into the backend under the names that registry uses.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildImage,
  buildIndex,
  FIXED_CREATED,
  MT,
  OciLayout,
  sha256Bytes,
  type BuiltImage,
  type BuiltIndex,
} from '../oci.ts';
import type { Internet } from './internet.ts';

export interface InternetImages {
  dir: string;
  layout: OciLayout;
  /** Layout tags for Internet.copyImage. */
  single: { layoutTag: string; built: BuiltImage; digest: string };
  multi: { layoutTag: string; built: BuiltIndex; digest: string };
  /** The SBOM's manifest, its blobs, and the referrers index (tag `sha256-<single hex>`). */
  sbom: {
    digest: string;
    manifest: Uint8Array;
    artifactType: string;
    blobs: { mediaType: string; bytes: Uint8Array }[];
    referrersTag: string;
    referrersIndex: Uint8Array;
  };
  remove(): Promise<void>;
}

const SPDX = 'application/spdx+json';
const EMPTY = 'application/vnd.oci.empty.v1+json';

export async function buildInternetImages(): Promise<InternetImages> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-internet-images-'));
  const layout = await OciLayout.create(join(dir, 'layout'));
  const image = (architecture: string, text: string, variant?: string) =>
    buildImage({
      layout,
      layers: [
        {
          entries: [
            { type: 'copy', path: 'bin/busybox', from: '/bin/busybox', mode: 0o755 },
            { type: 'symlink', path: 'bin/sh', target: 'busybox' },
            { type: 'file', path: 'etc/os-release', content: 'ID=berth\nNAME="Berth internet"\n' },
          ],
          createdBy: 'ADD rootfs.tar /',
        },
        {
          entries: [{ type: 'file', path: 'etc/motd', content: text }],
          createdBy: 'COPY motd /etc/motd',
        },
      ],
      config: {
        architecture,
        os: 'linux',
        ...(variant ? { variant } : {}),
        config: { Cmd: ['/bin/sh'], Labels: { 'berth.test.fixture': 'internet' } },
      },
    });
  const [single, amd64, arm64] = await Promise.all([
    image('amd64', 'single-platform image\n'),
    image('amd64', 'multi-platform image, amd64\n'),
    image('arm64', 'multi-platform image, arm64\n', 'v8'),
  ]);
  const multi = await buildIndex({ layout, manifests: [{ image: amd64 }, { image: arm64 }] });
  await layout.tag(single.descriptor, 'single');
  await layout.tag(multi.descriptor, 'multi');

  // The SBOM: an OCI 1.1 artifact manifest with an empty config and the subject set.
  const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  const spdx = json({
    spdxVersion: 'SPDX-2.3',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: 'berth-internet-single',
    dataLicense: 'CC0-1.0',
    documentNamespace: `https://berth.invalid/spdx/${single.descriptor.digest.replace(':', '-')}`,
    creationInfo: { created: FIXED_CREATED, creators: ['Tool: berth-test-harness'] },
    packages: [{ SPDXID: 'SPDXRef-busybox', name: 'busybox', downloadLocation: 'NOASSERTION' }],
  });
  const empty = json({});
  const manifest = json({
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    artifactType: SPDX,
    config: { mediaType: EMPTY, digest: sha256Bytes(empty), size: empty.length, data: 'e30=' },
    layers: [{ mediaType: SPDX, digest: sha256Bytes(spdx), size: spdx.length }],
    subject: {
      mediaType: single.descriptor.mediaType,
      digest: single.descriptor.digest,
      size: single.descriptor.size,
    },
    annotations: { 'org.opencontainers.image.created': FIXED_CREATED },
  });
  const sbomDigest = sha256Bytes(manifest);
  const referrersIndex = json({
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    manifests: [
      {
        mediaType: MT.ociManifest,
        digest: sbomDigest,
        size: manifest.length,
        artifactType: SPDX,
        annotations: { 'org.opencontainers.image.created': FIXED_CREATED },
      },
    ],
  });
  return {
    dir,
    layout,
    single: { layoutTag: 'single', built: single, digest: single.descriptor.digest },
    multi: { layoutTag: 'multi', built: multi, digest: multi.descriptor.digest },
    sbom: {
      digest: sbomDigest,
      manifest,
      artifactType: SPDX,
      blobs: [
        { mediaType: EMPTY, bytes: empty },
        { mediaType: SPDX, bytes: spdx },
      ],
      referrersTag: single.descriptor.digest.replace(':', '-'),
      referrersIndex,
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Pushes the single image as `repository:tag` with its SBOM (by digest) and the referrers
 * tag-schema index beside it. */
export async function pushSingleWithSbom(
  net: Internet,
  images: InternetImages,
  repository: string,
  tag: string,
) {
  await net.copyImage(images.layout.dir, images.single.layoutTag, `${repository}:${tag}`);
  await net.put(repository, images.sbom.blobs, [
    { reference: images.sbom.digest, mediaType: MT.ociManifest, bytes: images.sbom.manifest },
    {
      reference: images.sbom.referrersTag,
      mediaType: MT.ociIndex,
      bytes: images.sbom.referrersIndex,
    },
  ]);
}
