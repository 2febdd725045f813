import { describe, expect, test } from 'vitest';
import { wastedSpace } from '../../src/lib/layers/wasted.ts';
import { d, f } from './layers-entry-helpers.ts';

describe('wastedSpace', () => {
  test('three layers, checked by hand', () => {
    const layers = [
      [
        d('etc'),
        d('etc/nginx'),
        f('etc/nginx/nginx.conf', 2000),
        f('etc/nginx/public', 3000),
        f('big', 100),
      ],
      [d('etc'), d('etc/nginx'), f('etc/nginx/nginx.conf', 5000), f('etc/athing', 10000)],
      [d('etc'), f('etc/.wh.nginx'), f('.wh.big')],
    ];
    // Occurrences (leaves, plus whiteouts sized as dive sizes them):
    //   etc/nginx/nginx.conf 2000 + 5000   min 2000
    //   etc/nginx/public     3000          min 3000
    //   big                  100 + 0       min 0     (deleted file: a 0-byte whiteout)
    //   etc/athing           10000         min 10000
    //   etc/nginx            8000          min 8000  (whiteout of a dir: 5000 + 3000 below it)
    // efficiency = (2000 + 3000 + 0 + 10000 + 8000) / (7000 + 3000 + 100 + 10000 + 8000)
    const got = wastedSpace(layers);
    expect(got.efficiency).toBeCloseTo(23000 / 28100, 12);
    expect(got.wastedBytes).toBe(5100);
    expect(got.totalBytes).toBe(2000 + 3000 + 100 + 5000 + 10000);
    expect(got.files).toEqual([
      { path: 'etc/nginx/nginx.conf', count: 2, wasted: 5000, total: 7000 },
      { path: 'big', count: 2, wasted: 100, total: 100 },
    ]);
  });

  test('an opaque directory counts as the whiteouts it stands for', () => {
    const layers = [[d('cache'), f('cache/a', 40), f('cache/b', 60)], [f('cache/.wh..wh..opq')]];
    expect(wastedSpace(layers)).toEqual({
      files: [
        { path: 'cache/b', count: 2, wasted: 60, total: 60 },
        { path: 'cache/a', count: 2, wasted: 40, total: 40 },
      ],
      wastedBytes: 100,
      efficiency: 0,
      totalBytes: 100,
    });
  });

  test('a dangling whiteout does not stop the analysis of its layer (dive#715)', () => {
    const layers = [[f('data.bin', 4096)], [f('.wh.never-existed'), f('data.bin', 4096)]];
    const got = wastedSpace(layers);
    expect(got.efficiency).toBe(0.5);
    expect(got.files).toEqual([{ path: 'data.bin', count: 2, wasted: 4096, total: 8192 }]);
  });

  test('an image without repeated bytes scores 1', () => {
    expect(wastedSpace([[f('nothing', 0)], [], [d('empty')], [d('empty')]])).toEqual({
      files: [],
      wastedBytes: 0,
      efficiency: 1,
      totalBytes: 0,
    });
    expect(wastedSpace([[f('a', 1)], [f('b', 2)]]).efficiency).toBe(1);
  });
});
