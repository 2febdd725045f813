// The documents worker's logic on a real in-memory content store: a document is opened once,
// the page gets windows of rows and slices of text (bounded per call), a 50 MB SBOM opens, and
// one over the limit is refused with a message without being read.
import { createHash } from 'node:crypto';
import { createWriteStream, mkdtempSync, openAsBlob, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import {
  DocumentService,
  maxDocumentBytes,
  maxRowsPerCall,
  maxTextPerCall,
} from '../../src/lib/attest/service.ts';
import { memoryStore } from '../../src/lib/store/memory.ts';
import { toCycloneDX } from '../../src/lib/sbom/cyclonedx.ts';
import { toSpdx } from '../../src/lib/sbom/spdx.ts';
import type { InventoryPackage } from '../../src/lib/packages/types.ts';
import { inventory, pkg, sampleInventory, subject } from './sbom-helpers.ts';
import { rejection } from '../harness/berth.ts';

const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function stored(bytes: Uint8Array<ArrayBuffer>) {
  const store = memoryStore();
  const digest = sha(bytes);
  const w = await store.content.writer({
    ref: `doc-${digest}`,
    digest,
    size: bytes.byteLength,
    mediaType: 'application/json',
    source: 'registry.test/a/b',
  });
  await w.write(new Blob([bytes]));
  await w.commit();
  return {
    service: new DocumentService((d) => store.content.read(d)),
    digest,
    size: bytes.byteLength,
  };
}

const enc = new TextEncoder();
const mediaType = 'application/vnd.cyclonedx+json';

describe('one document', () => {
  it('opens from the store and answers windows of rows, a query and a sort', async () => {
    const bytes = enc.encode(JSON.stringify(toSpdx(sampleInventory(), subject)));
    const { service, digest, size } = await stored(bytes);
    const { docId, summary } = await service.openDocument({
      digest,
      size,
      mediaType: 'application/spdx+json',
    });
    expect(summary).toMatchObject({ kind: 'spdx', rows: 11 });

    const all = await service.documentRows({ docId, start: 0, end: 100 });
    expect(all.count).toBe(11);
    expect(all.rows.map((r) => r.name).slice(0, 3)).toEqual([
      'docker.io/library/debian',
      'debian',
      'curl',
    ]);
    const window = await service.documentRows({ docId, start: 2, end: 4 });
    expect(window).toEqual({ count: 11, start: 2, rows: all.rows.slice(2, 4) });

    // Over name, version, purl and licence, case-insensitive.
    const gpl = await service.documentRows({ docId, start: 0, end: 100, query: 'gpl' });
    expect(gpl.rows.map((r) => r.name)).toEqual(['libc6', 'busybox', 'bash']);
    const byPurl = await service.documentRows({ docId, start: 0, end: 100, query: 'PKG:NPM/LEFT' });
    expect(byPurl.count).toBe(2);

    // Numeric-aware; rows without the field last, whichever the direction.
    const byVersion = await service.documentRows({
      docId,
      start: 0,
      end: 100,
      sort: { by: 'version' },
    });
    const versions = byVersion.rows.map((r) => r.version);
    expect(versions.slice(0, 3)).toEqual(['1.3.0', '1.3.0', '1.36.1-r2']);
    expect(versions.at(-1)).toBeUndefined();
    const desc = await service.documentRows({
      docId,
      start: 0,
      end: 100,
      sort: { by: 'license', descending: true },
    });
    expect(desc.rows[0]!.license).toBe('WTFPL');
    expect(desc.rows.at(-1)!.license).toBeUndefined();

    // Out-of-range windows are clamped, never an error.
    expect(await service.documentRows({ docId, start: 50, end: 10 })).toEqual({
      count: 11,
      start: 11,
      rows: [],
    });
    expect((await service.documentRows({ docId, start: -5, end: 2 })).rows).toHaveLength(2);
  });

  it('gives the pretty-printed text in slices, and forgets a closed document', async () => {
    const doc = toCycloneDX(sampleInventory(), subject);
    const { service, digest, size } = await stored(enc.encode(JSON.stringify(doc)));
    const { docId } = await service.openDocument({ digest, size, mediaType });
    const pretty = JSON.stringify(doc, null, 2);
    let text = '';
    for (let start = 0; ;) {
      const slice = await service.documentText({ docId, start, limit: 1000 });
      expect(slice.total).toBe(pretty.length);
      if (!slice.text) break;
      text += slice.text;
      start += slice.text.length;
    }
    expect(text).toBe(pretty);
    await service.closeDocument({ docId });
    expect(await rejection(service.documentRows({ docId, start: 0, end: 1 }))).toMatchObject({
      name: 'DocumentLostError',
    });
  });

  it('never ends a text slice inside a surrogate pair', async () => {
    const { service, digest, size } = await stored(enc.encode('😀😀😀'));
    const { docId } = await service.openDocument({ digest, size, mediaType: 'text/plain' });
    const first = await service.documentText({ docId, start: 0, limit: 3 });
    expect(first).toEqual({ text: '😀', total: 6 });
  });

  it('lets go of the least recently used document past eight', async () => {
    const { service, digest, size } = await stored(enc.encode('{}'));
    const ids = [];
    for (let i = 0; i < 9; i++)
      ids.push((await service.openDocument({ digest, size, mediaType })).docId);
    expect(
      await rejection(service.documentText({ docId: ids[0]!, start: 0, limit: 1 })),
    ).toMatchObject({
      name: 'DocumentLostError',
    });
    expect(await service.documentText({ docId: ids[8]!, start: 0, limit: 10 })).toEqual({
      text: '{}',
      total: 2,
    });
  });
});

describe('big documents', () => {
  it('opens a 50 MB SBOM and answers bounded windows', async () => {
    // An inventory big enough that its CycloneDX export passes 50 MB.
    const packages: InventoryPackage[] = [];
    for (let i = 0; i < 47_000; i++) {
      packages.push(
        pkg('npm', `package-${i}`, `1.${i % 100}.${i}`, {
          license: i % 3 ? 'MIT' : 'Apache-2.0 OR MIT',
          location: `app/node_modules/package-${i}/package.json`,
          extra: { homepage: `https://example.test/package-${i}`, description: 'x'.repeat(100) },
        }),
      );
    }
    // Made in a function so that the bytes are let go once stored.
    const { service, digest, size } = await stored(
      enc.encode(JSON.stringify(toCycloneDX(inventory(packages), subject))),
    );
    expect(size).toBeGreaterThan(50 * 1000 * 1000);

    const t0 = performance.now();
    const { docId, summary } = await service.openDocument({ digest, size, mediaType });
    const openMs = performance.now() - t0;
    expect(summary).toMatchObject({ kind: 'cyclonedx', rows: 47_001, problems: [] });

    const huge = await service.documentRows({ docId, start: 0, end: 1e9 });
    expect(huge.count).toBe(47_001);
    expect(huge.rows).toHaveLength(maxRowsPerCall);
    const t1 = performance.now();
    const found = await service.documentRows({
      docId,
      start: 0,
      end: 50,
      query: 'package-4699',
      sort: { by: 'name', descending: true },
    });
    const queryMs = performance.now() - t1;
    // package-4699 and package-46990 … package-46999.
    expect(found.count).toBe(11);
    expect(found.rows[0]!.name).toBe('package-46999');
    const text = await service.documentText({ docId, start: 0, limit: 1e9 });
    expect(text.text.length).toBe(maxTextPerCall);
    expect(text.total).toBeGreaterThan(size);
    console.log(
      `50 MB SBOM (${(size / 1e6).toFixed(1)} MB): open ${openMs.toFixed(0)} ms, query+sort ${queryMs.toFixed(0)} ms`,
    );
  }, 120_000);

  it('refuses a document over the limit with a message, without reading it', async () => {
    // 300 MB of CycloneDX streamed to a file: never held in memory, not even once.
    const dir = mkdtempSync(join(tmpdir(), 'berth-big-sbom-'));
    try {
      const path = join(dir, 'big.cdx.json');
      const out = createWriteStream(path);
      const component = JSON.stringify({ type: 'library', name: 'x'.repeat(900), version: '1' });
      const line = `${component},`.repeat(1000);
      out.write('{"bomFormat":"CycloneDX","specVersion":"1.6","components":[');
      let written = 0;
      while (written < 300 * 1000 * 1000) {
        if (!out.write(line)) await once(out, 'drain');
        written += line.length;
      }
      out.write(`${component}]}`);
      out.end();
      await once(out, 'finish');

      const blob = await openAsBlob(path);
      expect(blob.size).toBeGreaterThan(maxDocumentBytes);
      const read = vi.spyOn(blob, 'arrayBuffer');
      const stream = vi.spyOn(blob, 'stream');
      const service = new DocumentService(async () => blob);
      const { docId, summary } = await service.openDocument({
        digest: 'sha256:x',
        size: blob.size,
        mediaType,
      });
      expect(summary.kind).toBe('cyclonedx');
      expect(summary.rows).toBe(0);
      expect(summary.problems).toEqual([
        `The document is ${Math.round(blob.size / 1048576)} MiB: too big to open here (Berth opens documents up to 256 MiB). Export the image to read it with another tool.`,
      ]);
      expect(read).not.toHaveBeenCalled();
      expect(stream).not.toHaveBeenCalled();
      expect(await service.documentText({ docId, start: 0, limit: 100 })).toEqual({
        text: '',
        total: 0,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
