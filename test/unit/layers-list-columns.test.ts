// A layer listed in columns is the listing the tar parser gives entry by entry, for layers GNU
// tar builds (long and non-ASCII names, links, directories, a fifo, PAX and GNU formats), and
// the progress a listing sends along the way adds up to the whole index.
import { mkdir, mkdtemp, readFile, rm, symlink, link, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { toEntries, type EntryColumns } from '../../src/lib/layers/columns.ts';
import { listLayer, toFileEntry } from '../../src/lib/layers/read.ts';
import { TarParser, type TarEntry } from '../../src/lib/layers/tar.ts';
import { run } from './layers-tar-helpers.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-list-columns-'));
  const root = join(dir, 'root');
  await mkdir(join(root, 'etc', 'deep'), { recursive: true });
  for (let i = 0; i < 3000; i++) {
    const d = join(root, 'usr', `d${i % 40}`);
    await mkdir(d, { recursive: true });
    await writeFile(join(d, `file-${i}.txt`), 'x'.repeat(i % 700));
  }
  await writeFile(join(root, 'etc', 'caf\u00e9-\u{1F600}.conf'), 'unicode');
  await writeFile(join(root, 'etc', 'back\\slash'), 'b');
  await writeFile(join(root, 'etc', 'deep', 'n'.repeat(180)), 'long name');
  await symlink('../usr/d0/file-0.txt', join(root, 'etc', 'link'));
  await link(join(root, 'usr', 'd1', 'file-1.txt'), join(root, 'etc', 'hard'));
  await run('mkfifo', [join(root, 'etc', 'pipe')], dir);
  for (const format of ['gnu', 'pax']) {
    await run('tar', [`--format=${format}`, '-cf', `${format}.tar`, '-C', root, '.'], dir);
  }
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** What a listing held before it moved to columns: the parser's entries, one object each. */
function objects(tar: Uint8Array) {
  const out: ReturnType<typeof toFileEntry>[] = [];
  const parser = new TarParser({ onEntry: (e: TarEntry) => out.push(toFileEntry(e)) });
  parser.push(tar);
  parser.end();
  return out;
}

/** The tar as a stream of small chunks, as a decompressor hands them out. */
function chunked(tar: Uint8Array, size = 7000): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= tar.length) return c.close();
      c.enqueue(tar.slice(at, (at += size)));
    },
  });
}

describe('listing in columns', () => {
  for (const format of ['gnu', 'pax']) {
    test(`equals the entry-by-entry listing (${format} format)`, async () => {
      const tar = new Uint8Array(await readFile(join(dir, `${format}.tar`)));
      const want = objects(tar);
      expect(want.length).toBeGreaterThan(3000);
      expect(want.map((e) => e.type)).toEqual(expect.arrayContaining(['symlink', 'hardlink']));
      const listing = await listLayer(chunked(tar), { yieldMs: 0 });
      expect(listing.files.count).toBe(want.length);
      expect(toEntries(listing.files)).toEqual(want);
      expect(listing.uncompressedSize).toBe(tar.length);
    }, 30_000);
  }

  test('its progress batches, in order, are the whole index', async () => {
    const tar = new Uint8Array(await readFile(join(dir, 'pax.tar')));
    const seen: EntryColumns[][] = [];
    const listing = await listLayer(chunked(tar, 64 << 10), {
      yieldMs: 0,
      progressMs: 0,
      onProgress: (p) => seen.push(p.batches),
    });
    expect(seen.length).toBeGreaterThan(10);
    const sent = seen.flat();
    expect(sent.reduce((n, b) => n + b.count, 0)).toBe(listing.files.count);
    expect(toEntries({ count: listing.files.count, batches: sent })).toEqual(
      toEntries(listing.files),
    );
    // They are the caller's: none shares a buffer with the index, so they can be transferred.
    const kept = new Set(listing.files.batches.flatMap((b) => [b.pathEnds.buffer, b.sizes.buffer]));
    for (const b of sent)
      expect(kept.has(b.pathEnds.buffer) || kept.has(b.sizes.buffer)).toBe(false);
  }, 30_000);
});
