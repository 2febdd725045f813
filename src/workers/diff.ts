import { WorkerBridge } from './rpc.ts';
import type { DiffWorkerApi } from './diff.worker.ts';
import type { DiffLine, DiffPiece, DiffSkip, TextDiff } from './text-diff.ts';

export type { DiffLine, DiffPiece, DiffSkip, DiffWorkerApi, TextDiff };
export { diffBound, maxDiffLines } from './text-diff.ts';

/** The diff worker, started when a first diff is asked for (most comparisons open none). */
export function createDiffBridge(): WorkerBridge<DiffWorkerApi> {
  return new WorkerBridge<DiffWorkerApi>(
    () =>
      new Worker(new URL('./diff.worker.ts', import.meta.url), {
        type: 'module',
        name: 'berth-diff',
      }),
  );
}
