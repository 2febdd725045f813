// What an image has installed: the packages its package databases and language manifests
// declare, and which layer (and history step) added, changed or removed each one.
//
// The contract between three parts that are built apart:
// - catalogers (os.ts: apk, dpkg, rpm; lang.ts: npm, Python, Go, Java, Rust) read one file each
//   and say what packages it declares;
// - the inventory (inventory.ts) picks the files from each layer's index, reads them in one pass
//   per layer through the layer's random access, runs the catalogers, and works out each
//   package's history across the layers;
// - the views (SBOM export, the packages table, the comparison) read an Inventory.

/** The package ecosystems Berth reads. The names are the purl types (purl-spec). */
export type Ecosystem = 'apk' | 'deb' | 'rpm' | 'npm' | 'pypi' | 'golang' | 'maven' | 'cargo';

/** One package as a cataloger read it from one file, before the inventory adds its purl. */
export interface PackageFacts {
  ecosystem: Ecosystem;
  /** The name as the package manager spells it (for maven `group:artifact`; for golang the
   * module path; for npm the scoped name `@scope/name`). */
  name: string;
  /** The version as the package manager spells it: for deb `[epoch:]upstream[-revision]`,
   * for rpm `[epoch:]version-release`, for apk `version-rN`. */
  version: string;
  /** The CPU architecture the package declares (deb `Architecture`, rpm `ARCH`, apk `A`). */
  arch?: string;
  /** The source package it was built from (deb `Source` without its version, rpm
   * `SOURCERPM`, apk `o`), when the database says. */
  source?: string;
  /** The licence as declared (an SPDX expression where the ecosystem uses them, else the text
   * as written); absent when the package declares none. */
  license?: string;
  /** Further facts worth showing or putting in an SBOM: deb Maintainer, rpm Vendor, the
   * package's homepage, a Go binary's go version, a jar's path inside a fat jar, … */
  extra?: Record<string, string>;
}

/** A file's bytes as a cataloger sees them: the whole file when it is at most the cataloger's
 * `maxBytes`; a file that is larger is not read (the inventory notes it as a problem). */
export interface CatalogFile {
  /** Path in the image, without a leading slash, as the layer index spells it. */
  path: string;
  size: number;
  mode: number;
  bytes: Uint8Array;
}

/** What a cataloger found in one file. `problems` say what it could not read, in words a user
 * understands ("var/lib/dpkg/status: stanza 12 has no Version"); a file that is not what its
 * name says gives problems, never an exception. */
export interface CatalogResult {
  packages: PackageFacts[];
  problems: string[];
}

/**
 * Reads one kind of file. `wants` is asked about every regular file of every layer, so it must
 * be cheap (no allocation for a miss). The inventory then reads each wanted file whole (at most
 * `maxBytes`), one layer at a time in offset order, and calls `read`.
 *
 * A cataloger that needs only part of a file (a Go binary's build info) may say so with `scan`:
 * the inventory then hands it the file's bytes chunk by chunk as the pass reaches them, and it
 * keeps what it needs; `read` is not called for it.
 */
export interface Cataloger {
  /** Short and stable: 'apk', 'dpkg', 'rpm', 'npm', 'python', 'go', 'java', 'cargo'. */
  id: string;
  wants(path: string, size: number, mode: number): boolean;
  /** The largest file read whole. */
  maxBytes: number;
  read?(file: CatalogFile): CatalogResult | Promise<CatalogResult>;
  scan?(file: Omit<CatalogFile, 'bytes'>): FileScan;
}

/** A file read as a stream (Cataloger.scan). */
export interface FileScan {
  /** The next chunk, in order. Answers false when it needs no more of this file. The chunk is
   * only lent: keep a copy of what is needed. */
  push(chunk: Uint8Array): boolean;
  /** Called once, after the last chunk pushed (or the first push that answered false). */
  finish(): CatalogResult | Promise<CatalogResult>;
}

/** The distribution the image says it is (etc/os-release or usr/lib/os-release), used for purl
 * qualifiers (`distro=debian-12`) and the SBOM. */
export interface OsRelease {
  id: string;
  versionId?: string;
  prettyName?: string;
  /** ID_LIKE, split. */
  like?: string[];
}

/** What happened to a package in one layer, found by reading that layer's own copy of the file
 * that declares it (and the layer's whiteouts). */
export interface PackageEvent {
  /** Index of the layer in the image's layer list (0 = the base). */
  layer: number;
  kind: 'added' | 'upgraded' | 'downgraded' | 'changed' | 'removed';
  /** The version before (upgraded, downgraded, changed, removed). */
  from?: string;
  /** The version after (added, upgraded, downgraded, changed). */
  to?: string;
}

/** A package of the image, with its history across the layers. */
export interface InventoryPackage extends PackageFacts {
  /** Package URL (purl-spec), e.g. `pkg:deb/debian/curl@7.88.1-10%2Bdeb12u5?arch=amd64&distro=debian-12`. */
  purl: string;
  /** The file that declares it, in the merged filesystem (no leading slash). */
  location: string;
  /** The cataloger that read it. */
  cataloger: string;
  /** Every layer that added, changed or removed it, in layer order. The last event says where
   * the package's present version came from (or, for a removed package, where it went). */
  events: PackageEvent[];
}

export interface InventoryProblem {
  layer: number;
  path: string;
  message: string;
}

export interface Inventory {
  /** The packages present in the merged filesystem, sorted by ecosystem, then name. */
  packages: InventoryPackage[];
  /** Packages some layer added and a later one removed: absent from the merged filesystem.
   * Their last event is the removal. */
  removed: InventoryPackage[];
  os?: OsRelease;
  problems: InventoryProblem[];
  /** The files read, for "what was looked at": per layer and path, how many packages each
   * declared. */
  sources: { layer: number; path: string; cataloger: string; packages: number }[];
}
