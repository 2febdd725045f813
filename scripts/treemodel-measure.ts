// Measures the tree model on a synthetic million-entry layer (1,000 directories of 1,000
// entries: files, some symlinks and hard links) and a layer that whites out 1,000 of them:
// heap per entry, build, sort, search, toggle and window times, and the longest time the event
// loop waited; then the old pipeline on the same shape at a smaller size (it needs far more
// memory). Run: node --expose-gc --import tsx scripts/treemodel-measure.ts [entries] [oracle]
import { ColumnsBuilder, toEntries, type ColumnIndex } from '../src/lib/layers/columns.ts';
import type { IndexEntry } from '../src/lib/layers/entry.ts';
import { mergeLayers } from '../src/lib/layers/filesystem.ts';
import { buildTree, sortTree } from '../test/unit/reference/tree.ts';
import { searchPaths } from '../test/unit/reference/search.ts';
import type { TreeModel } from '../src/lib/layers/model.ts';
import { buildTreeModel } from '../src/lib/layers/treemodel.ts';
import { wastedSpaceOf } from '../src/lib/layers/treemodel-wasted.ts';
import { wastedSpace } from '../src/lib/layers/wasted.ts';
import { flattenRows } from '../test/unit/reference/treemodel.ts';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const mem = () => {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

function layer(entries: number): ColumnIndex {
  const b = new ColumnsBuilder();
  const dirs = Math.ceil(entries / 1000);
  let offset = 0;
  const push = (e: Omit<IndexEntry, 'mode' | 'uid' | 'gid' | 'mtime' | 'offset'>) =>
    b.push({ mode: 0o644, uid: 0, gid: 0, mtime: 1700000000, offset: (offset += 512), ...e });
  push({ path: './', type: 'dir', size: 0 });
  push({ path: './usr/', type: 'dir', size: 0 });
  for (let d = 0; b.count < entries && d < dirs; d++) {
    const dir = `usr/share/d${d}`;
    push({ path: `./${dir}/`, type: 'dir', size: 0 });
    for (let f = 0; f < 1000 && b.count < entries; f++) {
      const path = `./${dir}/f${f}.txt`;
      if (f % 100 === 7) push({ path, type: 'symlink', size: 0, linkname: `f${f - 1}.txt` });
      else if (f % 100 === 9) push({ path, type: 'hardlink', size: 0, linkname: `${dir}/f0.txt` });
      else push({ path, type: 'file', size: (f * 37) % 4096 });
    }
  }
  return b.finish();
}

function whiteouts(n: number): ColumnIndex {
  const b = new ColumnsBuilder();
  for (let i = 0; i < n; i++) {
    b.push({
      path: `./usr/share/d${i}/.wh.f${i % 999}.txt`,
      type: 'file',
      size: 0,
      mode: 0,
      uid: 0,
      gid: 0,
      mtime: 0,
      offset: i * 512,
    });
  }
  return b.finish();
}

/** The longest the event loop waited between two turns while `work` ran. */
async function timed<T>(label: string, work: () => Promise<T>): Promise<T> {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 5);
  const t0 = performance.now();
  const out = await work();
  const ms = performance.now() - t0;
  clearInterval(timer);
  worst = Math.max(worst, performance.now() - last);
  console.log(`${label}: ${ms.toFixed(0)} ms (event loop waited at most ${worst.toFixed(0)} ms)`);
  return out;
}

const entries = Number(process.argv[2] ?? 1_000_000);
const oracleEntries = Number(process.argv[3] ?? 200_000);

const base = mem();
const big = layer(entries);
const wh = whiteouts(1000);
const indexed = mem();
console.log(
  `index: ${big.count} entries, ${mib(indexed - base)}, ${((indexed - base) / big.count).toFixed(0)} B/entry`,
);

