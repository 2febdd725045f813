// The HEAD made while listing a repository's tags (for the rate limit registries state on
// manifest answers): the tag the view shows first is asked, once, on any registry, and the
// answer serves that tag's first date instead of a second HEAD.
import { describe, expect, test } from 'vitest';
import { MediaType } from '../../src/lib/oci/mediatypes.ts';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { RegistryClient } from '../../src/lib/registry/client.ts';
import { TagHeads, firstShownTag } from '../../src/lib/registry/tag-heads.ts';
import { MemoryRegistry } from '../harness/memory-registry.ts';

const referrer = `sha256-${'a'.repeat(64)}`;

describe('firstShownTag', () => {
  const cases: { name: string; tags: string[]; want: string | undefined }[] = [
    { name: 'by name as versions read', tags: ['latest', '1.10', '1.9'], want: '1.9' },
    { name: 'referrer fallbacks skipped', tags: [referrer, `${referrer}.sig`, 'v1'], want: 'v1' },
    { name: 'only referrer fallbacks', tags: [`${referrer}.sig`, referrer], want: referrer },
    { name: 'no tags', tags: [], want: undefined },
  ];
  for (const c of cases) {
    test(c.name, () => {
      expect(firstShownTag(c.tags), `firstShownTag(${JSON.stringify(c.tags)})`).toBe(c.want);
    });
  }
});

function setup() {
  const registry = new MemoryRegistry('registry.test');
  const config = registry.blob('app', new TextEncoder().encode('{}'), MediaType.OciConfig);
  const doc = { schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [] };
  for (const tag of ['1.10', '1.9', 'latest', referrer]) registry.manifest('app', doc, tag);
  const root = registry.manifest('app', doc);
  const client = new RegistryClient({ transport: registry.transport });
  const repo = parseReference('registry.test/app');
  const heads = () => registry.requests.map((r) => `${r.method} ${r.kind} ${r.id}`);
  return { registry, client, repo, root, heads };
}

describe('TagHeads', () => {
  test('one HEAD of the tag shown first, on a registry that is not Docker Hub, kept for its date once', async () => {
    const { client, repo, root, heads } = setup();
    const kept = new TagHeads();
    expect(await kept.headFirst(client, repo, [referrer, '1.10', '1.9', 'latest'])).toBe('1.9');
    expect(heads()).toEqual(['HEAD manifest 1.9']);
    const ref = parseReference('registry.test/app:1.9');
    expect(kept.take(ref, '1.9')).toEqual({ root });
    expect(kept.take(ref, '1.9'), 'taken: it serves once').toBeUndefined();
    expect(kept.take(ref, 'latest'), 'another tag was not asked').toBeUndefined();
  });

  test('an answer serves only while fresh: a tag can move', async () => {
    const { client, repo } = setup();
    let now = 1_000;
    const kept = new TagHeads({ freshMs: 500, now: () => now });
    await kept.headFirst(client, repo, ['latest']);
    now += 500;
    expect(kept.take(parseReference('registry.test/app:latest'), 'latest')).toBeUndefined();
  });

  test('a HEAD that fails keeps nothing and throws nothing: the tags stand', async () => {
    const { client, repo, heads } = setup();
    const kept = new TagHeads();
    expect(await kept.headFirst(client, repo, ['missing'])).toBeUndefined();
    expect(heads()).toEqual(['HEAD manifest missing']);
    expect(kept.take(parseReference('registry.test/app:missing'), 'missing')).toBeUndefined();
  });

  test('answers kept are bounded, the oldest dropped first', async () => {
    const { client, heads } = setup();
    const kept = new TagHeads({ keep: 1 });
    await kept.headFirst(client, parseReference('registry.test/app'), ['latest']);
    await kept.headFirst(client, parseReference('registry.test/app'), ['1.10']);
    expect(heads()).toEqual(['HEAD manifest latest', 'HEAD manifest 1.10']);
    expect(kept.take(parseReference('registry.test/app:latest'), 'latest')).toBeUndefined();
    expect(kept.take(parseReference('registry.test/app:1.10'), '1.10')?.root).toBeDefined();
  });
});
