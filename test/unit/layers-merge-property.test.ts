// The merge against a reference model: random small layers over names that are whiteouts,
// opaque markers, prototype keys, "." and "..", applied the way the OCI image-spec's layer.md
// ("Applying Changesets", "Whiteouts") says, in the plainest code that can say it.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { EntryType, IndexEntry } from '../../src/lib/layers/entry.ts';
import { layerChanges, mergeLayers } from '../../src/lib/layers/filesystem.ts';
import { buildTree } from './reference/tree.ts';
import { wastedSpace } from '../../src/lib/layers/wasted.ts';
import { entry } from './layers-entry-helpers.ts';

interface ModelEntry {
  entry: IndexEntry;
  layer: number;
  implicit: boolean;
}

const WH = '.wh.';
const META = '.wh..wh.';
const OPAQUE = '.wh..wh..opq';

/** "", "." and repeated "/" go; ".." stays a name (paths.ts). */
const normalise = (p: string) =>
  p
    .split('/')
    .filter((s) => s !== '' && s !== '.')
    .join('/');
const under = (path: string, dir: string) => dir === '' || path.startsWith(`${dir}/`);
const ancestors = (path: string) => {
  const parts = path.split('/');
  return parts.slice(0, -1).map((_, k) => parts.slice(0, k + 1).join('/'));
};

/** The merged filesystem as a Map from path to what is there, layer by layer. */
function referenceMerge(layers: IndexEntry[][]): Map<string, ModelEntry> {
  const fs = new Map<string, ModelEntry>();
  const removeTree = (path: string) => {
    for (const p of [...fs.keys()]) if (p === path || under(p, path)) fs.delete(p);
  };
  layers.forEach((entries, layer) => {
    const deletions: string[] = [];
    const opaques: string[] = [];
    const puts: [string, IndexEntry][] = [];
    for (const e of entries) {
      const path = normalise(e.path);
      const parts = path.split('/');
      const base = parts.pop()!;
      const dir = parts.join('/');
      // The name decides, whatever the entry's type (as containerd's Apply does): a directory
      // or character device named ".wh..wh..opq" is an opaque marker too.
      if (parts.some((s) => s.startsWith(META))) continue;
      if (base === OPAQUE) opaques.push(dir);
      else if (base.startsWith(META)) continue;
      else if (base.startsWith(WH)) {
        const name = base.slice(WH.length);
        if (name !== '' && name !== '.') deletions.push(dir === '' ? name : `${dir}/${name}`);
      } else if (path !== '') puts.push([path, e]);
    }
    // Whiteouts and opaque markers hide what the lower layers had, before this layer's entries.
    for (const dir of opaques) for (const p of [...fs.keys()]) if (under(p, dir)) fs.delete(p);
    for (const path of deletions) removeTree(path);
    for (const [path, e] of puts) {
      for (const a of ancestors(path)) {
        const there = fs.get(a);
        if (there && there.entry.type !== 'dir') fs.delete(a);
        if (!there || there.entry.type !== 'dir') {
          const synthetic: IndexEntry = {
            path: a,
            type: 'dir',
            size: 0,
            mode: 0o755,
            uid: 0,
            gid: 0,
            mtime: 0,
            offset: -1,
          };
          fs.set(a, { entry: synthetic, layer, implicit: true });
        }
      }
      const there = fs.get(path);
      // Directory over directory keeps the children; anything else replaces the whole path.
      if (!(there?.entry.type === 'dir' && e.type === 'dir')) removeTree(path);
      fs.set(path, { entry: e, layer, implicit: false });
    }
  });
  return fs;
}

const names = [
  'a',
  'b',
  '__proto__',
  'constructor',
  'hasOwnProperty',
  '.wh.a',
  '.wh.__proto__',
  '.wh.constructor',
  OPAQUE,
  '.wh...',
  '.wh..',
  '.',
  '..',
  '',
  '\n',
];
const types: EntryType[] = ['file', 'dir', 'symlink', 'char'];
const anEntry = fc
  .record({
    parts: fc.array(fc.constantFrom(...names), { minLength: 1, maxLength: 4 }),
    type: fc.constantFrom(...types),
    size: fc.nat(1000),
    lead: fc.constantFrom('', '/', './'),
  })
  .map(({ parts, type, size, lead }) =>
    entry(lead + parts.join('/'), type, type === 'file' ? size : 0),
  );
const someLayers = fc.array(fc.array(anEntry, { maxLength: 12 }), { minLength: 1, maxLength: 4 });

describe('mergeLayers agrees with a reference model of layer.md', () => {
  test('on random layers of hostile names', () => {
    fc.assert(
      fc.property(someLayers, (layers) => {
        const want = referenceMerge(layers);
        const got = mergeLayers(layers);
        const seen = new Set<string>();
        for (const m of got) {
          // Parents before children: every ancestor was listed already.
          for (const a of ancestors(m.path))
            expect(seen.has(a), `${a} before ${m.path}`).toBe(true);
          seen.add(m.path);
          const w = want.get(m.path);
          expect(w, `${JSON.stringify(m.path)} is in the model`).toBeDefined();
          expect({ entry: m.entry, layer: m.layer, implicit: !!m.implicit }).toEqual(w);
        }
        expect([...seen].sort()).toEqual([...want.keys()].sort());
        // Nothing else that reads layers throws on them.
        layerChanges(layers);
        wastedSpace(layers);
        buildTree(got);
        expect(Object.prototype).not.toHaveProperty('type');
        expect(Object.getPrototypeOf({})).toBe(Object.prototype);
      }),
      { seed: 13, numRuns: 1000 },
    );
  }, 60_000);
});
