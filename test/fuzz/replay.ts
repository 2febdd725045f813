// Runs saved failures again and prints what each does now:
// `npx tsx test/fuzz/replay.ts test/fuzz/corpus/<target>/<hash>.json ...`
import { readFileSync } from 'node:fs';
import type { CorpusFile } from './corpus.ts';
import { decodeInput, loadTargets } from './targets.ts';

const targets = await loadTargets();
for (const file of process.argv.slice(2)) {
  const record = JSON.parse(readFileSync(file, 'utf8')) as CorpusFile;
  const target = targets.find((t) => t.name === record.target);
  if (!target) throw new Error(`${file}: no target ${record.target}`);
  const started = performance.now();
  let outcome = 'passes now';
  try {
    await target.run(decodeInput(JSON.stringify(record.input)));
  } catch (e) {
    outcome = `fails: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
  }
  const ms = (performance.now() - started).toFixed(0);
  console.log(`${file}: ${outcome} (${ms} ms; found as: ${record.error})`);
}
