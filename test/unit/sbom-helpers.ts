// Test inventories and the official schemas, for the SBOM tests.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import addFormats2019 from 'ajv-formats-draft2019';
import type { Ecosystem, Inventory, InventoryPackage } from '../../src/lib/packages/types.ts';
import type { SbomSubject } from '../../src/lib/sbom/types.ts';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const cdxSchemaDir = join(
  dirname(require.resolve('@cyclonedx/cyclonedx-library/package.json')),
  'res/schema',
);
const json = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;

/** A validator for CycloneDX 1.6 JSON with the official schema and its references, as the
 * package ships them (the bom schema names them `*.SNAPSHOT.schema.json`). */
export function cycloneDxValidator() {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  addFormats2019(ajv, { formats: ['idn-email', 'iri-reference'] });
  for (const name of ['spdx', 'jsf-0.82']) {
    const schema = json(join(cdxSchemaDir, `${name}.SNAPSHOT.schema.json`));
    schema.$id = `http://cyclonedx.org/schema/${name}.SNAPSHOT.schema.json`;
    ajv.addSchema(schema);
  }
  return ajv.compile(json(join(cdxSchemaDir, 'bom-1.6.SNAPSHOT.schema.json')));
}

/** A validator for SPDX 2.3 JSON with the official schema (test/schemas/README.md). */
export function spdxValidator() {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  return ajv.compile(json(join(here, '../schemas/spdx-2.3.schema.json')));
}

export const subject: SbomSubject = {
  reference: 'docker.io/library/debian:12',
  digest: 'sha256:' + 'ab'.repeat(32),
  rootDigest: 'sha256:' + 'cd'.repeat(32),
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  platform: { architecture: 'amd64', os: 'linux' },
  configDigest: 'sha256:' + 'ef'.repeat(32),
  created: '2026-12-06T12:00:00Z',
  toolVersion: '0.1.0',
  layers: [
    {
      digest: 'sha256:' + '01'.repeat(32),
      diffID: 'sha256:' + '11'.repeat(32),
      history: '/bin/sh -c #(nop) ADD file:abc in /',
    },
    { digest: 'sha256:' + '02'.repeat(32), history: 'RUN apt-get install -y curl' },
  ],
};

/** Percent-encoded, or a stand-in for text that cannot be (a lone surrogate). */
const enc = (s: string) => {
  try {
    return encodeURIComponent(s);
  } catch {
    return 'x';
  }
};

export function pkg(
  ecosystem: Ecosystem,
  name: string,
  version: string,
  more: Partial<InventoryPackage> = {},
): InventoryPackage {
  return {
    ecosystem,
    name,
    version,
    purl: `pkg:${ecosystem}/${enc(name)}@${enc(version)}`,
    location: 'var/lib/dpkg/status',
    cataloger: ecosystem === 'deb' ? 'dpkg' : ecosystem,
    events: [{ layer: 0, kind: 'added', to: version }],
    ...more,
  };
}

export function inventory(packages: InventoryPackage[], os = true): Inventory {
  return {
    packages,
    removed: [],
    ...(os
      ? {
          os: {
            id: 'debian',
            versionId: '12',
            prettyName: 'Debian GNU/Linux 12 (bookworm)',
            like: [],
          },
        }
      : {}),
    problems: [],
    sources: [],
  };
}

/** A realistic small inventory: OS packages with licences of every kind, npm, maven. */
export function sampleInventory(): Inventory {
  return inventory([
    pkg('deb', 'curl', '7.88.1-10+deb12u5', {
      arch: 'amd64',
      source: 'curl',
      license: 'curl',
      purl: 'pkg:deb/debian/curl@7.88.1-10%2Bdeb12u5?arch=amd64&distro=debian-12',
      events: [{ layer: 1, kind: 'added', to: '7.88.1-10+deb12u5' }],
      extra: { maintainer: 'Alessandro Ghedini <ghedo@debian.org>', homepage: 'https://curl.se/' },
    }),
    pkg('deb', 'libc6', '2.36-9', {
      arch: 'amd64',
      source: 'glibc',
      license: 'GPL-2.0+ OR LGPL-2.1',
    }),
    pkg('apk', 'busybox', '1.36.1-r2', { license: 'GPL-2.0-only' }),
    pkg('rpm', 'bash', '5.2.15-3.fc38', { license: 'GPLv3+' }),
    pkg('npm', '@babel/core', '7.24.0', {
      license: '(MIT OR Apache-2.0)',
      location: 'app/node_modules/@babel/core/package.json',
    }),
    pkg('npm', 'left-pad', '1.3.0', {
      license: 'WTFPL',
      location: 'app/node_modules/left-pad/package.json',
    }),
    pkg('npm', 'left-pad', '1.3.0', {
      license: 'LicenseRef-Custom',
      location: 'app/node_modules/x/node_modules/left-pad/package.json',
    }),
    pkg('maven', 'org.apache.commons:commons-lang3', '3.14.0', {
      license: 'Apache License, Version 2.0',
    }),
    pkg('pypi', 'requests', '', { license: 'Apache-2.0 WITH LLVM-exception' }),
  ]);
}
