// Reading the documents that referrers and attestations carry: SPDX (JSON and tag-value) and
// CycloneDX SBOMs, in-toto statements bare or in a DSSE envelope, SLSA provenance, cosign's
// simple-signing payloads; anything else as JSON, text or binary. Pure: the documents worker
// (src/workers/documents.worker.ts) calls it on a blob's bytes and keeps the result.
//
// Documents are data from a registry: every field is checked for its type before use, and a
// field of the wrong type is a problem in the summary, never an exception.
import type {
  DocumentKind,
  DocumentSummary,
  Provenance,
  SbomRow,
  StatementSubject,
} from './types.ts';

/** What the worker keeps of a document: its summary, the rows of its package table, and its
 * text for the raw view (made when first asked for: pretty-printing a big SBOM costs). */
export interface ParsedDocument {
  summary: DocumentSummary;
  rows: SbomRow[];
  /** The document as text, pretty-printed when it is JSON; undefined for binary content. */
  text(): string | undefined;
}

export interface DocumentHints {
  mediaType: string;
  hint?: string;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** A digest set ({sha256: "…"}) with only its string values. */
function digestSet(v: unknown): Record<string, string> | undefined {
  if (!isObject(v)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return Object.keys(out).length ? out : undefined;
}

/** Media types and predicate types, to name what a document is before (or without) reading it. */
export function kindFromType(type: string | undefined): DocumentKind | undefined {
  if (!type) return undefined;
  const t = type.toLowerCase();
  if (t.includes('dsse.envelope')) return 'dsse';
  if (t.includes('spdx')) return 'spdx';
  if (t.includes('cyclonedx')) return 'cyclonedx';
  if (t.includes('slsa.dev/provenance')) return 'slsa-provenance';
  if (t.includes('in-toto')) return 'in-toto';
  if (t.includes('simplesigning')) return 'cosign-simplesigning';
  if (t.endsWith('json')) return 'json';
  if (t.startsWith('text/')) return 'text';
  return undefined;
}

const textDecoder = new TextDecoder('utf-8', { fatal: true });

/** Reads a document from its bytes. */
export function parseDocument(bytes: Uint8Array, hints: DocumentHints): ParsedDocument {
  let text: string;
  try {
    // A NUL in the first bytes is binary, whatever the decoder would make of it.
    if (bytes.subarray(0, 8192).includes(0)) throw new Error('binary');
    text = textDecoder.decode(bytes);
  } catch {
    return binary(bytes, hints);
  }
  return parseText(text, hints, bytes.byteLength);
}

function binary(bytes: Uint8Array, hints: DocumentHints): ParsedDocument {
  const head = [...bytes.subarray(0, 16)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  return {
    summary: {
      kind: 'binary',
      title: hints.mediaType,
      facts: [
        ['Size', `${bytes.byteLength} bytes`],
        ['Starts with', head || '(empty)'],
      ],
      rows: 0,
      problems: [],
    },
    rows: [],
    text: () => undefined,
  };
}

function parseText(text: string, hints: DocumentHints, size: number): ParsedDocument {
  const start = text.search(/\S/);
  const first = start < 0 ? '' : text[start];
  if (first === '{' || first === '[') {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      return plainText(text, hints, size, [`not valid JSON: ${(err as Error).message}`]);
    }
    return fromJson(value, text, hints, size);
  }
  if (/^\s*SPDXVersion:/m.test(text.slice(0, 4096))) return spdxTagValue(text);
  return plainText(text, hints, size, []);
}

function plainText(
  text: string,
  hints: DocumentHints,
  size: number,
  problems: string[],
): ParsedDocument {
  const lines = text.length === 0 ? 0 : text.split('\n', 1_000_001).length;
  return {
    summary: {
      kind: 'text',
      title: hints.mediaType,
      facts: [
        ['Size', `${size} bytes`],
        ['Lines', lines > 1_000_000 ? 'over a million' : String(lines)],
      ],
      rows: 0,
      problems,
    },
    rows: [],
    text: () => text,
  };
}

/** Pretty JSON for the raw view: the text itself when it is laid out already, else
 * re-serialised, once, when first asked for (and the source text let go). */
function prettyText(source: string, value: () => unknown): () => string {
  let pretty: string | undefined;
  let src: string | undefined = source;
  return () => {
    if (pretty === undefined) {
      const laidOut = /\n[ \t]+["{[\]}]/.test(src!.slice(0, 4096));
      try {
        pretty = laidOut ? src! : JSON.stringify(value(), null, 2);
      } catch {
        // Nested too deep for the serialiser's stack: the text as it came.
        pretty = src!;
      }
      src = undefined;
    }
    return pretty;
  };
}

/** What a JSON document is, by its shape (the media type is only a hint: registries and tools
 * label documents loosely). */
function fromJson(
  value: unknown,
  source: string,
  hints: DocumentHints,
  size: number,
): ParsedDocument {
  const problems: string[] = [];
  // Kept only until the raw view asks for the text; re-parsed from the source then.
  const text = prettyText(source, () => JSON.parse(source));
  if (isEnvelope(value)) return envelope(value, source, hints, problems);
  // A Sigstore bundle (cosign 3, GitHub attestations) carries its DSSE envelope inside.
  if (isObject(value) && str(value.mediaType)?.startsWith('application/vnd.dev.sigstore.bundle')) {
    const bundle =
      `Sigstore bundle ${(value.mediaType as string).replace(/^.*bundle\.?/, '').replace(/\+json.*$/, '')}`.trim();
    if (isEnvelope(value.dsseEnvelope)) {
      const opened = envelope(value.dsseEnvelope, source, hints, problems);
      opened.summary.facts.unshift(['Format', bundle]);
      return opened;
    }
    const facts: [string, string][] = [['Format', bundle]];
    if (isObject(value.messageSignature))
      facts.push(['Signs', 'a message digest (no DSSE payload)']);
    return { summary: { kind: 'json', title: bundle, facts, rows: 0, problems }, rows: [], text };
  }
  const read = readJsonDocument(value, hints, problems);
  if (read) return { ...read, text };
  return { summary: jsonSummary(value, hints, size, problems), rows: [], text };
}

/** A summary for JSON of no known kind. */
function jsonSummary(
  value: unknown,
  hints: DocumentHints,
  size: number,
  problems: string[],
): DocumentSummary {
  const facts: [string, string][] = [['Size', `${size} bytes`]];
  if (Array.isArray(value)) facts.push(['Top level', `an array of ${value.length}`]);
  else if (isObject(value)) {
    const keys = Object.keys(value);
    facts.push(['Top-level keys', keys.slice(0, 20).join(', ') + (keys.length > 20 ? ', …' : '')]);
  }
  return { kind: 'json', title: hints.hint ?? hints.mediaType, facts, rows: 0, problems };
}

/** An SBOM, statement or signing payload from parsed JSON; undefined when it is none. */
function readJsonDocument(
  value: unknown,
  hints: DocumentHints,
  problems: string[],
): Omit<ParsedDocument, 'text'> | undefined {
  if (!isObject(value)) return undefined;
  const type = str(value._type);
  if (type?.startsWith('https://in-toto.io/Statement/')) return statement(value, problems);
  if (typeof value.spdxVersion === 'string') return spdxJson(value, problems);
  if (value.bomFormat === 'CycloneDX') return cycloneDx(value, problems);
  if (isObject(value.critical) && isObject(value.critical.image)) return simpleSigning(value);
  // A bare predicate, named by the hint (an annotation or artifactType).
  if (kindFromType(hints.hint) === 'slsa-provenance') {
    const provenance = readProvenance(value, hints.hint!, problems);
    if (provenance) {
      return {
        summary: {
          kind: 'slsa-provenance',
          version: provenance.slsaVersion,
          title: 'SLSA provenance',
          facts: provenanceFacts(provenance),
          provenance,
          rows: 0,
          problems,
        },
        rows: [],
      };
    }
  }
  return undefined;
}

// --- DSSE --------------------------------------------------------------------------------

const isEnvelope = (v: unknown): v is Json =>
  isObject(v) && typeof v.payloadType === 'string' && 'payload' in v;

/** Standard or URL-safe base64 (DSSE accepts both) to bytes; undefined when it is neither. */
export function decodeBase64(s: string): Uint8Array | undefined {
  const clean = s.replace(/\s+/g, '').replace(/-/g, '+').replace(/_/g, '/');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean)) return undefined;
  const padded = clean + '='.repeat((4 - (clean.length % 4)) % 4);
  let bin: string;
  try {
    bin = atob(padded);
  } catch {
    return undefined;
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function envelope(
  value: Json,
  source: string,
  hints: DocumentHints,
  problems: string[],
): ParsedDocument {
  const payloadType = value.payloadType as string;
  const sigs = Array.isArray(value.signatures) ? value.signatures : [];
  if (!Array.isArray(value.signatures)) problems.push('the envelope has no signatures list');
  const keyids = sigs.map((s) => (isObject(s) && typeof s.keyid === 'string' ? s.keyid : ''));
  const env = { payloadType, keyids };
  const rawText = prettyText(source, () => JSON.parse(source));
  const payload = typeof value.payload === 'string' ? decodeBase64(value.payload) : undefined;
  let payloadText: string | undefined;
  if (!payload) problems.push('the payload is not base64');
  else {
    try {
      payloadText = textDecoder.decode(payload);
    } catch {
      problems.push(`the payload (${payload.byteLength} bytes) is not UTF-8 text`);
    }
  }
  const facts: [string, string][] = [
    ['Payload type', payloadType],
    ['Signatures', String(sigs.length)],
  ];
  const plain = (): ParsedDocument => ({
    summary: { kind: 'dsse', title: 'DSSE envelope', facts, envelope: env, rows: 0, problems },
    rows: [],
    // The payload decoded when it is text, else the envelope as it is.
    text: payloadText !== undefined ? () => payloadText : rawText,
  });
  if (payloadText === undefined) return plain();
  let inner: unknown;
  try {
    inner = JSON.parse(payloadText);
  } catch {
    if (/json/i.test(payloadType)) problems.push('the payload is not valid JSON');
    return plain();
  }
  const read = readJsonDocument(inner, hints, problems);
  const text = prettyText(payloadText, () => JSON.parse(payloadText!));
  if (!read) {
    return { ...plain(), text };
  }
  return {
    summary: { ...read.summary, envelope: env, facts: [...facts, ...read.summary.facts] },
    rows: read.rows,
    text,
  };
}

// --- in-toto -----------------------------------------------------------------------------

function statement(value: Json, problems: string[]): Omit<ParsedDocument, 'text'> {
  const version = value._type as string;
  const predicateType = str(value.predicateType) ?? '';
  if (!predicateType) problems.push('the statement has no predicateType');
  const subjects: StatementSubject[] = [];
  if (Array.isArray(value.subject)) {
    for (const s of value.subject) {
      if (!isObject(s)) continue;
      subjects.push({
        name: typeof s.name === 'string' ? s.name : '',
        digest: digestSet(s.digest) ?? {},
      });
    }
  } else problems.push('the statement has no subject list');
  if (subjects.length === 0) problems.push('the statement names no subject');
  const stmt = { predicateType, subjects };
  const facts: [string, string][] = [
    ['Predicate type', predicateType || '(none)'],
    ['Subjects', subjects.map(subjectText).join('\n') || '(none)'],
  ];

  let predicate: unknown = value.predicate;
  // cosign's older custom predicates wrap the document as a string: {Data: "…", Timestamp}.
  if (
    isObject(predicate) &&
    typeof predicate.Data === 'string' &&
    Object.keys(predicate).length <= 2
  ) {
    try {
      predicate = JSON.parse(predicate.Data);
    } catch {
      // Plain data: shown in the raw view.
    }
  }
  const kind = kindFromType(predicateType);
  let inner: Omit<ParsedDocument, 'text'> | undefined;
  if (isObject(predicate)) {
    if (kind === 'spdx' && typeof predicate.spdxVersion === 'string')
      inner = spdxJson(predicate, problems);
    else if (kind === 'cyclonedx' && predicate.bomFormat === 'CycloneDX')
      inner = cycloneDx(predicate, problems);
    else if (kind === 'slsa-provenance') {
      const provenance = readProvenance(predicate, predicateType, problems);
      if (provenance) {
        inner = {
          summary: {
            kind: 'slsa-provenance',
            version: provenance.slsaVersion,
            title: 'SLSA provenance',
            facts: provenanceFacts(provenance),
            provenance,
            rows: 0,
            problems,
          },
          rows: [],
        };
      }
    }
  } else if (predicate === undefined) problems.push('the statement has no predicate');
  if (kind && kind !== 'json' && kind !== 'in-toto' && !inner) {
    problems.push(`the predicate is not the ${predicateType} document it says it is`);
  }
  if (inner) {
    return {
      summary: { ...inner.summary, statement: stmt, facts: [...facts, ...inner.summary.facts] },
      rows: inner.rows,
    };
  }
  return {
    summary: {
      kind: 'in-toto',
      version,
      title: predicateType || 'in-toto statement',
      facts,
      statement: stmt,
      rows: 0,
      problems,
    },
    rows: [],
  };
}

function subjectText(s: StatementSubject): string {
  const d = Object.entries(s.digest).map(([k, v]) => `${k}:${v}`);
  return [s.name, ...d].filter(Boolean).join(' ');
}

// --- SLSA provenance ---------------------------------------------------------------------

const maxParameters = 2000;
const maxValueLength = 4000;
/** Deeper parameters are shown as JSON text under their dotted key. */
const maxDepth = 32;

/** Build parameters flattened to dotted keys and text values. */
function flatten(value: unknown, prefix: string, out: [string, string][], depth = 0) {
  if (out.length >= maxParameters) return;
  const deeper = depth < maxDepth;
  if (deeper && isObject(value) && Object.keys(value).length) {
    for (const [k, v] of Object.entries(value)) {
      flatten(v, prefix ? `${prefix}.${k}` : k, out, depth + 1);
    }
  } else if (
    deeper &&
    Array.isArray(value) &&
    value.length &&
    value.some((v) => isObject(v) || Array.isArray(v))
  ) {
    value.forEach((v, i) => flatten(v, `${prefix}[${i}]`, out, depth + 1));
  } else {
    let text: string;
    try {
      text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
    } catch {
      text = '(nested too deep to show)';
    }
    out.push([
      prefix || '(value)',
      text.length > maxValueLength ? `${text.slice(0, maxValueLength)}…` : text,
    ]);
  }
}

function materials(list: unknown): Provenance['materials'] {
  if (!Array.isArray(list)) return [];
  const out: Provenance['materials'] = [];
  for (const m of list) {
    if (!isObject(m)) continue;
    const uri = str(m.uri) ?? str(m.name);
    if (!uri) continue;
    const digest = digestSet(m.digest);
    out.push(digest ? { uri, digest } : { uri });
  }
  return out;
}

/** The repository a v1 build's external parameters name: `workflow.repository` (GitHub
 * Actions), `source` (a URI, or {uri}), `configSource.uri` (BuildKit). */
function namedSource(ext: Json): string | undefined {
  const workflow = isObject(ext.workflow) ? ext.workflow : undefined;
  if (workflow && str(workflow.repository)) return workflow.repository as string;
  if (str(ext.source)) return ext.source as string;
  if (isObject(ext.source) && str(ext.source.uri)) return ext.source.uri as string;
  if (isObject(ext.configSource) && str(ext.configSource.uri))
    return ext.configSource.uri as string;
  return undefined;
}

/** Strips a git+ prefix, a trailing .git and a @ref, to compare repository URIs. */
const repoKey = (uri: string) =>
  uri
    .replace(/^git\+/, '')
    .replace(/@.*$/, '')
    .replace(/\.git$/, '')
    .replace(/\/$/, '')
    .toLowerCase();

export function readProvenance(
  predicate: Json,
  predicateType: string,
  problems: string[],
): Provenance | undefined {
  if (/provenance\/v0\.[12]$/.test(predicateType)) {
    const builder = isObject(predicate.builder) ? str(predicate.builder.id) : undefined;
    const invocation = isObject(predicate.invocation) ? predicate.invocation : {};
    const config = isObject(invocation.configSource) ? invocation.configSource : undefined;
    const metadata = isObject(predicate.metadata) ? predicate.metadata : {};
    const parameters: [string, string][] = [];
    flatten(invocation.parameters, '', parameters);
    if (!builder) problems.push('the provenance names no builder');
    const source =
      config && str(config.uri)
        ? {
            uri: config.uri as string,
            ...(digestSet(config.digest) ? { digest: digestSet(config.digest)! } : {}),
          }
        : undefined;
    return {
      slsaVersion: '0.2',
      ...(builder ? { builder } : {}),
      ...(str(predicate.buildType) ? { buildType: predicate.buildType as string } : {}),
      ...(source ? { source } : {}),
      materials: materials(predicate.materials),
      parameters: invocation.parameters === undefined ? [] : parameters,
      ...(str(metadata.buildInvocationId)
        ? { invocationId: metadata.buildInvocationId as string }
        : {}),
      ...(str(metadata.buildStartedOn) ? { startedOn: metadata.buildStartedOn as string } : {}),
      ...(str(metadata.buildFinishedOn) ? { finishedOn: metadata.buildFinishedOn as string } : {}),
    };
  }
  if (/provenance\/v1(\.\d+)?$/.test(predicateType)) {
    const def = isObject(predicate.buildDefinition) ? predicate.buildDefinition : undefined;
    const run = isObject(predicate.runDetails) ? predicate.runDetails : {};
    if (!def) {
      problems.push('the provenance has no buildDefinition');
      return undefined;
    }
    const ext = isObject(def.externalParameters) ? def.externalParameters : {};
    const builder = isObject(run.builder) ? str(run.builder.id) : undefined;
    if (!builder) problems.push('the provenance names no builder');
    const metadata = isObject(run.metadata) ? run.metadata : {};
    const deps = materials(def.resolvedDependencies);
    const named = namedSource(ext);
    let source: Provenance['source'];
    if (named) {
      const match = deps.find((d) => d.digest && repoKey(d.uri) === repoKey(named));
      source = match ?? { uri: named };
    } else {
      source = deps.find((d) => d.digest);
    }
    const parameters: [string, string][] = [];
    flatten(ext, '', parameters);
    return {
      slsaVersion: '1',
      ...(builder ? { builder } : {}),
      ...(str(def.buildType) ? { buildType: def.buildType as string } : {}),
      ...(source ? { source } : {}),
      materials: deps,
      parameters: Object.keys(ext).length ? parameters : [],
      ...(str(metadata.invocationId) ? { invocationId: metadata.invocationId as string } : {}),
      ...(str(metadata.startedOn) ? { startedOn: metadata.startedOn as string } : {}),
      ...(str(metadata.finishedOn) ? { finishedOn: metadata.finishedOn as string } : {}),
    };
  }
  problems.push(`unknown provenance version ${predicateType}`);
  return undefined;
}

function provenanceFacts(p: Provenance): [string, string][] {
  const facts: [string, string | undefined][] = [
    ['SLSA version', p.slsaVersion],
    ['Builder', p.builder],
    ['Build type', p.buildType],
    [
      'Source',
      p.source
        ? [
            p.source.uri,
            ...Object.entries(p.source.digest ?? {}).map(([k, v]) => `${k}:${v}`),
          ].join(' ')
        : undefined,
    ],
    ['Invocation', p.invocationId],
    ['Started', p.startedOn],
    ['Finished', p.finishedOn],
    ['Materials', p.materials.length ? String(p.materials.length) : undefined],
  ];
  return facts.filter((f): f is [string, string] => f[1] !== undefined);
}

// --- cosign simple signing ---------------------------------------------------------------

function simpleSigning(value: Json): Omit<ParsedDocument, 'text'> {
  const critical = value.critical as Json;
  const image = critical.image as Json;
  const identity = isObject(critical.identity) ? critical.identity : {};
  const facts: [string, string][] = [];
  const push = (label: string, v: unknown) => {
    if (typeof v === 'string') facts.push([label, v]);
  };
  push('Image digest', image['docker-manifest-digest']);
  push('Identity', identity['docker-reference']);
  push('Type', critical.type);
  if (isObject(value.optional)) {
    for (const [k, v] of Object.entries(value.optional)) {
      facts.push([`Annotation ${k}`, typeof v === 'string' ? v : JSON.stringify(v)]);
    }
  }
  const problems =
    typeof image['docker-manifest-digest'] === 'string'
      ? []
      : ['the payload names no image digest'];
  return {
    summary: {
      kind: 'cosign-simplesigning',
      title: 'cosign signature payload',
      facts,
      rows: 0,
      problems,
    },
    rows: [],
  };
}

// --- SPDX --------------------------------------------------------------------------------

const noAssertion = (v: string | undefined) =>
  v && v !== 'NOASSERTION' && v !== 'NONE' ? v : undefined;

function spdxJson(doc: Json, problems: string[]): Omit<ParsedDocument, 'text'> {
  const version = (doc.spdxVersion as string).replace(/^SPDX-/, '');
  const rows: SbomRow[] = [];
  const packages = Array.isArray(doc.packages) ? doc.packages : [];
  if (doc.packages !== undefined && !Array.isArray(doc.packages))
    problems.push('packages is not a list');
  let unnamed = 0;
  for (const p of packages) {
    if (!isObject(p) || !str(p.name)) {
      unnamed++;
      continue;
    }
    let purl: string | undefined;
    if (Array.isArray(p.externalRefs)) {
      for (const r of p.externalRefs) {
        if (isObject(r) && r.referenceType === 'purl' && typeof r.referenceLocator === 'string') {
          purl = r.referenceLocator;
          break;
        }
      }
    }
    rows.push(
      rowOf(p.name as string, {
        version: str(p.versionInfo),
        purl,
        license: noAssertion(str(p.licenseDeclared)) ?? noAssertion(str(p.licenseConcluded)),
        supplier: noAssertion(str(p.supplier)),
        type: str(p.primaryPackagePurpose),
      }),
    );
  }
  if (unnamed) problems.push(`${unnamed} package${unnamed === 1 ? ' has' : 's have'} no name`);
  const info = isObject(doc.creationInfo) ? doc.creationInfo : {};
  const facts: [string, string][] = [];
  if (str(info.created)) facts.push(['Created', info.created as string]);
  if (Array.isArray(info.creators)) {
    const creators = info.creators.filter((c): c is string => typeof c === 'string');
    if (creators.length) facts.push(['Creators', creators.join('\n')]);
  }
  if (str(doc.documentNamespace)) facts.push(['Namespace', doc.documentNamespace as string]);
  facts.push(['Packages', String(rows.length)]);
  if (Array.isArray(doc.files)) facts.push(['Files', String(doc.files.length)]);
  return {
    summary: {
      kind: 'spdx',
      version,
      title: str(doc.name) ?? 'SPDX document',
      facts,
      rows: rows.length,
      problems,
    },
    rows,
  };
}

/** SPDX tag-value: `Tag: value` lines, `<text>…</text>` values over several lines; a
 * PackageName line starts a package. */
function spdxTagValue(text: string): ParsedDocument {
  const rows: SbomRow[] = [];
  const facts: [string, string][] = [];
  const problems: string[] = [];
  let version: string | undefined;
  let title: string | undefined;
  let row: SbomRow | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const m = /^([A-Za-z]+):\s?(.*)$/.exec(line);
    if (!m) continue;
    const tag = m[1]!;
    let value = m[2]!.trim();
    if (value.startsWith('<text>')) {
      const parts = [value.slice(6)];
      while (!parts.at(-1)!.includes('</text>') && i + 1 < lines.length) parts.push(lines[++i]!);
      value = parts.join('\n').replace(/<\/text>.*$/s, '');
    }
    switch (tag) {
      case 'SPDXVersion':
        version = value.replace(/^SPDX-/, '');
        break;
      case 'DocumentName':
        title = value;
        break;
      case 'Created':
        facts.push(['Created', value]);
        break;
      case 'Creator':
        facts.push(['Creator', value]);
        break;
      case 'DocumentNamespace':
        facts.push(['Namespace', value]);
        break;
      case 'PackageName':
        row = { name: value };
        rows.push(row);
        break;
      case 'PackageVersion':
        if (row && value) row.version = value;
        break;
      case 'PackageLicenseDeclared':
      case 'PackageLicenseConcluded':
        if (row && !row.license && noAssertion(value)) row.license = value;
        break;
      case 'PackageSupplier':
        if (row && noAssertion(value)) row.supplier = value;
        break;
      case 'PrimaryPackagePurpose':
        if (row) row.type = value;
        break;
      case 'ExternalRef': {
        const [, type, locator] = value.split(/\s+/);
        if (row && type === 'purl' && locator && !row.purl) row.purl = locator;
        break;
      }
      case 'FileName':
      case 'SnippetSPDXID':
        row = undefined;
        break;
    }
  }
  facts.push(['Packages', String(rows.length)]);
  return {
    summary: {
      kind: 'spdx',
      ...(version ? { version } : {}),
      title: title ?? 'SPDX document',
      facts,
      rows: rows.length,
      problems,
    },
    rows,
    text: () => text,
  };
}

// --- CycloneDX ---------------------------------------------------------------------------

function cdxLicense(c: Json): string | undefined {
  if (!Array.isArray(c.licenses)) return undefined;
  const out: string[] = [];
  for (const l of c.licenses) {
    if (!isObject(l)) continue;
    if (typeof l.expression === 'string') out.push(l.expression);
    else if (isObject(l.license)) {
      const v = str(l.license.id) ?? str(l.license.name);
      if (v) out.push(v);
    }
  }
  return out.length ? out.join(', ') : undefined;
}

function cdxSupplier(c: Json): string | undefined {
  if (isObject(c.supplier) && str(c.supplier.name)) return c.supplier.name as string;
  return str(c.publisher) ?? str(c.author);
}

function cycloneDx(doc: Json, problems: string[]): Omit<ParsedDocument, 'text'> {
  const rows: SbomRow[] = [];
  let unnamed = 0;
  // Components nest (a component's own components); walked with a stack, not recursion: a
  // hostile document may nest deeper than the call stack.
  const stack: unknown[][] = [];
  if (Array.isArray(doc.components)) stack.push(doc.components);
  else if (doc.components !== undefined) problems.push('components is not a list');
  while (stack.length) {
    const list = stack.pop()!;
    for (const c of list) {
      if (!isObject(c)) continue;
      if (Array.isArray(c.components)) stack.push(c.components);
      const name = str(c.name);
      if (!name) {
        unnamed++;
        continue;
      }
      const group = str(c.group);
      rows.push(
        rowOf(group ? `${group}${group.startsWith('@') ? '/' : ':'}${name}` : name, {
          version: str(c.version),
          purl: str(c.purl),
          license: cdxLicense(c),
          supplier: cdxSupplier(c),
          type: str(c.type),
        }),
      );
    }
  }
  if (unnamed) problems.push(`${unnamed} component${unnamed === 1 ? ' has' : 's have'} no name`);
  const meta = isObject(doc.metadata) ? doc.metadata : {};
  const facts: [string, string][] = [];
  if (str(doc.serialNumber)) facts.push(['Serial number', doc.serialNumber as string]);
  if (str(meta.timestamp)) facts.push(['Created', meta.timestamp as string]);
  const tools: string[] = [];
  // Tools are a list (1.2–1.4) or {components, services} (1.5+).
  const toolList = Array.isArray(meta.tools)
    ? meta.tools
    : isObject(meta.tools)
      ? [
          ...(Array.isArray(meta.tools.components) ? meta.tools.components : []),
          ...(Array.isArray(meta.tools.services) ? meta.tools.services : []),
        ]
      : [];
  for (const t of toolList) {
    if (isObject(t) && str(t.name))
      tools.push([str(t.vendor), t.name, str(t.version)].filter(Boolean).join(' '));
  }
  if (tools.length) facts.push(['Tools', tools.join('\n')]);
  let title: string | undefined;
  if (isObject(meta.component) && str(meta.component.name)) {
    const c = meta.component;
    title = c.name as string;
    facts.push(['Describes', [c.name, str(c.version)].filter(Boolean).join(' ')]);
  }
  facts.push(['Components', String(rows.length)]);
  return {
    summary: {
      kind: 'cyclonedx',
      ...(str(doc.specVersion) ? { version: doc.specVersion as string } : {}),
      title: title ?? 'CycloneDX BOM',
      facts,
      rows: rows.length,
      problems,
    },
    rows,
  };
}

/** An SBOM row with the fields that have a value (absent ones are left out, not undefined). */
function rowOf(name: string, fields: Omit<SbomRow, 'name'>): SbomRow {
  const row: SbomRow = { name };
  for (const key of ['version', 'purl', 'license', 'supplier', 'type'] as const) {
    const value = fields[key];
    if (value) row[key] = value;
  }
  return row;
}
