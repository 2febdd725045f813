// The tree model against the page's old pipeline (reference/treemodel-oracle.ts): random layers
// of hostile names, whiteouts, opaque markers and duplicates, every view, both sorts, with and
// without a search, every directory open or a random few.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { toColumns, toEntries } from '../../src/lib/layers/columns.ts';
import type { EntryType, IndexEntry } from '../../src/lib/layers/entry.ts';
import type { TreeModel, ViewSpec } from '../../src/lib/layers/model.ts';
import { buildTreeModel } from '../../src/lib/layers/treemodel.ts';
import { wastedSpaceOf } from '../../src/lib/layers/treemodel-wasted.ts';
import { wastedSpace } from '../../src/lib/layers/wasted.ts';
import { allDirs } from './reference/treemodel.ts';
import { entry } from './layers-entry-helpers.ts';
import {
  allPaths,
  oracleItems,
  oracleRows,
  oracleSelect,
  oracleTree,
} from './reference/treemodel-oracle.ts';

const names = [
  'a',
  'b',
  'B',
  '__proto__',
  'constructor',
  '.wh.a',
  '.wh.b',
  '.wh.__proto__',
  '.wh..wh..opq',
  '.wh..wh.plnk',
  '.wh...',
  '.wh..',
  '.',
  '..',
  '',
  '\n',
  'é',
];
const types: EntryType[] = ['file', 'dir', 'dir', 'symlink', 'hardlink', 'char'];
const sizes = [0, 1, 7, 1000, 2 ** 52, 2 ** 53 - 1, 2 ** 53 - 2];
const entryOver = (names: string[]) =>
  fc
    .record({
      parts: fc.array(fc.constantFrom(...names), { minLength: 1, maxLength: 4 }),
      type: fc.constantFrom(...types),
      size: fc.constantFrom(...sizes),
      lead: fc.constantFrom('', '/', './'),
      mode: fc.constantFrom(0o755, 0o700),
    })
    .map(({ parts, type, size, lead, mode }) =>
      entry(lead + parts.join('/'), type, type === 'file' ? size : 0, {
        mode,
        ...(type === 'symlink' || type === 'hardlink' ? { linkname: parts[0] } : {}),
      }),
    );
const someLayers = fc.array(fc.array(entryOver(names), { maxLength: 12 }), {
  minLength: 1,
  maxLength: 4,
});
// Few names, longer layers: consecutive entries share directories (the builder's shortcut for
// a path that starts like the one before), and replace, delete and recreate them.
const fewNames = ['a', 'b', '.wh.a', '.wh.b', '.wh..wh..opq', '.', ''];
const crowdedLayers = fc.array(fc.array(entryOver(fewNames), { maxLength: 24 }), {
  minLength: 1,
  maxLength: 3,
});
const queries = [
  '',
  'a',
  '/a',
  'B',
  '*',
  '**/a',
  'a/*',
  '.wh',
  '..',
  '\n',
  'b/**',
  '[ab]',
  '?',
  'Layer 1/a',
];

/** Opens every directory of the model, as a user clicking each closed one. */
function openAll(m: TreeModel) {
  for (let again = true; again;) {
    again = false;
    for (const r of m.rows(0, m.count)) {
      if (r.dir && !r.expanded) {
        m.toggle(r.path);
        again = true;
      }
    }
  }
}

async function compare(
  view: ViewSpec,
  layers: IndexEntry[][],
  changes: boolean,
  sort: 'name' | 'size',
  query: string,
  pick: number[],
) {
  const columns = layers.map((l) => toColumns(l));
  // The oracle reads the entries as the columns give them back (links as "" when absent).
  const entries = columns.map((c) => toEntries(c));
  const items = oracleItems(view, entries, changes);
  const want = await oracleTree(view, items, sort, query);
  const m = await buildTreeModel(view, columns, { changes });
  await m.sort(sort);
  await m.search(query);
  if (!want.searching) {
    // A few directories (and files) open, then all of them.
    const paths = allPaths(want.root);
    const open = new Set(pick.map((p) => paths[p % Math.max(1, paths.length)]!).filter(Boolean));
    for (const p of open) m.toggle(p);
    expect(m.rows(0, m.count)).toEqual(oracleRows(want, open));
    openAll(m);
    // A file opened stays "expanded", as the page's set of open paths kept it.
    for (const d of allDirs(want.root)) open.add(d);
    expect(m.rows(0, m.count)).toEqual(oracleRows(want, open));
    for (const p of open) if (!allDirs(want.root).has(p)) m.toggle(p);
  }
  const rows = oracleRows(want);
  expect(m.count).toBe(rows.length);
  expect(m.rows(0, m.count)).toEqual(rows);
  rows.forEach((r, i) => {
    expect(m.indexOf(r.path)).toBe(i);
    expect(m.select(r.path)).toEqual(oracleSelect(want, r.path));
  });
  for (let s = 0; s < rows.length; s += 3) expect(m.rows(s, s + 4)).toEqual(rows.slice(s, s + 4));
  expect(m.indexOf('no/such/path')).toBe(-1);
  expect(m.select('no/such')).toBeUndefined();
}

const aView = (layers: number) =>
  fc.oneof(
    fc.constant({ view: { kind: 'merged' } as ViewSpec, changes: true }),
    fc.constant({ view: { kind: 'all' } as ViewSpec, changes: true }),
    fc.record({
      view: fc.nat(layers - 1).map((index) => ({ kind: 'layer', index }) as ViewSpec),
      changes: fc.boolean(),
    }),
  );

const property = (layers: fc.Arbitrary<IndexEntry[][]>) =>
  fc.asyncProperty(
    layers.chain((layers) =>
      fc.record({
        layers: fc.constant(layers),
        v: aView(layers.length),
        sort: fc.constantFrom<('name' | 'size')[]>('name', 'size'),
        query: fc.constantFrom(...queries),
        pick: fc.array(fc.nat(), { maxLength: 4 }),
      }),
    ),
    async ({ layers, v, sort, query, pick }) => {
      await compare(v.view, layers, v.changes, sort, query, pick);
    },
  );

describe('the tree model equals the old pipeline', () => {
  test('on random layers, every view, sort and search', async () => {
    await fc.assert(property(someLayers), { seed: 14, numRuns: 600 });
  }, 300_000);

  test('on layers whose entries share directories', async () => {
    await fc.assert(property(crowdedLayers), { seed: 15, numRuns: 300 });
  }, 300_000);
});

describe('wastedSpaceOf equals wastedSpace', () => {
  test.each([
    ['random layers', someLayers, 16],
    ['layers whose entries share directories', crowdedLayers, 17],
  ] as const)(
    'on %s',
    async (_, layers, seed) => {
      await fc.assert(
        fc.asyncProperty(layers, async (layers) => {
          const columns = layers.map((l) => toColumns(l));
          const want = wastedSpace(columns.map((c) => toEntries(c)));
          expect(await wastedSpaceOf(columns)).toEqual(want);
        }),
        { seed, numRuns: 400 },
      );
    },
    300_000,
  );
});
