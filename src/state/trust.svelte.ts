// The "Referrers and signatures" card of a stored image: what is attached to it (found and
// stored by the images worker), the one opened (its document, read by the documents worker in
// summaries and windows of rows, never whole on this thread), and signature verification (in
// the images worker). Keys and trust roots are kept only when the user asks.
import type { DocumentSummary, SbomRow } from '../lib/attest/types.ts';
import { messageOf } from '../lib/errors.ts';
import type { AttachedListing, AttachedReferrer } from '../lib/images/attached.ts';
import type { VerificationResult } from '../lib/signatures/types.ts';
import type { Connection } from '../lib/registry/transport.ts';
import type { DocumentsWorkerApi } from '../workers/documents.ts';
import type { ImagesWorkerApi } from '../workers/images.ts';
import type { VerifyMethod } from '../workers/images/trust.ts';
import type { Bridge } from './bridge.ts';

export type { AttachedReferrer, VerificationResult, VerifyMethod };

/** The documents worker's calls, as this state uses them. */
export type DocumentsCaller = Bridge<DocumentsWorkerApi>;

/** Where remembered keys and trust roots go, when the user asks (localStorage). */
export interface TrustStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

const rememberedKey = 'berth.trust';

/** Keys and trust roots the user asked to remember. */
export interface RememberedTrust {
  publicKey?: string;
  trustedRoot?: string;
  identity?: string;
  issuer?: string;
  notationRoots?: string[];
}

export interface TrustStateOptions {
  images: Bridge<ImagesWorkerApi>;
  /** The documents worker, made when a document is first opened. */
  documents?: () => DocumentsCaller;
  connection: () => Connection;
  storage?: TrustStorage;
}

/** A document opened from a referrer's blob. */
export interface OpenedDoc {
  referrer: string;
  blob: string;
  docId: number;
  summary: DocumentSummary;
}

/** Rows of an SBOM shown at once around the scroll position. */
export const rowWindow = 200;

export class TrustState {
  /** What is attached; null while unknown. */
  listing = $state.raw<AttachedListing | null>(null);
  loading = $state(false);
  error = $state<string | null>(null);
  /** The referrer whose detail is open. */
  selected = $state<string | null>(null);
  /** A blob being fetched, by digest, and how far it is. */
  fetching = $state<string | null>(null);
  fetched = $state.raw<{ offset: number; size: number } | null>(null);
  doc = $state.raw<OpenedDoc | null>(null);
  docError = $state<string | null>(null);
  /** The SBOM table: query, sort, matching count, and the window of rows read. */
  query = $state('');
  // Raw: it is posted to the worker as it is, and a proxy cannot be cloned.
  sort = $state.raw<{ by: 'name' | 'version' | 'license' | 'type'; descending?: boolean }>({
    by: 'name',
  });
  count = $state(0);
  rows = $state.raw<{ start: number; rows: SbomRow[] }>({ start: 0, rows: [] });
  /** The raw text of the open document (a slice), when asked for. */
  raw = $state.raw<{ text: string; total: number } | null>(null);
  /** Verification results by referrer digest. */
  results = $state.raw<Record<string, VerificationResult[] | { error: string }>>({});
  verifying = $state<string | null>(null);
  remembered = $state.raw<RememberedTrust>({});

  readonly #opts: TrustStateOptions;
  #name: string | undefined;
  #documents: DocumentsCaller | undefined;
  /** Counts requests so that a late answer for an older one is dropped. */
  #gen = 0;
  #rowsGen = 0;

  constructor(opts: TrustStateOptions) {
    this.#opts = opts;
    try {
      const saved = opts.storage?.getItem(rememberedKey);
      if (saved) this.remembered = JSON.parse(saved) as RememberedTrust;
    } catch {
      // unreadable: nothing remembered
    }
  }

  get referrers(): AttachedReferrer[] {
    return this.listing?.referrers ?? [];
  }

  get current(): AttachedReferrer | undefined {
    return this.referrers.find((r) => r.descriptor.digest === this.selected);
  }

