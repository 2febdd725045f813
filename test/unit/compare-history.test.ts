// Two histories aligned step by step: what counts as the same step, where they diverge, and
// how long, unrelated histories stay cheap.
import { describe, expect, test } from 'vitest';
import { compareHistories, maxHistoryEdits } from '../../src/lib/compare/history.ts';
import type { HistoryEntry } from '../../src/lib/oci/types.ts';

const step = (created_by: string, more: Partial<HistoryEntry> = {}): HistoryEntry => ({
  created: '2024-01-01T00:00:00Z',
  created_by,
  ...more,
});
const empty = (created_by: string) => step(created_by, { empty_layer: true });

/** Each step as `difference a/b createdBy`, to read a failure at a glance. */
const lines = (a: readonly unknown[], b: readonly unknown[]) =>
  compareHistories(a, b).steps.map(
    (s) => `${s.difference} ${s.a ?? '-'}/${s.b ?? '-'} ${s.createdBy}`,
  );

describe('compareHistories', () => {
  test('a step added in the middle', () => {
    const a = [step('ADD /'), empty('ENV A=1'), step('COPY app /app')];
    const b = [step('ADD /'), empty('ENV A=1'), step('RUN apk add x'), step('COPY app /app')];
    expect(lines(a, b)).toEqual([
      'unchanged 0/0 ADD /',
      'unchanged 1/1 ENV A=1',
      'added -/2 RUN apk add x',
      'unchanged 2/3 COPY app /app',
    ]);
    expect(compareHistories(a, b).divergesAt).toBe(2);
  });

  test('a step replaced is removed then added', () => {
    const a = [step('ADD /'), empty('ENV V=1'), step('COPY app /app')];
    const b = [step('ADD /'), empty('ENV V=2'), step('COPY app /app')];
    expect(lines(a, b)).toEqual([
      'unchanged 0/0 ADD /',
      'removed 1/- ENV V=1',
      'added -/1 ENV V=2',
      'unchanged 2/2 COPY app /app',
    ]);
    expect(compareHistories(a, b).divergesAt).toBe(1);
  });

  test('a step that differs only in its time is unchanged', () => {
    const a = [step('ADD /'), step('RUN make')];
    const b = [step('ADD /'), step('RUN make', { created: '2030-05-05T00:00:00Z' })];
    expect(lines(a, b)).toEqual(['unchanged 0/0 ADD /', 'unchanged 1/1 RUN make']);
    expect(compareHistories(a, b).divergesAt).toBe(-1);
  });

  test('a step whose comment differs is the same step, changed', () => {
    const a = [step('ADD /', { comment: 'buildkit.dockerfile.v0' }), step('RUN make')];
    const b = [step('ADD /', { comment: 'other' }), step('RUN make')];
    expect(lines(a, b)).toEqual(['changed 0/0 ADD /', 'unchanged 1/1 RUN make']);
    expect(compareHistories(a, b).divergesAt).toBe(0);
  });

  test('empty_layer is part of a step: the same command with and without a layer differ', () => {
    const a = [step('ADD /'), empty('RUN true')];
    const b = [step('ADD /'), step('RUN true')];
    expect(lines(a, b)).toEqual([
      'unchanged 0/0 ADD /',
      'removed 1/- RUN true',
      'added -/1 RUN true',
    ]);
  });

  test('b built on a: every later step is added', () => {
    const a = [step('ADD /'), empty('CMD ["sh"]')];
    const b = [...a, step('COPY . /app'), empty('CMD ["app"]')];
    expect(lines(a, b)).toEqual([
      'unchanged 0/0 ADD /',
      'unchanged 1/1 CMD ["sh"]',
      'added -/2 COPY . /app',
      'added -/3 CMD ["app"]',
    ]);
    expect(compareHistories(a, b).divergesAt).toBe(2);
  });

  test('identical histories do not diverge', () => {
    const a = [step('ADD /'), empty('ENV A=1'), step('RUN x')];
    const got = compareHistories(a, structuredClone(a));
    expect(got.steps.every((s) => s.difference === 'unchanged')).toBe(true);
    expect(got.divergesAt).toBe(-1);
  });

  test('empty histories', () => {
    expect(compareHistories([], [])).toEqual({ steps: [], divergesAt: -1 });
    expect(lines([], [step('ADD /')])).toEqual(['added -/0 ADD /']);
    expect(lines([step('ADD /')], [])).toEqual(['removed 0/- ADD /']);
    expect(compareHistories([step('ADD /')], []).divergesAt).toBe(0);
  });

  test('hostile steps: not objects, created_by not a string, no history at all', () => {
    const a: unknown[] = [null, 7, { created_by: 42 }, { created_by: 'RUN x', comment: {} }];
    const b: unknown[] = [{}, { created_by: 'RUN x' }];
    expect(() => compareHistories(a, b)).not.toThrow();
    // Steps without a command all read as an empty command with a layer.
    expect(lines(a, b)).toEqual([
      'unchanged 0/0 ',
      'removed 1/- ',
      'removed 2/- ',
      'unchanged 3/1 RUN x',
    ]);
    expect(compareHistories('nope' as unknown as [], { length: 3 } as unknown as [])).toEqual({
      steps: [],
      divergesAt: -1,
    });
  });

  test('every step of both appears once, in order', () => {
    const a = ['a', 'b', 'c', 'd', 'e', 'f'].map((s) => step(s));
    const b = ['b', 'x', 'c', 'f', 'e', 'y'].map((s) => step(s));
    const { steps } = compareHistories(a, b);
    expect(steps.flatMap((s) => (s.a === undefined ? [] : [s.a]))).toEqual([0, 1, 2, 3, 4, 5]);
    expect(steps.flatMap((s) => (s.b === undefined ? [] : [s.b]))).toEqual([0, 1, 2, 3, 4, 5]);
    // The longest common subsequence here is b, c, e (or b, c, f): three steps in both.
    expect(steps.filter((s) => s.difference === 'unchanged')).toHaveLength(3);
  });

  describe('long histories', () => {
    const long = (n: number, prefix: string) =>
      Array.from({ length: n }, (_, i) => step(prefix + i));

    test('two unrelated 10,000-step histories: the common prefix, then all removed and added', () => {
      const common = long(3, 'base ');
      const a = [...common, ...long(10_000, 'a ')];
      const b = [...common, ...long(10_000, 'b ')];
      const { steps, divergesAt } = compareHistories(a, b);
      expect(divergesAt).toBe(3);
      expect(steps).toHaveLength(3 + 20_000);
      expect(steps.slice(0, 3).every((s) => s.difference === 'unchanged')).toBe(true);
      expect(steps.slice(3, 10_003).every((s) => s.difference === 'removed')).toBe(true);
      expect(steps.slice(10_003).every((s) => s.difference === 'added')).toBe(true);
    });

    test('two 10,000-step histories that differ in a few steps are aligned exactly', () => {
      const a = long(10_000, 'step ');
      const b = [...a.slice(0, 5000), step('inserted'), ...a.slice(5000, 9000), ...a.slice(9001)];
      const got = compareHistories(a, b);
      expect(got.divergesAt).toBe(5000);
      const changed = got.steps.filter((s) => s.difference !== 'unchanged');
      expect(changed).toEqual([
        { difference: 'added', b: 5000, createdBy: 'inserted' },
        { difference: 'removed', a: 9000, createdBy: 'step 9000' },
      ]);
    });

    test('more edits than the bound falls back; fewer does not', () => {
      // Steps swapped in pairs: each swap is two edits, so n swaps need 2n edits.
      const swaps = (n: number) => {
        const a = long(2 * n, 's');
        const b = a.flatMap((_, i) => (i % 2 === 0 ? [a[i + 1]!, a[i]!] : []));
        return compareHistories(a, b).steps.filter((s) => s.difference === 'unchanged').length;
      };
      // Aligned: one of each pair is kept.
      expect(swaps(maxHistoryEdits / 4)).toBe(maxHistoryEdits / 4);
      // Past the bound: nothing after the (empty) common prefix is kept.
      expect(swaps(maxHistoryEdits)).toBe(0);
    });
  });
});
