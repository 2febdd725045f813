// The diff worker: two files' texts diffed line by line (jsdiff), apart from the page, so a
// long diff never holds a frame. One small job at a time; the page sends texts already bounded
// (text-diff.ts diffBound).
import { expose } from './rpc.ts';
import { textDiff, type TextDiff } from './text-diff.ts';

const api = {
  async diffText(arg: { a: string; b: string }): Promise<TextDiff> {
    return textDiff(arg.a, arg.b);
  },
};

export type DiffWorkerApi = typeof api;

expose(api, self as unknown as Parameters<typeof expose>[1]);
