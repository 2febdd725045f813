// Opening the documents that referrers and attestation manifests carry (SBOMs, in-toto
// statements, SLSA provenance, DSSE envelopes), in a worker of their own: a document can be
// tens of megabytes, so the page gets a summary and windows of rows, never the whole parse.

/** What a document is, as far as Berth can tell from its media type and its content. */
export type DocumentKind =
  | 'spdx'
  | 'cyclonedx'
  | 'in-toto'
  | 'slsa-provenance'
  | 'dsse'
  | 'cosign-simplesigning'
  | 'json'
  | 'text'
  | 'binary';

/** A package row of an SBOM, whichever its format. */
export interface SbomRow {
  name: string;
  version?: string;
  purl?: string;
  license?: string;
  supplier?: string;
  /** SPDX primaryPackagePurpose / CycloneDX component type. */
  type?: string;
}

/** The subject of an in-toto statement. */
export interface StatementSubject {
  name: string;
  digest: Record<string, string>;
}

/** SLSA provenance (v0.2 and v1), the parts people look for. */
export interface Provenance {
  slsaVersion: '0.2' | '1';
  builder?: string;
  buildType?: string;
  /** Where the build came from: repository URI and revision (configSource, or the v1
   * resolvedDependencies entry with a digest that the externalParameters name). */
  source?: { uri: string; digest?: Record<string, string> };
  materials: { uri: string; digest?: Record<string, string> }[];
  /** Build parameters (v0.2 invocation.parameters / v1 externalParameters), flattened to
   * dotted keys and text values. */
  parameters: [key: string, value: string][];
  invocationId?: string;
  startedOn?: string;
  finishedOn?: string;
}

export interface DocumentSummary {
  kind: DocumentKind;
  /** The format's own version: '2.3', '1.6', 'https://in-toto.io/Statement/v1', … */
  version?: string;
  /** A title: the SBOM's name, the predicate type, … */
  title?: string;
  /** Labelled facts shown above the table: creation time, tools, … */
  facts: [label: string, value: string][];
  /** For in-toto statements (bare or inside a DSSE envelope). */
  statement?: { predicateType: string; subjects: StatementSubject[] };
  /** For DSSE envelopes: the payload type and each signature's key id (not verified here). */
  envelope?: { payloadType: string; keyids: string[] };
  provenance?: Provenance;
  /** Rows of the SBOM's package table (0 when the document has none). */
  rows: number;
  /** What could not be read, in words. */
  problems: string[];
}

export interface OpenDocumentRequest {
  /** A blob in the content store, verified. */
  digest: string;
  size: number;
  mediaType: string;
  /** The manifest's artifactType or the layer's in-toto predicate-type annotation, a hint. */
  hint?: string;
}

export interface OpenedDocument {
  docId: number;
  summary: DocumentSummary;
}

export interface DocumentRowsRequest {
  docId: number;
  start: number;
  end: number;
  /** Substring, case-insensitive, over name, version, purl and licence. */
  query?: string;
  sort?: { by: 'name' | 'version' | 'license' | 'type'; descending?: boolean };
}

export interface DocumentRows {
  /** Rows matching the query. */
  count: number;
  start: number;
  rows: SbomRow[];
}

/** The documents worker's calls (see src/workers/documents.worker.ts). */
export interface DocumentsApi {
  openDocument(req: OpenDocumentRequest): Promise<OpenedDocument>;
  documentRows(req: DocumentRowsRequest): Promise<DocumentRows>;
  /** The document as text, pretty-printed when it is JSON (a DSSE payload decoded), from
   * character `start`, at most `limit` characters; `total` is the whole text's length. */
  documentText(req: {
    docId: number;
    start: number;
    limit: number;
  }): Promise<{ text: string; total: number }>;
  closeDocument(req: { docId: number }): Promise<void>;
}
