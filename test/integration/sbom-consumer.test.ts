// A real consumer reads Berth's CycloneDX: @appthreat/cdx-proto decodes CycloneDX JSON into
// the messages of the official bom-1.6.proto, and refuses unknown keys and enum values that
// the specification does not have, which a schema with open objects would let through. No
// Debian or npm tool reads SPDX 2.3 JSON offline; the SPDX export is checked against its
// official schema in test/unit/sbom-export.test.ts.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  decodeBomBinary,
  decodeBomJson,
  encodeBomBinary,
  encodeBomJson,
} from '@appthreat/cdx-proto';
import type { JsonValue } from '@bufbuild/protobuf';
import { toCycloneDX } from '../../src/lib/sbom/cyclonedx.ts';
import type { Ecosystem } from '../../src/lib/packages/types.ts';
import { inventory, pkg, sampleInventory, subject } from '../unit/sbom-helpers.ts';

const exported = (inv = sampleInventory()) =>
  JSON.parse(JSON.stringify(toCycloneDX(inv, subject))) as JsonValue;

describe('CycloneDX read by a protobuf consumer of the official schema', () => {
  it('lists every package with its name, version, purl and licence', () => {
    const inv = sampleInventory();
    const bom = decodeBomJson('1.6', exported(inv));
    expect(bom.metadata?.component?.name).toBe('docker.io/library/debian');
    expect(bom.metadata?.component?.version).toBe(subject.digest);
    const libraries = bom.components.filter((c) => c.purl);
    expect(
      libraries.map((c) => [
        c.group ? `${c.group}${c.group.startsWith('@') ? '/' : ':'}${c.name}` : c.name,
        c.version ?? '',
        c.purl,
      ]),
    ).toEqual(inv.packages.map((p) => [p.name, p.version, p.purl]));
    const licence = (name: string) => {
      const choice = bom.components.find((c) => c.name === name)!.licenses[0]!.choice;
      if (choice.case === 'expression') return choice.value;
      if (choice.case === 'license') return choice.value.license.value;
      return undefined;
    };
    expect(licence('busybox')).toBe('GPL-2.0-only');
    expect(licence('libc6')).toBe('GPL-2.0+ OR LGPL-2.1');
    expect(licence('bash')).toBe('GPLv3+');
    const curl = bom.components.find((c) => c.name === 'curl')!;
    expect(curl.properties.find((p) => p.name === 'berth:layer:index')?.value).toBe('1');
  });

  it('survives the round trip through protobuf binary unchanged', () => {
    const json = exported();
    const back = encodeBomJson(decodeBomBinary('1.6', encodeBomBinary(decodeBomJson('1.6', json))));
    expect(JSON.parse(JSON.stringify(back))).toEqual(json);
  });

  it('reads hostile inventories', () => {
    const ecosystems: Ecosystem[] = [
      'apk',
      'deb',
      'rpm',
      'npm',
      'pypi',
      'golang',
      'maven',
      'cargo',
    ];
    const text = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 16 }),
      fc.constantFrom('', '"', '\\', '@scope/x', 'g:a', 'MIT OR', 'GPL-2.0+', 'Ünï ✓'),
    );
    fc.assert(
      fc.property(
        fc.array(fc.record({ e: fc.constantFrom(...ecosystems), n: text, v: text, l: text }), {
          maxLength: 20,
        }),
        (rows) => {
          const inv = inventory(rows.map((r) => pkg(r.e, r.n, r.v, { license: r.l })));
          const bom = decodeBomJson('1.6', exported(inv));
          expect(bom.components.length).toBe(inv.packages.length + 1);
        },
      ),
      { numRuns: 100 },
    );
  });
});
