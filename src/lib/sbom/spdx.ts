// SPDX 2.3 JSON from an image's inventory.
import type { Inventory, InventoryPackage } from '../packages/types.ts';
import { attribution, imagePurl, randomUuid, splitDigest, subjectName } from './common.ts';
import { classifyLicense } from './license.ts';
import type { SbomSubject } from './types.ts';

type Json = Record<string, unknown>;

/** SPDX's names for digest algorithms. */
const checksumAlgorithms: Record<string, string> = {
  sha256: 'SHA256',
  sha384: 'SHA384',
  sha512: 'SHA512',
};

/** An SPDXID from any text: SPDX allows letters, digits, '.' and '-' after `SPDXRef-`. */
function idMaker(prefix: string) {
  const used = new Set<string>();
  return (wanted: string) => {
    const base = `${prefix}${wanted.replace(/[^A-Za-z0-9.-]+/g, '-').replace(/^-+|-+$/g, '') || 'x'}`;
    let id = base;
    for (let n = 2; used.has(id); n++) id = `${base}-${n}`;
    used.add(id);
    return id;
  };
}

/** Licences that are not SPDX expressions become LicenseRef-…, defined once each in
 * hasExtractedLicensingInfos with the text as the package declared it. */
class ExtractedLicenses {
  readonly #byText = new Map<string, string>();
  readonly #makeId = idMaker('LicenseRef-');
  readonly infos: Json[] = [];
  /** The LicenseRef-… names that expressions use as they are. */
  readonly #named = new Set<string>();

  /** The licenseDeclared value for a declared licence. */
  declared(text: string | undefined): string {
    if (!text?.trim()) return 'NOASSERTION';
    const choice = classifyLicense(text);
    if (choice.kind === 'id') return choice.id;
    if (choice.kind === 'expression') {
      // A LicenseRef the package names itself must still be defined in the document.
      for (const ref of choice.refs) {
        if (this.#named.has(ref)) continue;
        this.#named.add(ref);
        this.infos.push({
          licenseId: ref,
          extractedText: `The package declares "${text}"; its text is not in the image's metadata.`,
          name: ref.slice('LicenseRef-'.length),
        });
      }
      return choice.expression;
    }
    let id = this.#byText.get(text);
    if (!id) {
      do id = this.#makeId(text.slice(0, 60));
      while (this.#named.has(id));
      this.#byText.set(text, id);
      this.infos.push({ licenseId: id, extractedText: text, name: text });
    }
    return id;
  }
}

/** Where a package came from, in words: SPDX has no place for Berth's layer attribution but a
 * package's sourceInfo ("background information about the origin of the package"). */
function sourceInfo(pkg: InventoryPackage, subject: SbomSubject): string {
  const parts = [`read by Berth's ${pkg.cataloger} cataloger from /${pkg.location}`];
  const at = attribution(pkg, subject);
  if (at) {
    let layer = `${at.kind === 'added' ? 'added' : `${at.kind} to this version`} in layer ${at.layer}`;
    if (at.layerDigest) layer += ` (${at.layerDigest})`;
    if (at.history) layer += ` by the build step: ${at.history}`;
    parts.push(layer);
  }
  return parts.join('; ');
}

/** An SPDX 2.3 document (JSON) that DESCRIBES the image as its root package. The namespace is
 * unique per document (a random UUID), as SPDX requires. */
export function toSpdx(inventory: Inventory, subject: SbomSubject): Record<string, unknown> {
  const makeId = idMaker('SPDXRef-');
  const licenses = new ExtractedLicenses();
  const name = subjectName(subject);
  const imageId = makeId('Image');
  const d = splitDigest(subject.digest);
  const alg = d && checksumAlgorithms[d.algorithm];

  const image: Json = {
    name,
    SPDXID: imageId,
    versionInfo: subject.digest,
    downloadLocation: 'NOASSERTION',
    filesAnalyzed: false,
    primaryPackagePurpose: 'CONTAINER',
    ...(d && alg ? { checksums: [{ algorithm: alg, checksumValue: d.hex }] } : {}),
    externalRefs: [
      {
        referenceCategory: 'PACKAGE-MANAGER',
        referenceType: 'purl',
        referenceLocator: imagePurl(subject),
      },
    ],
    ...(subject.reference ? { comment: `The image ${subject.reference}` } : {}),
  };
  const packages: Json[] = [image];
  const relationships: Json[] = [
    {
      spdxElementId: 'SPDXRef-DOCUMENT',
      relationshipType: 'DESCRIBES',
      relatedSpdxElement: imageId,
    },
  ];
  const contains = (id: string) =>
    relationships.push({
      spdxElementId: imageId,
      relationshipType: 'CONTAINS',
      relatedSpdxElement: id,
    });

  const os = inventory.os;
  if (os?.id) {
    const id = makeId(`OperatingSystem-${os.id}`);
    packages.push({
      name: os.id,
      SPDXID: id,
      ...(os.versionId ? { versionInfo: os.versionId } : {}),
      downloadLocation: 'NOASSERTION',
      filesAnalyzed: false,
      primaryPackagePurpose: 'OPERATING_SYSTEM',
      ...(os.prettyName ? { description: os.prettyName } : {}),
    });
    contains(id);
  }
  for (const pkg of inventory.packages) {
    const id = makeId(`Package-${pkg.ecosystem}-${pkg.name}-${pkg.version}`);
    const homepage = pkg.extra?.homepage;
    packages.push({
      name: pkg.name,
      SPDXID: id,
      ...(pkg.version ? { versionInfo: pkg.version } : {}),
      downloadLocation: 'NOASSERTION',
      filesAnalyzed: false,
      licenseConcluded: 'NOASSERTION',
      licenseDeclared: licenses.declared(pkg.license),
      copyrightText: 'NOASSERTION',
      ...(pkg.source && pkg.source !== pkg.name
        ? { sourceInfo: `${sourceInfo(pkg, subject)}; built from the source package ${pkg.source}` }
        : { sourceInfo: sourceInfo(pkg, subject) }),
      ...(homepage && /^https?:\/\/\S+$/.test(homepage) ? { homepage } : {}),
      primaryPackagePurpose: 'LIBRARY',
      ...(pkg.purl
        ? {
            externalRefs: [
              {
                referenceCategory: 'PACKAGE-MANAGER',
                referenceType: 'purl',
                referenceLocator: pkg.purl,
              },
            ],
          }
        : {}),
    });
    contains(id);
  }

  const uuid = randomUuid();
  const docName = subject.reference ?? subject.digest;
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: docName,
    documentNamespace: `https://spdx.org/spdxdocs/berth-${encodeURIComponent(
      name.replace(/[^A-Za-z0-9._-]+/g, '-'),
    )}-${uuid}`,
    creationInfo: {
      created: subject.created,
      creators: [`Tool: Berth-${subject.toolVersion}`],
    },
    packages,
    relationships,
    ...(licenses.infos.length ? { hasExtractedLicensingInfos: licenses.infos } : {}),
  };
}
