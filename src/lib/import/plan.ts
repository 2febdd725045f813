// What an archive holds, checked before anything is written: its images (named, with their
// platform manifests) and the blobs to store, each with where its bytes are in the archive.
// Manifests, indexes and configs are read, verified against their digests and parsed here;
// layers are only located and sized: their digests are checked as they are stored.
import { algorithmOf, digestBytes } from '../oci/hasher.ts';
import { MediaType, isConfig, isIndex, isManifest } from '../oci/mediatypes.ts';
import type { Descriptor, Manifest, Platform } from '../oci/types.ts';
import {
  InvalidImageConfigError,
  InvalidManifestError,
  type ParsedDocument,
  parseImageConfig,
} from '../oci/validate.ts';
import { maxDocumentBytes, maxIndexDepth, maxIndexManifests } from '../oci/limits.ts';
import { JsonError, parseJsonBounded } from '../json.ts';
import { childrenOf, parseDocument } from '../images/documents.ts';
import type { NewImage } from '../store/store.ts';
import { buildLegacyManifest, digestInName, parseDockerManifest } from './docker.ts';
import { ImportError } from './errors.ts';
import type { ArchiveMembers, Member } from './members.ts';
import { dockerImageNames, ociImageName } from './names.ts';

/** What the store already holds: blobs found there need not be in the archive. */
export interface StoredBlobs {
  info(digest: string): Promise<{ size: number } | undefined>;
  readBytes(digest: string): Promise<Uint8Array>;
}

/** A blob to store. */
export interface PlannedBlob {
  desc: Descriptor;
  /** Its bytes in the archive, or `bytes` for a document built here (a legacy manifest). */
  member?: Member;
  bytes?: Uint8Array;
  /** The error when its bytes hash to `actual` instead of its digest. */
  mismatch(actual: string): string;
}

export type PlannedImage = NewImage;

export interface Plan {
  format: 'oci' | 'docker';
  /** In index.json's (or manifest.json's) order; a name given twice keeps its last image. */
  images: PlannedImage[];
  /** Blobs not in the store yet, by digest. */
  blobs: Map<string, PlannedBlob>;
}

/** Reads the archive's index.json (an OCI layout, Docker 25+ included) or else its docker
 * manifest.json. */
export async function planImport(members: ArchiveMembers, stored: StoredBlobs): Promise<Plan> {
  try {
    if (members.get('index.json')) return await new OciPlanner(members, stored).plan();
    if (members.get('manifest.json')) return await planDocker(members, stored);
    throw new ImportError(
      'the archive holds no index.json or manifest.json: it is not an image archive',
    );
  } catch (err) {
    // Something missing from an archive that was cut short is not the archive's fault.
    if (err instanceof ImportError && !members.ended) {
      throw new ImportError(
        `${err.message}; the archive also ends without tar's end-of-archive blocks, so it ` +
          'is probably truncated: download or copy it again',
      );
    }
    throw err;
  }
}

const blobMismatch = (digest: string) => (actual: string) =>
  `blob ${digest} in the archive does not match its name (it hashes to ${actual})`;

function sizeMismatch(desc: Descriptor, size: number, parent: string, where: string) {
  return new ImportError(
    `blob ${desc.digest} ${where} is ${size} bytes, but ${parent} lists it as ${desc.size} bytes`,
  );
}

function invalid(what: string, err: unknown): never {
  if (err instanceof InvalidManifestError || err instanceof InvalidImageConfigError) {
    throw new ImportError(`${what} is not valid: ${err.message}`);
  }
  throw err;
}

function platformOf(config: { os: string; architecture: string; variant?: string }): Platform {
  const c = config as Platform;
  return {
    os: c.os,
    architecture: c.architecture,
    ...(c.variant ? { variant: c.variant } : {}),
    ...(c['os.version'] ? { 'os.version': c['os.version'] } : {}),
  };
}

/** The index's platform is the one users pick by; the config fills in what it leaves out. */
function mergePlatform(config?: Platform, index?: Platform): Platform | undefined {
  if (!config) return index;
  return index ? { ...config, ...index } : config;
}

function addImage(images: PlannedImage[], image: PlannedImage) {
  const i = images.findIndex((x) => x.name === image.name);
  if (i >= 0) images.splice(i, 1);
  images.push(image);
}

/** Where a blob's bytes are. */
type Located = { in: 'store'; size: number } | { in: 'archive'; member: Member };

