// Work shared by every caller of one key (the repository view's tag details, by digest): one
// caller leaving never takes the answer from the others, the work stops when the last one has
// left, and a work stopped or failed is started anew by the next caller.
import { describe, expect, test } from 'vitest';
import { MediaType } from '../../src/lib/oci/mediatypes.ts';
import { readTagDetails, type TagDetails } from '../../src/lib/pull/tag-details.ts';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { RegistryClient } from '../../src/lib/registry/client.ts';
import { SharedWork } from '../../src/lib/shared-work.ts';
import { memoryStore } from '../../src/lib/store/memory.ts';
import { MemoryRegistry } from '../harness/memory-registry.ts';

/** A work the test finishes by hand, recording the signal each start was given. `heeds`: it
 * rejects as soon as its signal aborts (else it notices only when finished by hand). */
function manual<V>(heeds = true) {
  const starts: { signal: AbortSignal; resolve: (v: V) => void; reject: (e: unknown) => void }[] =
    [];
  const work = (signal: AbortSignal) =>
    new Promise<V>((resolve, reject) => {
      starts.push({ signal, resolve, reject });
      if (heeds) signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  return { starts, work };
}

/** Lets queued promise callbacks run. */
const settle = () => new Promise((r) => setTimeout(r, 0));

describe('SharedWork', () => {
  test('callers of one key share one work and its result', async () => {
    const shared = new SharedWork<string, number>({ keep: 10 });
    const { starts, work } = manual<number>();
    const a = shared.run('k', work, new AbortController().signal);
    const b = shared.run('k', work, new AbortController().signal);
    await settle();
    expect(starts.length, 'works started').toBe(1);
    starts[0]!.resolve(7);
    expect(await a).toBe(7);
    expect(await b).toBe(7);
    // Kept: a third caller gets it without new work.
    expect(await shared.run('k', work, new AbortController().signal)).toBe(7);
    expect(starts.length, 'works started after the result was kept').toBe(1);
  });

  test('the first caller leaving does not stop the work the others wait on', async () => {
    const shared = new SharedWork<string, number>({ keep: 10 });
    const { starts, work } = manual<number>();
    const first = new AbortController();
    const a = shared.run('k', work, first.signal);
    const b = shared.run('k', work, new AbortController().signal);
    await settle();
    first.abort(new DOMException('left', 'AbortError'));
    await expect(a).rejects.toThrow('left');
    expect(starts[0]!.signal.aborted, 'the shared work was aborted').toBe(false);
    starts[0]!.resolve(3);
    expect(await b).toBe(3);
    expect(starts.length).toBe(1);
  });

  test('the last caller leaving stops the work, and the next caller starts anew', async () => {
    const shared = new SharedWork<string, number>({ keep: 10 });
    // A work slow to notice its signal: the next caller must not wait on it.
    const { starts, work } = manual<number>(false);
    const one = new AbortController();
    const two = new AbortController();
    const a = shared.run('k', work, one.signal);
    const b = shared.run('k', work, two.signal);
    await settle();
    one.abort();
    two.abort();
    await expect(a).rejects.toThrow();
    await expect(b).rejects.toThrow();
    expect(starts[0]!.signal.aborted, 'the shared work was aborted').toBe(true);
    expect(shared.has('k'), 'a cancelled work is forgotten').toBe(false);
    const c = shared.run('k', work, new AbortController().signal);
    await settle();
    expect(starts.length, 'works started').toBe(2);
    starts[1]!.resolve(5);
    expect(await c).toBe(5);
  });

  test('a failure is forgotten; a caller already gone starts nothing', async () => {
    const shared = new SharedWork<string, number>({ keep: 10 });
    const { starts, work } = manual<number>();
    const a = shared.run('k', work, new AbortController().signal);
    await settle();
    starts[0]!.reject(new Error('503'));
    await expect(a).rejects.toThrow('503');
    await settle();
    expect(shared.has('k')).toBe(false);
    const gone = new AbortController();
    gone.abort();
    await expect(shared.run('k', work, gone.signal)).rejects.toThrow();
    await settle();
    expect(starts.length, 'works started').toBe(1);
  });

  test('results kept are bounded; work under way is not dropped', async () => {
    const shared = new SharedWork<string, string>({ keep: 2 });
    const signal = new AbortController().signal;
    const { starts, work } = manual<string>();
    const pending = shared.run('busy', work, signal);
    for (const k of ['a', 'b', 'c']) await shared.run(k, async () => k, signal);
    expect(shared.size).toBe(2);
    expect(shared.has('busy'), 'work under way stays').toBe(true);
    expect(shared.has('c'), 'the newest result stays').toBe(true);
    await settle();
    starts[0]!.resolve('done');
    expect(await pending).toBe('done');
  });
});

describe('tag details shared between tags of one digest', () => {
  test('a tag whose caller leaves does not take the date from another tag of the same digest', async () => {
    // Every answer waits, so the first caller can leave while the config is on its way.
    const registry = new MemoryRegistry('registry.test', { latencyMs: 20 });
    const created = '2024-05-01T12:00:00Z';
    const config = registry.blob(
      'app',
      new TextEncoder().encode(
        JSON.stringify({
          created,
          os: 'linux',
          architecture: 'amd64',
          rootfs: { type: 'layers', diff_ids: [] },
        }),
      ),
      MediaType.OciConfig,
    );
    const doc = { schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [] };
    const root = registry.manifest('app', doc, 'v1');
    registry.manifest('app', doc, 'latest');
    const client = new RegistryClient({ transport: registry.transport });
    const store = memoryStore();
    const known = new SharedWork<string, TagDetails>({ keep: 10 });
    const details = (tag: string, signal: AbortSignal) => {
      const fctx = {
        client,
        store: store.content,
        reference: parseReference(`registry.test/app:${tag}`),
        onProgress: () => {},
      };
      return known.run(root.digest, (s) => readTagDetails(fctx, root, undefined, s), signal);
    };
    const leaving = new AbortController();
    const v1 = details('v1', leaving.signal);
    const latest = details('latest', new AbortController().signal);
    // The manifest is asked for; the row of v1 scrolls away before the config comes.
    await new Promise((r) => setTimeout(r, 5));
    leaving.abort(new DOMException('scrolled away', 'AbortError'));
    await expect(v1).rejects.toThrow('scrolled away');
    expect(await latest).toEqual({
      digest: root.digest,
      platforms: 0,
      size: config.size,
      created: Date.parse(created),
    });
    const gets = registry.requests.map((r) => `${r.method} ${r.kind} ${r.id}`);
    expect(gets, 'each document fetched once').toEqual([
      `GET manifest ${root.digest}`,
      `GET blob ${config.digest}`,
    ]);
  });
});
