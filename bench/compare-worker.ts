// The compare case's worker (bench/compare.ts): two images' layer indexes made in memory, as
// the layers worker holds them once listed, then the files comparison timed, and the merged
// tree of one image (what opening it in the file browser builds) as the reference.
import { compareFiles, type FilesComparison, type FilesSide } from '../src/lib/compare/files.ts';
import { ColumnsBuilder, type ColumnIndex } from '../src/lib/layers/columns.ts';
import type { IndexEntry } from '../src/lib/layers/entry.ts';
import { buildTreeModel } from '../src/lib/layers/treemodel.ts';

export type CompareWorkerRequest =
  { op: 'prepare'; entries: number } | { op: 'compare' } | { op: 'decide' } | { op: 'reference' };

let a: FilesSide | undefined;
let b: FilesSide | undefined;
let kept: FilesComparison | undefined;

const pad = (n: number) => String(n).padStart(4, '0');

/** A layer of `dirs` directories of 1,000 files each, from directory `from` on. `change` picks
 * the files whose size differs in the rebuilt version; offsets follow the sizes, so a rebuilt
 * layer's entries sit at other offsets (same-size files there are pending until hashed). */
function layer(from: number, dirs: number, version: number, change = 0): ColumnIndex {
  const out = new ColumnsBuilder();
  let offset = 0;
  const push = (e: Omit<IndexEntry, 'mode' | 'uid' | 'gid' | 'mtime' | 'offset'>) => {
    out.push({ mode: e.type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, mtime: 0, offset, ...e });
    offset += 512 + Math.ceil(e.size / 512) * 512;
  };
  for (let d = from; d < from + dirs; d++) {
    push({ path: `usr/d${pad(d)}/`, type: 'dir', size: 0 });
    for (let f = 0; f < 999; f++) {
      const changed = change > 0 && (d * 1000 + f) % change === 0;
      push({
        path: `usr/d${pad(d)}/f${pad(f)}`,
        type: 'file',
        size: 100 + (f % 50) + (changed ? version : 0),
      });
    }
  }
  return out.finish();
}

/** A version's last layer: whiteouts of a few files, an opaque directory, files added. */
function upper(dirs: number): ColumnIndex {
  const out = new ColumnsBuilder();
  let offset = 0;
  const push = (path: string, type: IndexEntry['type'], size = 0) => {
    out.push({ path, type, size, mode: 0o644, uid: 0, gid: 0, mtime: 0, offset });
    offset += 512 + Math.ceil(size / 512) * 512;
  };
  for (let d = 0; d < dirs; d += 10) push(`usr/d${pad(d)}/.wh.f0001`, 'file');
  push(`usr/d${pad(dirs >> 1)}/.wh..wh..opq`, 'file');
  for (let i = 0; i < 1000; i++) push(`opt/new/f${pad(i)}`, 'file', 64);
  return out.finish();
}

self.onmessage = async (e: MessageEvent<CompareWorkerRequest>) => {
  const msg = e.data;
  const started = performance.now();
  if (msg.op === 'prepare') {
    // Three fifths in a base both share, the rest in a layer b rebuilt.
    const dirs = Math.max(2, Math.round(msg.entries / 1000));
    const base = Math.round(dirs * 0.6);
    const shared = layer(0, base, 1);
    a = { layers: [shared, layer(base, dirs - base, 1)], ids: ['base', 'app v1'] };
    b = {
      layers: [shared, layer(base, dirs - base, 2, 97), upper(dirs)],
      ids: ['base', 'app v2', 'cleanup'],
    };
    const entries = (s: FilesSide) => s.layers.reduce((n, l) => n + (l?.count ?? 0), 0);
    postMessage({ ms: performance.now() - started, a: entries(a), b: entries(b) });
  } else if (msg.op === 'compare') {
    kept = await compareFiles(a!, b!);
    postMessage({ ms: performance.now() - started, summary: kept.summary, rows: kept.count });
  } else if (msg.op === 'decide') {
    // What deciding costs without the reading: every pending file's digest made up.
    for (const reads of kept!.pendingReads()) {
      for (const f of reads.files) kept!.digests.set(kept!.keyOf(reads, f), `sha256:${f.size}`);
    }
    const t = performance.now();
    await kept!.decide();
    postMessage({ ms: performance.now() - t, summary: kept!.summary });
  } else {
    kept = undefined;
    const model = await buildTreeModel({ kind: 'merged' }, a!.layers);
    postMessage({ ms: performance.now() - started, rows: model.count });
  }
};
