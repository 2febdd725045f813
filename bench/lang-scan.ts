// How fast the streaming language catalogers (Go build info, cargo auditable) get through real
// executables, against reading the same files in the same chunks and doing nothing, and against
// `go version -m` on the same files. Files come from the page cache after the first run.
//
//   tsx bench/lang-scan.ts [--runs N] [DIR...]   (default /usr/bin)
//
// Nothing here asserts a timing: figures are reported, never enforced.
import { execFileSync } from 'node:child_process';
import { closeSync, lstatSync, openSync, readSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cargoCataloger } from '../src/lib/packages/cargo.ts';
import { goCataloger } from '../src/lib/packages/go.ts';
import type { Cataloger } from '../src/lib/packages/types.ts';

const { values, positionals } = parseArgs({
  options: { runs: { type: 'string', default: '3' } },
  allowPositionals: true,
});
const dirs = positionals.length ? positionals : ['/usr/bin'];
const CHUNK = 1 << 20;

const files: { path: string; size: number; mode: number }[] = [];
for (const dir of dirs)
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = lstatSync(path);
    if (st.isFile() && goCataloger.wants(path.slice(1), st.size, st.mode))
      files.push({ path, size: st.size, mode: st.mode });
  }
const total = files.reduce((n, f) => n + f.size, 0);

/** Reads every file in 1 MiB chunks, handing each to `use` until it answers false; returns
 * the bytes read. */
function pass(use?: (file: (typeof files)[number]) => (chunk: Uint8Array) => boolean): number {
  const buf = new Uint8Array(CHUNK);
  let read = 0;
  for (const file of files) {
    const push = use?.(file);
    const fd = openSync(file.path, 'r');
    try {
      for (;;) {
        const n = readSync(fd, buf, 0, CHUNK, null);
        if (n === 0) break;
        read += n;
        if (push && !push(buf.subarray(0, n))) break;
      }
    } finally {
      closeSync(fd);
    }
  }
  return read;
}

function scanning(c: Cataloger, found: { packages: number; binaries: number }) {
  return (file: (typeof files)[number]) => {
    const scan = c.scan!({ path: file.path.slice(1), size: file.size, mode: file.mode });
    let done = false;
    const finish = () => {
      const r = scan.finish() as { packages: unknown[] };
      found.packages += r.packages.length;
      if (r.packages.length) found.binaries++;
    };
    return (chunk: Uint8Array) => {
      if (done) return false;
      if (!scan.push(chunk)) {
        done = true;
        finish();
        return false;
      }
      return true;
    };
  };
}

function time<T>(f: () => T): [number, T] {
  const t = performance.now();
  const r = f();
  return [performance.now() - t, r];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const rows: Record<string, number[]> = { read: [], go: [], cargo: [], 'go version -m': [] };
const found = { go: { packages: 0, binaries: 0 }, cargo: { packages: 0, binaries: 0 } };
let goRead = 0;
pass(); // warm the page cache
for (let r = 0; r < Number(values.runs); r++) {
  rows.read!.push(time(() => pass())[0]);
  found.go = { packages: 0, binaries: 0 };
  const [goMs, bytes] = time(() => pass(scanning(goCataloger, found.go)));
  rows.go!.push(goMs);
  goRead = bytes;
  found.cargo = { packages: 0, binaries: 0 };
  rows.cargo!.push(time(() => pass(scanning(cargoCataloger, found.cargo)))[0]);
  rows['go version -m']!.push(
    time(() =>
      execFileSync('go', ['version', '-m', ...files.map((f) => f.path)], {
        maxBuffer: 64 << 20,
        stdio: ['ignore', 'pipe', 'ignore'],
      }),
    )[0],
  );
}
console.log(
  `${files.length} executables, ${(total / 2 ** 20).toFixed(0)} MiB in ${dirs.join(' ')}`,
);
console.log(
  `go: ${found.go.binaries} Go binaries, ${found.go.packages} packages; read ${(goRead / 2 ** 20).toFixed(0)} MiB of the files (it stops at the build info)`,
);
console.log(`cargo: ${found.cargo.binaries} binaries with .dep-v0`);
for (const [name, ms] of Object.entries(rows)) {
  const m = median(ms);
  console.log(
    `${name.padEnd(16)} ${m.toFixed(0).padStart(6)} ms  ${((total / 2 ** 20 / m) * 1000).toFixed(0).padStart(6)} MiB/s of the files`,
  );
}
