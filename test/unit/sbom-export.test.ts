// The CycloneDX and SPDX exports, validated against the official JSON schemas, and read back
// for what a consumer needs: the image as the subject, every package once, licences that the
// formats accept, attribution to layers.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import parseSpdx from 'spdx-expression-parse';
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { toCycloneDX } from '../../src/lib/sbom/cyclonedx.ts';
import { toSpdx } from '../../src/lib/sbom/spdx.ts';
import { imagePurl, sbomFileName } from '../../src/lib/sbom/common.ts';
import type { Ecosystem, Inventory } from '../../src/lib/packages/types.ts';
import {
  cycloneDxValidator,
  inventory,
  pkg,
  sampleInventory,
  spdxValidator,
  subject,
} from './sbom-helpers.ts';

const validateCdx = cycloneDxValidator();
const validateSpdx = spdxValidator();

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function expectValidCdx(doc: unknown) {
  const ok = validateCdx(doc);
  expect(validateCdx.errors ?? [], 'CycloneDX schema errors').toEqual([]);
  expect(ok).toBe(true);
  // bom-refs are unique (the schema cannot say so).
  const refs = (doc as Json).components.map((c: Json) => c['bom-ref']);
  refs.push((doc as Json).metadata.component['bom-ref']);
  expect(new Set(refs).size).toBe(refs.length);
}

/** SPDX rules the schema does not check: unique SPDXIDs, relationships between elements that
 * exist, licence fields that are expressions whose LicenseRefs are defined. */
function expectValidSpdx(doc: unknown) {
  const ok = validateSpdx(doc);
  expect(validateSpdx.errors ?? [], 'SPDX schema errors').toEqual([]);
  expect(ok).toBe(true);
  const d = doc as Json;
  const ids = d.packages.map((p: Json) => p.SPDXID as string);
  expect(new Set(ids).size).toBe(ids.length);
  const known = new Set([...ids, 'SPDXRef-DOCUMENT']);
  for (const r of d.relationships) {
    expect(known.has(r.spdxElementId)).toBe(true);
    expect(known.has(r.relatedSpdxElement)).toBe(true);
  }
  const defined = new Set((d.hasExtractedLicensingInfos ?? []).map((l: Json) => l.licenseId));
  expect(defined.size).toBe((d.hasExtractedLicensingInfos ?? []).length);
  for (const p of d.packages) {
    for (const field of ['licenseDeclared', 'licenseConcluded']) {
      const v = p[field] as string | undefined;
      if (v === undefined || v === 'NOASSERTION' || v === 'NONE') continue;
      expect(() => parseSpdx(v), `${p.SPDXID} ${field} ${v}`).not.toThrow();
      for (const ref of v.match(/LicenseRef-[A-Za-z0-9.-]+/g) ?? []) {
        expect(defined.has(ref), `${ref} defined`).toBe(true);
      }
    }
  }
}