let plain: TreeModel | undefined = await timed('plain tree (layer 1 as it is)', () =>
  buildTreeModel({ kind: 'layer', index: 0 }, [big], { changes: false }),
);
const afterPlain = mem();
console.log(
  `  model: ${((afterPlain - indexed) / big.count).toFixed(1)} B/entry (${mib(afterPlain - indexed)}), ${plain.count} rows`,
);
plain = undefined;
void plain;
const m = await timed('merged tree (layer 1 + 1,000 whiteouts)', () =>
  buildTreeModel({ kind: 'merged' }, [big, wh]),
);
const after = mem();
console.log(
  `  model: ${((after - indexed) / big.count).toFixed(1)} B/entry (${mib(after - indexed)}), ${m.count} rows`,
);
await timed('changes of layer 2 (1,000 deletions)', () =>
  buildTreeModel({ kind: 'layer', index: 1 }, [big, wh]),
);
await timed('changes of layer 1 (all added)', () =>
  buildTreeModel({ kind: 'layer', index: 0 }, [big]),
);
await timed('all layers view', () => buildTreeModel({ kind: 'all' }, [big, wh]));
await timed('wastedSpaceOf', () => wastedSpaceOf([big, wh]));
await timed('sort by size', () => m.sort('size'));
await timed('sort by name', () => m.sort('name'));
let t0 = performance.now();
m.toggle('usr');
m.toggle('usr/share');
m.toggle('usr/share/d500');
console.log(`3 toggles: ${(performance.now() - t0).toFixed(2)} ms, ${m.count} rows`);
t0 = performance.now();
const i = m.indexOf('usr/share/d998');
const rows = m.rows(i, i + 60);
console.log(
  `indexOf + 60 rows at ${i}: ${(performance.now() - t0).toFixed(2)} ms (${rows.length} rows)`,
);
await timed('search **/f999*', () => m.search('**/f999*'));
console.log(`  ${m.count} rows`);
await timed('search f99 (substring)', () => m.search('f99'));
console.log(
  `  ${m.count} rows, heap now ${((mem() - indexed) / big.count).toFixed(1)} B/entry above the index`,
);
await timed('search cleared', () => m.search(''));

// The old pipeline at a size it can hold.
const small = layer(oracleEntries);
const smallWh = whiteouts(1000);
const files = [toEntries(small), toEntries(smallWh)];
const before = mem();
const t1 = performance.now();
const merged = mergeLayers(files);
const root = buildTree(merged);
sortTree(root, 'name');
const rowsOld = flattenRows(root, new Set());
console.log(
  `old pipeline at ${small.count}: merged + tree + sort + rows ${(performance.now() - t1).toFixed(0)} ms, ${rowsOld.length} rows`,
);
const oldHeap = mem() - before;
console.log(
  `  ${mib(oldHeap)}, ${(oldHeap / small.count).toFixed(0)} B/entry (entries as objects not counted)`,
);
const t2 = performance.now();
const matches = await searchPaths(
  merged.map((x) => x.path),
  '**/f999*',
);
const r2 = buildTree(Array.from(matches, (k) => merged[k]!));
sortTree(r2, 'name');
console.log(`  search **/f999*: ${(performance.now() - t2).toFixed(0)} ms`);
const t4 = performance.now();
wastedSpace(files);
console.log(`  wastedSpace: ${(performance.now() - t4).toFixed(0)} ms`);
const t3 = performance.now();
const mSmall = await buildTreeModel({ kind: 'merged' }, [small, smallWh]);
console.log(
  `model at ${small.count}: merged ${(performance.now() - t3).toFixed(0)} ms, ${mSmall.count} rows`,
);
const t5 = performance.now();
await mSmall.search('**/f999*');
console.log(`  search **/f999*: ${(performance.now() - t5).toFixed(0)} ms, ${mSmall.count} rows`);
const t6 = performance.now();
await wastedSpaceOf([small, smallWh]);
console.log(`  wastedSpaceOf: ${(performance.now() - t6).toFixed(0)} ms`);
void root;
void merged;