class OciPlanner {
  readonly #members: ArchiveMembers;
  readonly #stored: StoredBlobs;
  readonly #blobs = new Map<string, PlannedBlob>();
  /** Manifests already walked, with the platform their config gives. */
  readonly #manifests = new Map<string, Platform | undefined>();

  constructor(members: ArchiveMembers, stored: StoredBlobs) {
    this.#members = members;
    this.#stored = stored;
  }

  async plan(): Promise<Plan> {
    const layout = this.#members.get('oci-layout');
    if (layout) {
      let version: unknown;
      const bytes = await this.#members.read(layout, 'oci-layout');
      try {
        const doc = parseJsonBounded(bytes, { what: 'oci-layout', maxBytes: maxDocumentBytes });
        version = (doc as Record<string, unknown> | null)?.imageLayoutVersion;
      } catch (e) {
        // Reported below.
        if (!(e instanceof JsonError)) throw e;
      }
      if (typeof version !== 'string') {
        throw new ImportError(
          'oci-layout is not an OCI image layout marker (no imageLayoutVersion)',
        );
      }
    }
    const bytes = await this.#members.read(this.#members.get('index.json')!, 'index.json');
    let doc: ParsedDocument;
    try {
      doc = parseDocument(bytes, { mediaType: MediaType.OciIndex });
    } catch (err) {
      return invalid('index.json', err);
    }
    if (doc.kind !== 'index')
      throw new ImportError('index.json is an image manifest, not an index');
    const images: PlannedImage[] = [];
    for (const entry of childrenOf(doc)) {
      // An OCI layout may hold other artifacts; only images are imported.
      if (!isIndex(entry.mediaType) && !isManifest(entry.mediaType)) continue;
      addImage(images, await this.#image(entry));
    }
    if (images.length === 0) {
      throw new ImportError(
        'index.json lists no image manifest or index: there is nothing to import',
      );
    }
    return { format: 'oci', images, blobs: this.#blobs };
  }

  /** The image record of one index.json entry. */
  async #image(entry: Descriptor): Promise<PlannedImage> {
    const name = ociImageName(entry);
    const doc = await this.#document(entry, 'index.json');
    if (!doc) {
      throw new ImportError(
        `${isIndex(entry.mediaType) ? 'index' : 'manifest'} ${entry.digest} listed by index.json is not in the archive`,
      );
    }
    const target: Descriptor = { mediaType: doc.mediaType, digest: entry.digest, size: entry.size };
    const pulledAt = Date.now();
    if (doc.kind === 'manifest') {
      const platform = await this.#manifest(target, doc.manifest);
      const merged = mergePlatform(platform, entry.platform);
      return {
        name,
        target,
        manifests: [
          { descriptor: { ...target, ...(merged ? { platform: merged } : {}) }, pulledAt },
        ],
      };
    }
    const { leaves, complete, listed } = await this.#index(target, doc, 0);
    if (leaves.length === 0) {
      throw new ImportError(
        `index ${entry.digest} lists ${listed} manifest${listed === 1 ? '' : 's'}, and none of them is in the archive`,
      );
    }
    return {
      name,
      target,
      manifests: leaves.map((descriptor) => ({ descriptor, pulledAt })),
      ...(complete ? { complete: true } : {}),
    };
  }

  /** The platform manifests of an index present in the archive or the store, nested indexes
   * flattened (a nested one's platform is inherited when a child has none, as a pull does). */
  async #index(
    desc: Descriptor,
    index: ParsedDocument,
    depth: number,
    inherited?: Platform,
  ): Promise<{ leaves: Descriptor[]; complete: boolean; listed: number }> {
    const parent = `index ${desc.digest}`;
    const leaves: Descriptor[] = [];
    let complete = true;
    let listed = 0;
    for (const child of childrenOf(index)) {
      if (isIndex(child.mediaType)) {
        if (depth + 1 >= maxIndexDepth) {
          throw new ImportError(
            `indexes nest deeper than ${maxIndexDepth} levels (at ${child.digest}); Berth refuses such images`,
          );
        }
        // A stored image's index is read whole when it is opened: nested ones must be here.
        const doc = await this.#document(child, parent);
        if (!doc) throw missing(child, parent);
        if (doc.kind !== 'index')
          throw new ImportError(
            `${child.digest} listed by ${parent} as an index is an image manifest`,
          );
        const nested = await this.#index(child, doc, depth + 1, child.platform ?? inherited);
        leaves.push(...nested.leaves);
        complete &&= nested.complete;
        listed += nested.listed;
        continue;
      }
      if (!isManifest(child.mediaType)) continue;
      listed++;
      if (listed > maxIndexManifests) {
        throw new ImportError(
          `the index holds more than ${maxIndexManifests} manifests; Berth refuses such images`,
        );
      }
      const doc = await this.#document(child, parent);
      if (!doc) {
        complete = false;
        continue;
      }
      if (doc.kind !== 'manifest')
        throw new ImportError(`${child.digest} listed by ${parent} as a manifest is an index`);
      const config = await this.#manifest(child, doc.manifest);
      const merged = mergePlatform(config, child.platform ?? inherited);
      if (!leaves.some((l) => l.digest === child.digest)) {
        leaves.push({ ...child, ...(merged ? { platform: merged } : {}) });
      }
    }
    return { leaves, complete, listed };
  }