  /** Shows what is attached to a stored image: from the store at once, then from the
   * registry (which stores what checks out) unless offline. */
  async load(name: string, online = true): Promise<void> {
    if (name !== this.#name) this.clear();
    this.#name = name;
    const gen = ++this.#gen;
    this.loading = true;
    this.error = null;
    try {
      const stored = await this.#opts.images.call('attached', {
        name,
        connection: this.#opts.connection(),
        online: false,
      });
      if (gen !== this.#gen) return;
      this.listing = stored;
      if (!online) return;
      const found = await this.#opts.images.call('attached', {
        name,
        connection: this.#opts.connection(),
        online: true,
      });
      if (gen === this.#gen) this.listing = found;
    } catch (e) {
      if (gen === this.#gen) this.error = messageOf(e);
    } finally {
      if (gen === this.#gen) this.loading = false;
    }
  }

  /** Forgets what was shown: another image, or none. */
  clear() {
    ++this.#gen;
    this.#name = undefined;
    this.loading = false;
    this.error = null;
    this.listing = null;
    this.selected = null;
    this.results = {};
    void this.#closeDoc();
  }

  async #closeDoc() {
    const d = this.doc;
    this.doc = null;
    this.docError = null;
    this.raw = null;
    this.rows = { start: 0, rows: [] };
    this.count = 0;
    this.query = '';
    if (d && this.#documents) await this.#documents.call('closeDocument', { docId: d.docId });
  }

  /** Opens a referrer's detail: its document when its blob is stored. */
  async select(digest: string | null): Promise<void> {
    await this.#closeDoc();
    this.selected = digest;
    const r = this.current;
    if (!r) return;
    const blob = documentBlob(r);
    if (blob?.stored) await this.openDocument(r, blob.descriptor.digest);
  }

  /** Fetches a blob of the open referrer that was left for later, then opens it. */
  async fetchBlob(blob: string): Promise<void> {
    const r = this.current;
    if (!r || !this.#name) return;
    this.fetching = blob;
    this.fetched = null;
    this.docError = null;
    try {
      await this.#opts.images.call(
        'fetchAttachedBlob',
        {
          name: this.#name,
          referrer: r.descriptor.digest,
          blob,
          connection: this.#opts.connection(),
        },
        { onEvent: (e) => (this.fetched = { offset: e.offset, size: e.size }) },
      );
      await this.load(this.#name, false);
      await this.openDocument(r, blob);
    } catch (e) {
      this.docError = messageOf(e);
    } finally {
      this.fetching = null;
      this.fetched = null;
    }
  }

  async openDocument(r: AttachedReferrer, blob: string): Promise<void> {
    const b = r.blobs.find((x) => x.descriptor.digest === blob);
    if (!b || !this.#opts.documents) {
      this.docError = 'Documents cannot be opened in this build.';
      return;
    }
    this.#documents ??= this.#opts.documents();
    const gen = ++this.#rowsGen;
    this.docError = null;
    try {
      const hint =
        b.descriptor.annotations?.['in-toto.io/predicate-type'] ?? r.artifactType ?? undefined;
      const opened = await this.#documents.call('openDocument', {
        digest: blob,
        size: b.descriptor.size,
        mediaType: b.descriptor.mediaType,
        ...(hint ? { hint } : {}),
      });
      if (gen !== this.#rowsGen || this.selected !== r.descriptor.digest) {
        await this.#documents.call('closeDocument', { docId: opened.docId });
        return;
      }
      this.doc = { referrer: r.descriptor.digest, blob, ...opened };
      this.count = opened.summary.rows;
      if (opened.summary.rows > 0) await this.readRows(0);
    } catch (e) {
      if (gen === this.#rowsGen) this.docError = messageOf(e);
    }
  }

  /** Reads the window of SBOM rows around `first`. */
  async readRows(first: number): Promise<void> {
    const d = this.doc;
    if (!d || !this.#documents) return;
    const gen = ++this.#rowsGen;
    const start = Math.max(0, first - rowWindow / 4);
    let got;
    try {
      got = await this.#documents.call('documentRows', {
        docId: d.docId,
        start,
        end: start + rowWindow,
        ...(this.query ? { query: this.query } : {}),
        sort: this.sort,
      });
    } catch (e) {
      if (gen === this.#rowsGen && this.doc === d) this.docError = messageOf(e);
      return;
    }
    if (gen !== this.#rowsGen || this.doc !== d) return;
    this.count = got.count;
    this.rows = { start: got.start, rows: got.rows };
  }

  setQuery(q: string) {
    this.query = q;
    void this.readRows(0);
  }

  sortBy(by: 'name' | 'version' | 'license' | 'type') {
    this.sort = { by, descending: this.sort.by === by ? !this.sort.descending : false };
    void this.readRows(0);
  }

  /** The open document as text, a slice at a time. */
  async showRaw(limit = 1 << 20): Promise<void> {
    const d = this.doc;
    if (!d || !this.#documents) return;
    const got = await this.#documents.call('documentText', { docId: d.docId, start: 0, limit });
    if (this.doc === d) this.raw = got;
  }

  hideRaw() {
    this.raw = null;
  }

  /** Verifies the signatures a referrer carries; `remember` keeps what was given. */
  async verify(digest: string, method: VerifyMethod, remember = false): Promise<void> {
    if (!this.#name) return;
    this.verifying = digest;
    try {
      const results = await this.#opts.images.call('verifySignature', {
        name: this.#name,
        referrer: digest,
        method,
      });
      this.results = { ...this.results, [digest]: results };
      if (remember) this.#remember(method);
    } catch (e) {
      this.results = { ...this.results, [digest]: { error: messageOf(e) } };
    } finally {
      this.verifying = null;
    }
  }

  #remember(m: VerifyMethod) {
    const next: RememberedTrust = { ...this.remembered };
    if (m.scheme === 'cosign-key') next.publicKey = m.publicKey;
    else if (m.scheme === 'cosign-keyless') {
      if (m.trustedRoot) next.trustedRoot = m.trustedRoot;
      if (m.identity) next.identity = m.identity;
      if (m.issuer) next.issuer = m.issuer;
    } else next.notationRoots = m.trustRoots;
    this.remembered = next;
    try {
      this.#opts.storage?.setItem(rememberedKey, JSON.stringify(next));
    } catch {
      // storage full or refused: remembered for this page only
    }
  }

  /** Forgets every remembered key and trust root. */
  forget() {
    this.remembered = {};
    try {
      this.#opts.storage?.removeItem(rememberedKey);
    } catch {
      // nothing to do
    }
  }
}

/** The blob of a referrer that holds its document: its first layer (an SBOM, a statement, an
 * envelope, a simple-signing payload). */
export function documentBlob(r: AttachedReferrer) {
  return r.blobs.find((b) => b.role === 'layer');
}

/** Whether a referrer is a signature to verify, and with which schemes. */
export function signatureSchemes(r: AttachedReferrer): VerifyMethod['scheme'][] {
  if (r.kind === 'cosign-signature') {
    const keyless = r.blobs.some(
      (b) => b.descriptor.annotations?.['dev.sigstore.cosign/certificate'] !== undefined,
    );
    return keyless ? ['cosign-keyless', 'cosign-key'] : ['cosign-key', 'cosign-keyless'];
  }
  if (r.kind === 'sigstore-bundle') return ['cosign-keyless', 'cosign-key'];
  if (r.kind === 'notation-signature') return ['notation'];
  return [];
}
