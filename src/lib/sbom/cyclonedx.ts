// CycloneDX 1.6 JSON from an image's inventory.
//
// Built as plain JSON rather than with @cyclonedx/cyclonedx-library's models and serialiser:
// the document is one flat list of components whose fields are all known here, the library
// would add its model classes and normaliser to the page's bundle for that, and it keeps
// nothing that the official schema (which the tests validate against, from that package) does
// not already check.
import type { InventoryPackage, Inventory } from '../packages/types.ts';
import {
  attribution,
  imagePurl,
  randomUuid,
  splitDigest,
  splitGroup,
  subjectName,
} from './common.ts';
import { classifyLicense } from './license.ts';
import type { SbomSubject } from './types.ts';

type Json = Record<string, unknown>;

/** CycloneDX's names for digest algorithms. */
const hashAlgorithms: Record<string, string> = {
  sha256: 'SHA-256',
  sha384: 'SHA-384',
  sha512: 'SHA-512',
};

function hashes(digest: string | undefined): Json[] {
  const d = digest ? splitDigest(digest) : undefined;
  const alg = d && hashAlgorithms[d.algorithm];
  return d && alg ? [{ alg, content: d.hex }] : [];
}

/** `licenses` of a component: an id, an expression, or the text as a name. */
export function cdxLicenses(text: string | undefined): Json[] | undefined {
  if (!text?.trim()) return undefined;
  const choice = classifyLicense(text);
  if (choice.kind === 'id') return [{ license: { id: choice.id } }];
  if (choice.kind === 'expression') return [{ expression: choice.expression }];
  return [{ license: { name: choice.text } }];
}

const props = (list: [string, string | undefined][]): Json[] =>
  list.filter(([, v]) => v !== undefined && v !== '').map(([name, value]) => ({ name, value }));

/** Berth's own facts about a package, as properties in the `berth:` namespace. */
function packageProperties(pkg: InventoryPackage, subject: SbomSubject): Json[] {
  const list: [string, string | undefined][] = [
    ['berth:package:ecosystem', pkg.ecosystem],
    ['berth:package:cataloger', pkg.cataloger],
    ['berth:package:location', pkg.location],
    ['berth:package:arch', pkg.arch],
    ['berth:package:source', pkg.source],
  ];
  const at = attribution(pkg, subject);
  if (at) {
    list.push(
      ['berth:layer:index', String(at.layer)],
      ['berth:layer:event', at.kind],
      ['berth:layer:digest', at.layerDigest],
      ['berth:layer:diffID', at.diffID],
      ['berth:history:createdBy', at.history],
    );
  }
  for (const [k, v] of Object.entries(pkg.extra ?? {})) list.push([`berth:package:extra:${k}`, v]);
  return props(list);
}

/** A bom-ref unique in the document: the purl, made unique when two packages share one (the
 * same npm package in two node_modules directories). */
function refMaker() {
  const used = new Set<string>();
  return (wanted: string) => {
    let ref = wanted;
    for (let n = 2; used.has(ref); n++) ref = `${wanted}#${n}`;
    used.add(ref);
    return ref;
  };
}

/** A CycloneDX 1.6 BOM (JSON) whose metadata.component is the image. The serial number is
 * random (UUID v4): CycloneDX asks for a new one for every BOM, even of the same content. */
export function toCycloneDX(inventory: Inventory, subject: SbomSubject): Record<string, unknown> {
  const ref = refMaker();
  const purl = imagePurl(subject);
  const imageHashes = hashes(subject.digest);
  const imageProps = props([
    ['berth:image:reference', subject.reference],
    ['berth:image:mediaType', subject.mediaType],
    [
      'berth:image:indexDigest',
      subject.rootDigest !== subject.digest ? subject.rootDigest : undefined,
    ],
    ['berth:image:configDigest', subject.configDigest],
    ['berth:image:os', subject.platform?.os],
    ['berth:image:architecture', subject.platform?.architecture],
    ['berth:image:variant', subject.platform?.variant],
  ]);
  const image: Json = {
    type: 'container',
    'bom-ref': ref(purl),
    name: subjectName(subject),
    version: subject.digest,
    purl,
    ...(imageHashes.length ? { hashes: imageHashes } : {}),
    ...(imageProps.length ? { properties: imageProps } : {}),
  };

  const components: Json[] = [];
  const os = inventory.os;
  if (os?.id) {
    components.push({
      type: 'operating-system',
      'bom-ref': ref(`os:${os.id}${os.versionId ? `@${os.versionId}` : ''}`),
      name: os.id,
      ...(os.versionId ? { version: os.versionId } : {}),
      ...(os.prettyName ? { description: os.prettyName } : {}),
      ...(os.like?.length ? { properties: props([['berth:os:like', os.like.join(' ')]]) } : {}),
    });
  }
  for (const pkg of inventory.packages) {
    const { group, name } = splitGroup(pkg);
    const licenses = cdxLicenses(pkg.license);
    const homepage = pkg.extra?.homepage;
    const list = packageProperties(pkg, subject);
    components.push({
      type: 'library',
      'bom-ref': ref(pkg.purl || `${pkg.ecosystem}:${pkg.name}@${pkg.version}`),
      ...(group ? { group } : {}),
      name,
      ...(pkg.version ? { version: pkg.version } : {}),
      ...(pkg.purl ? { purl: pkg.purl } : {}),
      ...(licenses ? { licenses } : {}),
      ...(homepage && /^https?:\/\/\S+$/.test(homepage)
        ? { externalReferences: [{ type: 'website', url: homepage }] }
        : {}),
      ...(list.length ? { properties: list } : {}),
    });
  }

  return {
    $schema: 'http://cyclonedx.org/schema/bom-1.6.schema.json',
    bomFormat: 'CycloneDX',
    specVersion: '1.6',
    serialNumber: `urn:uuid:${randomUuid()}`,
    version: 1,
    metadata: {
      timestamp: subject.created,
      tools: {
        components: [{ type: 'application', name: 'Berth', version: subject.toolVersion }],
      },
      component: image,
    },
    // No dependencies: the inventory knows what the image contains, not what needs what.
    components,
  };
}