  /** Checks an image manifest's config and layers; returns the config's platform, or
   * undefined for an artifact (a manifest whose config is not an image config). */
  async #manifest(desc: Descriptor, m: Manifest): Promise<Platform | undefined> {
    if (this.#manifests.has(desc.digest)) return this.#manifests.get(desc.digest);
    const parent = `manifest ${desc.digest}`;
    let platform: Platform | undefined;
    if (isConfig(m.config.mediaType)) {
      const bytes = await this.#small(
        m.config,
        parent,
        `the config ${m.config.digest} of ${parent}`,
      );
      if (!bytes) throw missing(m.config, parent);
      let config;
      try {
        config = parseImageConfig(bytes);
      } catch (err) {
        return invalid(`the config ${m.config.digest} of ${parent}`, err);
      }
      if (config.rootfs.diff_ids.length !== m.layers.length) {
        throw new ImportError(
          `${parent} has ${m.layers.length} layers, but its config lists ${config.rootfs.diff_ids.length} diffIDs: the image is broken`,
        );
      }
      platform = platformOf(config);
    } else {
      await this.#require(m.config, parent);
    }
    for (const layer of m.layers) await this.#require(layer, parent);
    this.#manifests.set(desc.digest, platform);
    return platform;
  }

  /** Finds a blob in the store or the archive, checking its size. */
  async #locate(desc: Descriptor, parent: string): Promise<Located | undefined> {
    const info = await this.#stored.info(desc.digest);
    if (info) {
      if (info.size !== desc.size) throw sizeMismatch(desc, info.size, parent, 'in the store');
      return { in: 'store', size: info.size };
    }
    const member = this.#members.blob(desc.digest);
    if (!member) return undefined;
    if (member.size !== desc.size) throw sizeMismatch(desc, member.size, parent, 'in the archive');
    return { in: 'archive', member };
  }

  /** A blob that must be present (foreign layers excepted): planned unless stored. */
  async #require(desc: Descriptor, parent: string): Promise<void> {
    if (this.#blobs.has(desc.digest)) return;
    const at = await this.#locate(desc, parent);
    if (!at) {
      if (desc.urls?.length) return;
      throw missing(desc, parent);
    }
    if (at.in === 'archive') {
      this.#blobs.set(desc.digest, {
        desc,
        member: at.member,
        mismatch: blobMismatch(desc.digest),
      });
    }
  }

  /** A small blob's verified bytes, planned unless stored; undefined when absent. */
  async #small(desc: Descriptor, parent: string, what: string): Promise<Uint8Array | undefined> {
    const at = await this.#locate(desc, parent);
    if (!at) return undefined;
    if (at.in === 'store') return this.#stored.readBytes(desc.digest);
    const bytes = await this.#members.read(at.member, what);
    const actual = await digestBytes(bytes, algorithmOf(desc.digest));
    if (actual !== desc.digest) throw new ImportError(blobMismatch(desc.digest)(actual));
    if (!this.#blobs.has(desc.digest)) {
      this.#blobs.set(desc.digest, {
        desc,
        member: at.member,
        mismatch: blobMismatch(desc.digest),
      });
    }
    return bytes;
  }

  /** A manifest or index, read and parsed; undefined when absent. */
  async #document(desc: Descriptor, parent: string): Promise<ParsedDocument | undefined> {
    const what = `${isIndex(desc.mediaType) ? 'index' : 'manifest'} ${desc.digest}`;
    const bytes = await this.#small(desc, parent, what);
    if (!bytes) return undefined;
    try {
      return parseDocument(bytes, desc);
    } catch (err) {
      return invalid(what, err);
    }
  }
}

