// How a comparison is put in words and figures on screen: a size delta, a path's difference,
// a config value. Pure: the components show what these return, as text.
import type {
  Aspect,
  CompareRow,
  ConfigDiff,
  Difference,
  FilesSummary,
  LayerMatch,
} from '../lib/compare/types.ts';
import type { DiffLine, DiffPiece } from '../workers/diff.ts';
import { formatBytes } from './format.ts';

/** A size change with its sign: "+1.2 kB", "−300 B", "±0 B". */
export function formatDelta(n: number): string {
  if (n === 0) return '±0 B';
  return `${n > 0 ? '+' : '−'}${formatBytes(Math.abs(n))}`;
}

export const aspectWords: Record<Aspect, string> = {
  type: 'type',
  content: 'content',
  mode: 'mode',
  owner: 'owner',
  link: 'link target',
};

export const differenceWords: Record<Difference, string> = {
  added: 'added',
  removed: 'removed',
  changed: 'changed',
  unchanged: 'unchanged',
};

/** A row's difference in words: "changed: content, mode", "maybe changed". */
export function rowBadge(row: Pick<CompareRow, 'difference' | 'aspects' | 'pending' | 'dir'>): {
  text: string;
  kind?: 'added' | 'deleted' | 'modified' | 'maybe';
} {
  if (row.pending) return { text: 'maybe changed', kind: 'maybe' };
  switch (row.difference) {
    case 'added':
      return { text: 'added', kind: 'added' };
    case 'removed':
      return { text: 'removed', kind: 'deleted' };
    case 'changed':
      return {
        text:
          row.aspects.length > 0
            ? `changed: ${row.aspects.map((a) => aspectWords[a]).join(', ')}`
            : row.dir
              ? 'changed below'
              : 'changed',
        kind: 'modified',
      };
    default:
      return { text: '' };
  }
}

/** A config value as text: strings as they are, the rest as JSON. */
export function configValue(v: unknown): string {
  if (v === undefined) return '';
  if (typeof v === 'string') return v;
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

/** A config difference's name: the field, with its key for Env, Labels, ports and volumes. */
export function configName(d: ConfigDiff): string {
  return d.key === undefined ? d.field : `${d.field} ${d.key}`;
}

/** The layers matched, counted by how. */
export function layerCounts(layers: LayerMatch[]): { digest: number; diffID: number } {
  let digest = 0;
  let diffID = 0;
  for (const m of layers) {
    if (m.by === 'digest') digest++;
    else if (m.by === 'diffID') diffID++;
  }
  return { digest, diffID };
}

/** The files summary in one sentence per kind. */
export function filesLines(s: FilesSummary): string[] {
  const n = (k: number, one = 'file') => `${k.toLocaleString('en')} ${one}${k === 1 ? '' : 's'}`;
  return [
    `${n(s.added.count)} added (${formatBytes(s.added.bytes)})`,
    `${n(s.removed.count)} removed (${formatBytes(s.removed.bytes)})`,
    `${n(s.changed.count)} changed (${formatBytes(s.changed.bytesBefore)} → ${formatBytes(s.changed.bytesAfter)})`,
    `${n(s.unchanged)} unchanged`,
    ...(s.pending > 0 ? [`${n(s.pending)} maybe changed: same size, not hashed yet`] : []),
  ];
}

/** A row of a side-by-side diff: a line of a on the left, of b on the right (a changed line
 * has both), or a count of unchanged lines not listed. */
export type SplitRow =
  { kind: 'lines'; left?: DiffLine; right?: DiffLine } | { kind: 'skip'; lines: number };

/** The diff's pieces side by side: each run of removed lines is paired, line by line, with
 * the run of added lines that follows it. */
export function splitRows(pieces: DiffPiece[]): SplitRow[] {
  const out: SplitRow[] = [];
  let dels: DiffLine[] = [];
  let adds: DiffLine[] = [];
  const flush = () => {
    for (let k = 0; k < Math.max(dels.length, adds.length); k++) {
      const left = dels[k];
      const right = adds[k];
      out.push({ kind: 'lines', ...(left ? { left } : {}), ...(right ? { right } : {}) });
    }
    dels = [];
    adds = [];
  };
  for (const p of pieces) {
    if (p.kind === 'del') {
      if (adds.length > 0) flush();
      dels.push(p);
    } else if (p.kind === 'add') adds.push(p);
    else {
      flush();
      out.push(p.kind === 'skip' ? p : { kind: 'lines', left: p, right: p });
    }
  }
  flush();
  return out;
}
