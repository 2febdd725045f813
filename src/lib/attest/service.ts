// The documents worker's logic, apart from the worker so that Node tests run it on a real
// in-memory store: opens a stored blob once, keeps its parse, and answers windows of rows and
// slices of text, so that a 50 MB SBOM never crosses to the page whole.
import { kindFromType, parseDocument, type ParsedDocument } from './parse.ts';
import type {
  DocumentRows,
  DocumentRowsRequest,
  OpenDocumentRequest,
  OpenedDocument,
  SbomRow,
} from './types.ts';

/** The largest document opened: JSON.parse of a bigger one would need gigabytes in the worker. */
export const maxDocumentBytes = 256 * 1024 * 1024;
/** The most rows one documentRows call answers. */
export const maxRowsPerCall = 1000;
/** The most characters one documentText call answers. */
export const maxTextPerCall = 1024 * 1024;
/** Documents kept open: the least recently used is let go past this. */
export const maxOpenDocuments = 8;

/** The error a call fails with when the worker no longer holds its document (closed, let go,
 * or the worker restarted): the page opens it again. */
export class DocumentLostError extends Error {
  override name = 'DocumentLostError';
  constructor(docId: number) {
    super(`document ${docId} is no longer open`);
  }
}

interface Open {
  parsed: ParsedDocument;
  /** The rows of the last query and sort, as indexes into parsed.rows. */
  view?: { key: string; order: number[] };
  /** Lowercased text to search in, per row, made on the first query. */
  haystack?: string[];
  text?: string;
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

function formatSize(n: number): string {
  return n >= 1024 * 1024 ? `${(n / (1024 * 1024)).toFixed(0)} MiB` : `${n} bytes`;
}

export interface DocumentServiceOptions {
  maxBytes?: number;
}

export class DocumentService {
  readonly #read: (digest: string) => Promise<Blob>;
  readonly #maxBytes: number;
  readonly #docs = new Map<number, Open>();
  #next = 1;

  /** `read` gives a stored blob by digest (the content store's `content.read`). */
  constructor(read: (digest: string) => Promise<Blob>, opts: DocumentServiceOptions = {}) {
    this.#read = read;
    this.#maxBytes = opts.maxBytes ?? maxDocumentBytes;
  }

  async openDocument(req: OpenDocumentRequest, signal?: AbortSignal): Promise<OpenedDocument> {
    const blob = await this.#read(req.digest);
    signal?.throwIfAborted();
    let parsed: ParsedDocument;
    // The stored size decides, not the request's: the blob is what would be read.
    if (blob.size > this.#maxBytes) {
      parsed = {
        summary: {
          kind: kindFromType(req.hint) ?? kindFromType(req.mediaType) ?? 'binary',
          title: req.hint ?? req.mediaType,
          facts: [['Size', formatSize(blob.size)]],
          rows: 0,
          problems: [
            `The document is ${formatSize(blob.size)}: too big to open here (Berth opens documents up to ${formatSize(this.#maxBytes)}). Export the image to read it with another tool.`,
          ],
        },
        rows: [],
        text: () => undefined,
      };
    } else {
      const bytes = new Uint8Array(await blob.arrayBuffer());
      signal?.throwIfAborted();
      parsed = parseDocument(
        bytes,
        req.hint ? { mediaType: req.mediaType, hint: req.hint } : { mediaType: req.mediaType },
      );
    }
    const docId = this.#next++;
    this.#docs.set(docId, { parsed });
    while (this.#docs.size > maxOpenDocuments) this.#docs.delete(this.#docs.keys().next().value!);
    return { docId, summary: parsed.summary };
  }

  #get(docId: number): Open {
    const doc = this.#docs.get(docId);
    if (!doc) throw new DocumentLostError(docId);
    // Most recently used last: Map keeps insertion order.
    this.#docs.delete(docId);
    this.#docs.set(docId, doc);
    return doc;
  }

  async documentRows(req: DocumentRowsRequest): Promise<DocumentRows> {
    const doc = this.#get(req.docId);
    const rows = doc.parsed.rows;
    const query = req.query?.trim().toLowerCase() ?? '';
    const sort = req.sort;
    let order: number[] | undefined;
    if (query || sort) {
      const key = JSON.stringify([query, sort?.by, !!sort?.descending]);
      if (doc.view?.key !== key) doc.view = { key, order: this.#order(doc, query, sort) };
      order = doc.view.order;
    }
    const count = order ? order.length : rows.length;
    const start = Math.max(0, Math.min(Math.floor(req.start) || 0, count));
    const end = Math.max(start, Math.min(Math.floor(req.end) || 0, count, start + maxRowsPerCall));
    const out: SbomRow[] = [];
    for (let i = start; i < end; i++) out.push(rows[order ? order[i]! : i]!);
    return { count, start, rows: out };
  }

  #order(doc: Open, query: string, sort: DocumentRowsRequest['sort']): number[] {
    const rows = doc.parsed.rows;
    let order: number[] = [];
    if (query) {
      const hay = (doc.haystack ??= rows.map((r) =>
        [r.name, r.version, r.purl, r.license].filter(Boolean).join('\n').toLowerCase(),
      ));
      for (let i = 0; i < hay.length; i++) if (hay[i]!.includes(query)) order.push(i);
    } else order = rows.map((_, i) => i);
    if (sort) {
      const by = sort.by;
      const sign = sort.descending ? -1 : 1;
      // Rows without the field go last whichever the direction; ties keep the document's order.
      order.sort((a, b) => {
        const x = rows[a]![by];
        const y = rows[b]![by];
        if (x === undefined || y === undefined) {
          return x === y ? a - b : x === undefined ? 1 : -1;
        }
        return sign * collator.compare(x, y) || a - b;
      });
    }
    return order;
  }

  async documentText(req: {
    docId: number;
    start: number;
    limit: number;
  }): Promise<{ text: string; total: number }> {
    const doc = this.#get(req.docId);
    doc.text ??= doc.parsed.text() ?? '';
    const total = doc.text.length;
    const start = Math.max(0, Math.min(Math.floor(req.start) || 0, total));
    const limit = Math.max(0, Math.min(Math.floor(req.limit) || 0, maxTextPerCall));
    let end = Math.min(start + limit, total);
    // A slice never ends between the two halves of a surrogate pair: the page asks for the
    // next slice from start + text.length.
    const last = doc.text.charCodeAt(end - 1);
    if (end < total && end - start > 1 && last >= 0xd800 && last <= 0xdbff) end--;
    return { text: doc.text.slice(start, end), total };
  }

  async closeDocument(req: { docId: number }): Promise<void> {
    this.#docs.delete(req.docId);
  }
}