function missing(desc: Descriptor, parent: string) {
  return new ImportError(`blob ${desc.digest} listed by ${parent} is not in the archive`);
}

/** A `docker save` archive in the legacy form: a schema2 manifest is built for each image. */
async function planDocker(members: ArchiveMembers, stored: StoredBlobs): Promise<Plan> {
  const entries = parseDockerManifest(
    await members.read(members.get('manifest.json')!, 'manifest.json'),
  );
  const blobs = new Map<string, PlannedBlob>();
  const images: PlannedImage[] = [];
  for (const entry of entries) {
    const configMember = members.get(entry.config);
    if (!configMember) {
      throw new ImportError(
        `the config ${entry.config} listed by manifest.json is not in the archive`,
      );
    }
    const configBytes = await members.read(configMember, `the config ${entry.config}`);
    const configDigest = await digestBytes(configBytes);
    const named = digestInName(entry.config);
    if (named && named !== configDigest) {
      throw new ImportError(
        `the config ${entry.config} in the archive does not match its name (it hashes to ${configDigest})`,
      );
    }
    let config;
    try {
      config = parseImageConfig(configBytes);
    } catch (err) {
      return invalid(`the config ${entry.config}`, err);
    }
    const diffIDs = config.rootfs.diff_ids;
    if (diffIDs.length !== entry.layers.length) {
      throw new ImportError(
        `manifest.json lists ${entry.layers.length} layers for ${entry.config}, but the config lists ${diffIDs.length} diffIDs: the image is broken`,
      );
    }
    const configDesc: Descriptor = {
      mediaType: MediaType.DockerConfig,
      digest: configDigest,
      size: configBytes.byteLength,
    };
    if (!(await stored.info(configDigest)) && !blobs.has(configDigest)) {
      blobs.set(configDigest, {
        desc: configDesc,
        member: configMember,
        mismatch: blobMismatch(configDigest),
      });
    }
    const layers: Descriptor[] = [];
    for (const [i, path] of entry.layers.entries()) {
      const diffID = diffIDs[i]!;
      const member = members.get(path);
      const info = await stored.info(diffID);
      if (!member) {
        const foreign = entry.layerSources[diffID];
        if (foreign) layers.push(foreign);
        else if (info)
          layers.push({ mediaType: MediaType.DockerLayer, digest: diffID, size: info.size });
        else
          throw new ImportError(`the layer ${path} listed by manifest.json is not in the archive`);
        continue;
      }
      const desc: Descriptor = {
        mediaType: MediaType.DockerLayer,
        digest: diffID,
        size: member.size,
      };
      if (info && info.size !== member.size) {
        throw new ImportError(
          `the layer ${path} is ${member.size} bytes, but the stored layer ${diffID} its config names is ${info.size}: the archive is damaged`,
        );
      }
      if (!info && !blobs.has(diffID)) {
        blobs.set(diffID, {
          desc,
          member,
          // Legacy layers are uncompressed: the blob's digest is its diffID.
          mismatch: (actual) =>
            `the layer ${path} hashes to ${actual}, but the image config lists ${diffID} for it ` +
            `(rootfs.diff_ids[${i}]): the archive is damaged, or the layer is not this image's`,
        });
      }
      layers.push(desc);
    }
    const manifest = await buildLegacyManifest(configDesc, layers);
    const target = manifest.descriptor;
    if (!(await stored.info(target.digest)) && !blobs.has(target.digest)) {
      blobs.set(target.digest, {
        desc: target,
        bytes: manifest.bytes,
        mismatch: blobMismatch(target.digest),
      });
    }
    const { names, invalid: bad } = dockerImageNames(entry.repoTags, configDigest);
    if (bad !== undefined) {
      throw new ImportError(
        `manifest.json names the image ${JSON.stringify(bad)}, which is not a valid image reference`,
      );
    }
    const descriptor = { ...target, platform: platformOf(config) };
    for (const name of names) {
      addImage(images, { name, target, manifests: [{ descriptor, pulledAt: Date.now() }] });
    }
  }
  return { format: 'docker', images, blobs };
}
