// The progress rows of a pull: one per blob, with the download speed worked out on the page.
// Progress arrives faster than the page paints, so a pull's rows are published in batches.
import type { BlobProgress } from '../lib/pull/progress.ts';

export interface ProgressRow extends BlobProgress {
  /** Bytes per second while downloading, averaged since the download started. */
  speed: number;
  startedAt?: number;
  /** The offset the download started from (a resumed ingest starts past 0). */
  base?: number;
}

/** What a running pull reports into: `add` as events come, `flush` to show them now, `stop`
 * when the pull failed or was cancelled (blobs still under way are marked cancelled). */
export interface ProgressBatch {
  add(p: BlobProgress): void;
  flush(): void;
  stop(): void;
}

export class PullProgress {
  rows = $state.raw<ProgressRow[]>([]);

  /** Bytes received so far and in all, over the blobs known yet. */
  get totals(): { done: number; total: number } {
    let done = 0;
    let total = 0;
    for (const r of this.rows) {
      total += r.size;
      done += r.state === 'done' || r.state === 'exists' ? r.size : r.offset;
    }
    return { done, total };
  }

  /** Share of the bytes received, 0 to 1; null before any row. */
  get fraction(): number | null {
    if (this.rows.length === 0) return null;
    const { done, total } = this.totals;
    return total > 0 ? done / total : 0;
  }

  /** The rows by blob digest: the layer list shows each layer's download beside it. */
  get byDigest(): Record<string, ProgressRow> {
    return Object.fromEntries(this.rows.map((r) => [r.digest, r]));
  }

  /** Blobs downloaded (not found stored). */
  get fetched(): number {
    return this.rows.filter((r) => r.state === 'done').length;
  }

  clear() {
    this.rows = [];
  }

  /** One blob's progress, shown at once (a single layer being fetched). */
  update(p: BlobProgress) {
    const prev = this.rows.find((r) => r.ref === p.ref);
    this.rows = [...this.rows.filter((r) => r.ref !== p.ref), nextRow(prev, p)];
  }

  /** Starts a pull's rows afresh. Rows are published once per microtask through the $state.raw
   * field, from a plain accumulator, rather than being reactive themselves. */
  batch(): ProgressBatch {
    // eslint-disable-next-line svelte/prefer-svelte-reactivity -- local, published whole
    const rows = new Map<string, ProgressRow>();
    let scheduled = false;
    const flush = () => {
      scheduled = false;
      this.rows = [...rows.values()];
    };
    this.rows = [];
    return {
      add: (p) => {
        rows.set(p.ref, nextRow(rows.get(p.ref), p));
        if (!scheduled) {
          scheduled = true;
          queueMicrotask(flush);
        }
      },
      flush,
      stop: () => {
        for (const [ref, row] of rows) {
          if (!['done', 'exists', 'failed'].includes(row.state)) {
            rows.set(ref, { ...row, state: 'cancelled' });
          }
        }
        flush();
      },
    };
  }
}

/** A blob's next row: the speed is averaged from when its download started. */
export function nextRow(
  prev: ProgressRow | undefined,
  p: BlobProgress,
  now = performance.now(),
): ProgressRow {
  const startedAt = prev?.startedAt ?? (p.state === 'downloading' ? now : undefined);
  const base = prev?.startedAt !== undefined ? (prev.base ?? 0) : p.offset;
  const elapsed = startedAt !== undefined ? (now - startedAt) / 1000 : 0;
  const speed =
    p.state === 'downloading' && elapsed > 0.05 ? (p.offset - base) / elapsed : (prev?.speed ?? 0);
  return { ...p, speed, base, ...(startedAt !== undefined ? { startedAt } : {}) };
}
