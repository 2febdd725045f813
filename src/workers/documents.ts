import { WorkerBridge, type WatchdogOptions } from './rpc.ts';
import type { DocumentsWorkerApi } from './documents.worker.ts';

export type { DocumentsWorkerApi };
export type {
  DocumentKind,
  DocumentRows,
  DocumentRowsRequest,
  DocumentSummary,
  OpenDocumentRequest,
  OpenedDocument,
  Provenance,
  SbomRow,
  StatementSubject,
} from '../lib/attest/types.ts';
export { maxDocumentBytes, maxRowsPerCall, maxTextPerCall } from '../lib/attest/service.ts';

/** The error a call fails with when the worker no longer holds the document (let go after
 * others were opened, or the worker was replaced): open it again. */
export const documentLost = 'DocumentLostError';

/** How long a cancelled call may take to stop before the worker is replaced. Parsing one
 * document does not yield, so this is the longest parse the page waits out after a cancel. */
export const documentsCancelGraceMs = 10_000;

/** The documents worker behind a watchdog: a document whose parse runs past `jobLimitMs` (the
 * setting) is stopped, and a worker that will not stop is replaced (its open documents are
 * then lost: calls on them fail with documentLost). */
export function createDocumentsBridge(
  jobLimitMs: WatchdogOptions['jobLimitMs'],
): WorkerBridge<DocumentsWorkerApi> {
  return new WorkerBridge<DocumentsWorkerApi>(
    () =>
      new Worker(new URL('./documents.worker.ts', import.meta.url), {
        type: 'module',
        name: 'berth-documents',
      }),
    { jobLimitMs, cancelGraceMs: documentsCancelGraceMs },
  );
}
