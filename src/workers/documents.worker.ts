// The documents worker: opens the SBOMs, attestations and signatures that referrers carry
// (src/lib/attest), apart from the other workers, so that parsing a 50 MB SBOM never holds up a
// listing or a download, and the page gets summaries and windows of rows.
import { DocumentService } from '../lib/attest/service.ts';
import type {
  DocumentRowsRequest,
  DocumentsApi,
  OpenDocumentRequest,
} from '../lib/attest/types.ts';
import { expose, type CallContext } from './rpc.ts';
import { store } from './store.ts';

const service = new DocumentService(async (digest) => (await store()).content.read(digest));

const api = {
  /** Reads a stored blob (at most 256 MiB) and keeps its parse; answers its summary. */
  openDocument: (req: OpenDocumentRequest, ctx: CallContext) =>
    service.openDocument(req, ctx.signal),
  /** A window of the document's package rows (at most 1000), filtered and sorted. */
  documentRows: (req: DocumentRowsRequest, _ctx: CallContext) => service.documentRows(req),
  /** A slice of the document's text for the raw view (at most 1 MiB of characters). */
  documentText: (req: { docId: number; start: number; limit: number }, _ctx: CallContext) =>
    service.documentText(req),
  closeDocument: (req: { docId: number }, _ctx: CallContext) => service.closeDocument(req),
} satisfies {
  [K in keyof DocumentsApi]: (
    arg: Parameters<DocumentsApi[K]>[0],
    ctx: CallContext,
  ) => ReturnType<DocumentsApi[K]>;
};

export type DocumentsWorkerApi = typeof api;

expose(api, self as unknown as Parameters<typeof expose>[1]);