describe('CycloneDX 1.6', () => {
  it('is valid against the official schema, and the package validator agrees', async () => {
    const bom = toCycloneDX(sampleInventory(), subject);
    expectValidCdx(bom);
    const strict = new Validation.JsonStrictValidator(Spec.Version.v1dot6);
    expect(await strict.validate(JSON.stringify(bom))).toBeNull();
  });

  it('names the image as the subject, with its digest, purl and hash', () => {
    const bom = toCycloneDX(sampleInventory(), subject) as Json;
    expect(bom).toMatchObject({ bomFormat: 'CycloneDX', specVersion: '1.6', version: 1 });
    expect(bom.serialNumber).toMatch(
      /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(bom.metadata.timestamp).toBe(subject.created);
    expect(bom.metadata.tools.components).toEqual([
      { type: 'application', name: 'Berth', version: '0.1.0' },
    ]);
    expect(bom.metadata.component).toMatchObject({
      type: 'container',
      name: 'docker.io/library/debian',
      version: subject.digest,
      purl: `pkg:oci/debian@sha256%3A${'ab'.repeat(32)}?arch=amd64&repository_url=docker.io/library/debian&tag=12`,
      hashes: [{ alg: 'SHA-256', content: 'ab'.repeat(32) }],
    });
    // Two exports of the same image are two BOMs.
    expect(toCycloneDX(sampleInventory(), subject).serialNumber).not.toBe(bom.serialNumber);
  });

  it('gives licences as an id, an expression or a name, and scopes as groups', () => {
    const bom = toCycloneDX(sampleInventory(), subject) as Json;
    const by = (name: string) => bom.components.filter((c: Json) => c.name === name);
    expect(by('busybox')[0].licenses).toEqual([{ license: { id: 'GPL-2.0-only' } }]);
    expect(by('libc6')[0].licenses).toEqual([{ expression: 'GPL-2.0+ OR LGPL-2.1' }]);
    expect(by('bash')[0].licenses).toEqual([{ license: { name: 'GPLv3+' } }]);
    expect(by('core')[0]).toMatchObject({
      group: '@babel',
      licenses: [{ expression: '(MIT OR Apache-2.0)' }],
    });
    expect(by('commons-lang3')[0]).toMatchObject({ group: 'org.apache.commons' });
    expect(by('requests')[0].version).toBeUndefined();
    expect(by('requests')[0].licenses).toEqual([{ expression: 'Apache-2.0 WITH LLVM-exception' }]);
    // The same package at two paths: two components, two bom-refs.
    expect(by('left-pad').map((c: Json) => c['bom-ref'])).toEqual([
      'pkg:npm/left-pad@1.3.0',
      'pkg:npm/left-pad@1.3.0#2',
    ]);
    expect(bom.components[0]).toMatchObject({
      type: 'operating-system',
      name: 'debian',
      version: '12',
    });
  });

  it("says which layer and build step added each package, in Berth's namespace", () => {
    const bom = toCycloneDX(sampleInventory(), subject) as Json;
    const curl = bom.components.find((c: Json) => c.name === 'curl');
    const props = Object.fromEntries(curl.properties.map((p: Json) => [p.name, p.value]));
    expect(props).toMatchObject({
      'berth:layer:index': '1',
      'berth:layer:event': 'added',
      'berth:layer:digest': 'sha256:' + '02'.repeat(32),
      'berth:history:createdBy': 'RUN apt-get install -y curl',
      'berth:package:location': 'var/lib/dpkg/status',
      'berth:package:source': 'curl',
      'berth:package:arch': 'amd64',
    });
    expect(curl.externalReferences).toEqual([{ type: 'website', url: 'https://curl.se/' }]);
  });
});

describe('SPDX 2.3', () => {
  it('is valid against the official schema, with the image as the described package', () => {
    const doc = toSpdx(sampleInventory(), subject) as Json;
    expectValidSpdx(doc);
    expect(doc).toMatchObject({
      spdxVersion: 'SPDX-2.3',
      dataLicense: 'CC0-1.0',
      SPDXID: 'SPDXRef-DOCUMENT',
      name: 'docker.io/library/debian:12',
      creationInfo: { created: subject.created, creators: ['Tool: Berth-0.1.0'] },
    });
    expect(doc.documentNamespace).toMatch(
      /^https:\/\/spdx\.org\/spdxdocs\/berth-docker.io-library-debian-[0-9a-f-]{36}$/,
    );
    const image = doc.packages[0];
    expect(image).toMatchObject({
      SPDXID: 'SPDXRef-Image',
      primaryPackagePurpose: 'CONTAINER',
      versionInfo: subject.digest,
      downloadLocation: 'NOASSERTION',
      checksums: [{ algorithm: 'SHA256', checksumValue: 'ab'.repeat(32) }],
    });
    expect(doc.relationships[0]).toEqual({
      spdxElementId: 'SPDXRef-DOCUMENT',
      relationshipType: 'DESCRIBES',
      relatedSpdxElement: 'SPDXRef-Image',
    });
    const contained = doc.relationships.filter((r: Json) => r.relationshipType === 'CONTAINS');
    expect(contained).toHaveLength(doc.packages.length - 1);
  });

  it('puts licences that are not SPDX expressions in LicenseRefs, defined once', () => {
    const doc = toSpdx(sampleInventory(), subject) as Json;
    const by = (name: string) => doc.packages.filter((p: Json) => p.name === name);
    expect(by('busybox')[0].licenseDeclared).toBe('GPL-2.0-only');
    expect(by('bash')[0].licenseDeclared).toBe('LicenseRef-GPLv3');
    expect(by('org.apache.commons:commons-lang3')[0].licenseDeclared).toBe(
      'LicenseRef-Apache-License-Version-2.0',
    );
    expect(by('left-pad').map((p: Json) => p.licenseDeclared)).toEqual([
      'WTFPL',
      'LicenseRef-Custom',
    ]);
    const infos = Object.fromEntries(
      doc.hasExtractedLicensingInfos.map((l: Json) => [l.licenseId, l.extractedText]),
    );
    expect(infos['LicenseRef-GPLv3']).toBe('GPLv3+');
    expect(infos['LicenseRef-Custom']).toMatch(/LicenseRef-Custom/);
    const curl = by('curl')[0];
    expect(curl.externalRefs).toEqual([
      {
        referenceCategory: 'PACKAGE-MANAGER',
        referenceType: 'purl',
        referenceLocator: 'pkg:deb/debian/curl@7.88.1-10%2Bdeb12u5?arch=amd64&distro=debian-12',
      },
    ]);
    expect(curl.sourceInfo).toContain('layer 1 (sha256:0202');
    expect(curl.sourceInfo).toContain('RUN apt-get install -y curl');
  });
});

describe('hostile and random inventories', () => {
  const ecosystems: Ecosystem[] = ['apk', 'deb', 'rpm', 'npm', 'pypi', 'golang', 'maven', 'cargo'];
  const text = fc.oneof(
    fc.string({ unit: 'grapheme', maxLength: 20 }),
    fc.constantFrom(
      '',
      ' ',
      '"quoted"',
      "it's",
      '<b>x</b>',
      '../../etc',
      'LicenseRef-',
      'MIT AND',
      '(MIT',
      'DocumentRef-x:LicenseRef-y',
      'GPL-2.0+',
      'MIT WITH Classpath-exception-2.0',
      'Ünïcødé ✓',
      'a\u0000b',
      '\ud800',
    ),
  );
  const arbInventory = fc
    .array(
      fc.record({
        ecosystem: fc.constantFrom(...ecosystems),
        name: text,
        version: text,
        license: fc.option(text, { nil: undefined }),
        layer: fc.nat(3),
        homepage: fc.option(fc.oneof(text, fc.webUrl()), { nil: undefined }),
      }),
      { maxLength: 30 },
    )
    .map((rows): Inventory =>
      inventory(
        rows.map((r) =>
          pkg(r.ecosystem, r.name, r.version, {
            ...(r.license !== undefined ? { license: r.license } : {}),
            ...(r.homepage !== undefined ? { extra: { homepage: r.homepage } } : {}),
            events: [{ layer: r.layer, kind: 'added', to: r.version }],
          }),
        ),
        rows.length % 2 === 0,
      ),
    );

  it('always gives documents valid against both schemas', () => {
    fc.assert(
      fc.property(arbInventory, (inv) => {
        const cdx = toCycloneDX(inv, subject) as Json;
        expectValidCdx(cdx);
        expectValidSpdx(toSpdx(inv, subject));
        // What the JSON says survives a round trip through text (no lone surrogates lost).
        expect(JSON.parse(JSON.stringify(cdx)).components.length).toBe(cdx.components.length);
      }),
      { numRuns: 150 },
    );
  });

  it('describes an image known only by its digest', () => {
    const bare = { ...subject, reference: undefined, platform: undefined, layers: undefined };
    delete bare.reference;
    const cdx = toCycloneDX(sampleInventory(), bare) as Json;
    expectValidCdx(cdx);
    expect(cdx.metadata.component.purl).toBe(`pkg:oci/image@sha256%3A${'ab'.repeat(32)}`);
    expect(cdx.metadata.component.name).toBe(subject.digest);
    const spdx = toSpdx(sampleInventory(), bare) as Json;
    expectValidSpdx(spdx);
    expect(spdx.name).toBe(subject.digest);
  });

  it('names files and purls from odd references safely', () => {
    expect(sbomFileName(subject, 'cyclonedx')).toBe('debian-12-abababababab.cdx.json');
    expect(
      sbomFileName({ ...subject, reference: 'localhost:5000/a/b@' + subject.digest }, 'spdx'),
    ).toBe('b-abababababab.spdx.json');
    expect(imagePurl({ ...subject, reference: 'ghcr.io/Org/App:v1' })).toContain('pkg:oci/');
  });
});
