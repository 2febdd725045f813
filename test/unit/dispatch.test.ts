import { describe, expect, test } from 'vitest';
import { SkipDescriptor, dispatch, handlers } from '../../src/lib/pull/dispatch.ts';
import { alignHistory } from '../../src/lib/images/summary.ts';
import type { Descriptor } from '../../src/lib/oci/types.ts';

const d = (name: string): Descriptor => ({
  mediaType: 'application/x-test',
  digest: `sha256:${name.padEnd(64, '0')}`,
  size: 1,
});
const tree: Record<string, string[]> = { a: ['b', 'c', 'd'], b: ['e'], c: [], d: [], e: [] };
const nameOf = (x: Descriptor) => x.digest.slice(7, 8);

describe('dispatch', () => {
  test('walks every descriptor once, children after parents, under the limit', async () => {
    const seen: string[] = [];
    let running = 0;
    let peak = 0;
    await dispatch(
      async (x) => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 5));
        seen.push(nameOf(x));
        running--;
        return (tree[nameOf(x)] ?? []).map(d);
      },
      [d('a')],
      { limit: 2, signal: new AbortController().signal },
    );
    expect(seen.sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(peak).toBe(2);
  });

  test('SkipDescriptor skips a subtree without failing', async () => {
    const seen: string[] = [];
    await dispatch(
      async (x) => {
        if (nameOf(x) === 'b') throw new SkipDescriptor();
        seen.push(nameOf(x));
        return (tree[nameOf(x)] ?? []).map(d);
      },
      [d('a')],
      { limit: 3, signal: new AbortController().signal },
    );
    expect(seen.sort()).toEqual(['a', 'c', 'd']);
  });

  test('the first error cancels siblings and is the one thrown', async () => {
    let cancelled = 0;
    const run = dispatch(
      async (x, signal) => {
        if (nameOf(x) === 'a') return (tree.a ?? []).map(d);
        if (nameOf(x) === 'c') throw new Error('c failed');
        await new Promise((resolve, reject) => {
          const t = setTimeout(resolve, 1000);
          signal.addEventListener('abort', () => {
            clearTimeout(t);
            cancelled++;
            reject(signal.reason);
          });
        });
        return [];
      },
      [d('a')],
      { limit: 3, signal: new AbortController().signal },
    );
    await expect(run).rejects.toThrow('c failed');
    expect(cancelled).toBe(2);
  });

  test('handlers() concatenates children in order', async () => {
    const h = handlers(
      async () => [d('b')],
      async () => [],
      async () => [d('c')],
    );
    expect((await h(d('a'), new AbortController().signal)).map(nameOf)).toEqual(['b', 'c']);
  });
});

describe('alignHistory', () => {
  test('empty_layer entries take no layer', () => {
    const layers = [d('x'), d('y')];
    const rows = alignHistory(
      [
        { created_by: 'ADD rootfs' },
        { created_by: 'ENV A=1', empty_layer: true },
        { created_by: 'RUN make' },
        { created_by: 'CMD sh', empty_layer: true },
      ],
      layers,
    );
    expect(rows.map((r) => r.layerIndex)).toEqual([0, undefined, 1, undefined]);
    expect(rows[2]!.layer).toBe(layers[1]);
  });
});
