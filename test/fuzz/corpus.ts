// Saved failures: test/fuzz/corpus/<target>/<hash>.json, each one minimised input that failed
// once, with how it was found. npm test replays every file as a regression test.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import prettier from 'prettier';
import { decodeInput, encodeInput } from './targets.ts';

export const corpusDir = join(import.meta.dirname, 'corpus');

export interface CorpusFile {
  target: string;
  /** fast-check's seed and path of the run that found it (random runs: replay with these). */
  seed?: number;
  path?: string;
  /** What went wrong when it was found: the error, or "hang" with the bound. */
  error: string;
  input: unknown;
}

/** Saves a failure; returns its file (named by the input's hash, so a repeat overwrites). */
export async function saveFailure(f: CorpusFile): Promise<string> {
  const json = encodeInput(f.input);
  const hash = createHash('sha256').update(json).digest('hex').slice(0, 16);
  const dir = join(corpusDir, f.target);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${hash}.json`);
  const record = { ...f, input: JSON.parse(json) as unknown };
  // In the project's formatting, so `npm run lint` passes with saved failures in the tree.
  const options = (await prettier.resolveConfig(file)) ?? {};
  writeFileSync(
    file,
    await prettier.format(JSON.stringify(record), { ...options, filepath: file }),
  );
  return file;
}

/** Every saved failure of a target, its input decoded. */
export function corpusOf(target: string): { file: string; input: unknown; error: string }[] {
  const dir = join(corpusDir, target);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const text = readFileSync(join(dir, f), 'utf8');
      const record = JSON.parse(text) as CorpusFile;
      return { file: f, input: decodeInput(JSON.stringify(record.input)), error: record.error };
    });
}
