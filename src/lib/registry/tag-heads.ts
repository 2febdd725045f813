// The HEAD of one tag, made when a repository's tags are listed, for the rate limit registries
// state on manifest answers only (Docker Hub's `ratelimit-*`, or the IETF draft's on other
// registries): a tag list is not a manifest answer, and a HEAD is not a pull on Docker Hub. The
// client's onResponse reads the limit off the answer; this keeps the answer itself for the
// tag's date, so the HEAD costs nothing the repository view would not ask anyway.
import type { Descriptor } from '../oci/types.ts';
import type { Reference } from '../reference/reference.ts';
import { isReferrerTag, sortTagRows } from './catalog.ts';
import type { RegistryClient } from './client.ts';

/** What a kept HEAD said. `root` undefined: the HEAD did not say everything (digest, size and
 * type), so the tag needs a GET. */
export interface KeptHead {
  root: Descriptor | undefined;
}

export interface TagHeadsOptions {
  /** How long an answer serves: a tag can move. */
  freshMs?: number;
  /** How many answers are kept at most (the oldest go first). */
  keep?: number;
  now?: () => number;
}

/** The tag a repository view shows first: the first by name among those it does not hide
 * (referrer fallbacks), or among all when every tag is one. */
export function firstShownTag(tags: readonly string[]): string | undefined {
  const shown = tags.filter((t) => !isReferrerTag(t));
  return sortTagRows(
    (shown.length > 0 ? shown : tags).map((tag) => ({ tag })),
    'name',
  )[0]?.tag;
}

export class TagHeads {
  readonly #kept = new Map<string, KeptHead & { at: number }>();
  readonly #freshMs: number;
  readonly #keep: number;
  readonly #now: () => number;

  constructor(opts: TagHeadsOptions = {}) {
    this.#freshMs = opts.freshMs ?? 60_000;
    this.#keep = opts.keep ?? 16;
    this.#now = opts.now ?? Date.now;
  }

  /** HEADs the tag shown first among `tags` of `repository` (its tag ignored) and keeps the
   * answer. Returns the tag asked for, or undefined when there was none or the HEAD failed:
   * best effort, the tags stand without it. */
  async headFirst(
    client: RegistryClient,
    repository: Reference,
    tags: readonly string[],
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    const tag = firstShownTag(tags);
    if (tag === undefined) return undefined;
    const ref: Reference = {
      registry: repository.registry,
      repository: repository.repository,
      tag,
    };
    let root: Descriptor | undefined;
    try {
      root = await client.head(ref, signal);
    } catch {
      return undefined;
    }
    const key = keyOf(ref, tag);
    this.#kept.delete(key);
    this.#kept.set(key, { root, at: this.#now() });
    while (this.#kept.size > this.#keep) this.#kept.delete(this.#kept.keys().next().value!);
    return tag;
  }

  /** The answer kept for `tag` of `ref`'s repository, while fresh. Taken: it serves once. */
  take(ref: Reference, tag: string): KeptHead | undefined {
    const key = keyOf(ref, tag);
    const kept = this.#kept.get(key);
    this.#kept.delete(key);
    if (!kept || this.#now() - kept.at >= this.#freshMs) return undefined;
    return { root: kept.root };
  }
}

function keyOf(ref: Reference, tag: string): string {
  return `${ref.registry}/${ref.repository}:${tag}`;
}
