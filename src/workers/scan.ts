import { WorkerBridge, type WatchdogOptions } from './rpc.ts';
import type { ScanWorkerApi } from './scan.worker.ts';

export type { ScanWorkerApi };
export type {
  SearchEvent,
  SearchLayer,
  SearchRequest,
  SearchResult,
  SearchSummary,
  UnreadLayer,
} from './search-service.ts';

/** How long a cancelled scan may take to stop before its worker is replaced. */
export const scanCancelGraceMs = 2000;
/** A scan worker silent this long is stuck (a regular expression backtracking without end):
 * it is replaced, and its call fails. */
export const scanStuckMs = 3000;

/** The scan worker behind a watchdog (see scanStuckMs). */
export function createScanBridge(
  jobLimitMs: WatchdogOptions['jobLimitMs'],
): WorkerBridge<ScanWorkerApi> {
  return new WorkerBridge<ScanWorkerApi>(
    () =>
      new Worker(new URL('./scan.worker.ts', import.meta.url), {
        type: 'module',
        name: 'berth-scan',
      }),
    { jobLimitMs, cancelGraceMs: scanCancelGraceMs, stuckMs: scanStuckMs },
  );
}

export type {
  ScanConfig,
  SecretsEvent,
  SecretsLayer,
  SecretsPlan,
  SecretsReport,
} from './secrets-service.ts';
/** The error a secrets call fails with when the worker does not hold the scan. */
export const secretsLost = 'SecretsLostError';
