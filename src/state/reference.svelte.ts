// The reference box and the platform combobox of an image panel: what is typed, the other tags
// of the repository to suggest, and the platforms the registry offers with the one picked.
// What is typed is a draft: the image on screen is ImageState's, and the URL is AppState's.
import {
  allPlatforms,
  bestPlatform,
  defaultPlatform,
  formatPlatform,
  parsePlatform,
} from '../lib/oci/platform.ts';
import type { Platform } from '../lib/oci/types.ts';
import { messageOf } from '../lib/errors.ts';
import { parseReference, repositoryOf } from '../lib/reference/reference.ts';
import type { Connection } from '../lib/registry/transport.ts';
import type { ImagesWorkerApi } from '../workers/images.ts';
import type { Bridge } from './bridge.ts';
import { platformLabel } from './format.ts';

export interface ReferenceStateOptions {
  bridge: Bridge<ImagesWorkerApi>;
  /** Read at each call, so a change in Settings applies to the next request. */
  connection: () => Connection;
}

export class ReferenceState {
  text = $state('');
  /** The platforms of the image named, as the registry or the store listed them. */
  platforms = $state.raw<Platform[]>([]);
  /** The platform picked in the combobox, in formatPlatform's form, or `all`. */
  platform = $state('');
  /** References to the repository's other tags. */
  tags = $state.raw<string[]>([]);

  readonly #opts: ReferenceStateOptions;
  #tagsFor: string | undefined;

  constructor(opts: ReferenceStateOptions) {
    this.#opts = opts;
  }

  /** The tag suggestions for what is typed now: while a tag is being typed, those it starts;
   * once it names a real tag, the others (at most 12). */
  get suggestions(): string[] {
    const typed = this.text.trim();
    const base = repoName(typed);
    const same = this.tags.filter((s) => s.startsWith(`${base}:`));
    const partial = same.includes(typed) ? '' : (/:([^:/]*)$/.exec(typed)?.[1] ?? '');
    return same
      .filter((s) => s !== typed && s.slice(base.length + 1).startsWith(partial))
      .slice(0, 12);
  }

  /** The combobox options: one per distinct platform string. */
  get platformOptions(): string[] {
    return this.platforms.map(formatPlatform).filter((p, i, all) => all.indexOf(p) === i);
  }

  /** The combobox entries: the platforms, then "All platforms". */
  get platformChoices(): { value: string; label: string }[] {
    const options = this.platformOptions;
    if (options.length === 0) return [];
    return [
      ...options.map((o) => ({ value: o, label: platformLabel(o) })),
      { value: allPlatforms, label: 'All platforms' },
    ];
  }

  /** The person edits the reference: a platform picked for another image no longer applies. */
  edit(value: string) {
    this.text = value;
    if (this.platforms.length > 0 || this.platform) {
      this.platforms = [];
      this.platform = '';
    }
  }

  /** Names an image and platform, as a URL, a resume or the library does. */
  set(text: string, platform = '') {
    this.text = text;
    this.platform = platform;
  }

  /** The platforms offered; the one picked becomes the closest of them to what was asked. */
  offer(platforms: Platform[], preferred: string) {
    this.platforms = platforms;
    this.platform = closestOption(platforms, this.platform, preferred);
  }

  /** Checks what is typed, so a typo is reported before any request. */
  parse(): { input: string } | { error: string } {
    const input = this.text.trim();
    if (!input) return { error: 'Type an image reference, for example alpine:3.20.' };
    try {
      parseReference(input);
      return { input };
    } catch (err) {
      return { error: messageOf(err) };
    }
  }

  /** Loads the repository's tags, once per repository. They are an extra: a failure leaves no
   * suggestions and is not shown. */
  loadTags(input: string) {
    const ref = parseReference(input);
    const repo = repositoryOf(ref);
    if (this.#tagsFor === repo) return;
    this.#tagsFor = repo;
    this.#opts.bridge
      .call('listTags', { reference: input, connection: this.#opts.connection() })
      .then(
        (tags) =>
          (this.tags = tags
            .filter((t) => !artifactTag.test(t))
            .slice(0, 1000)
            .map((t) => `${repoName(input)}:${t}`)),
        () => {
          this.tags = [];
          this.#tagsFor = undefined; // try again next time
        },
      );
  }
}

/** Tags that hold referrers or signatures (sha256-<hex>, sha256-<hex>.sig, .att, .sbom), not
 * images anyone means to pull. */
const artifactTag = /^sha(256|512)-[0-9a-f]{64,128}(\.[a-z]+)?$/;

/** The reference as typed, without its tag or digest: the base for tag suggestions. */
function repoName(input: string): string {
  return input
    .trim()
    .replace(/@.*$/, '')
    .replace(/:[^:/]*$/, '');
}

/** The combobox option a requested platform means: the same string, else the best match of
 * the index's platforms (linux/arm64 means linux/arm64/v8; arm/v7 takes v7 over v6); without
 * one, the preferred platform's (a setting); else linux/amd64 or the first. */
export function closestOption(platforms: Platform[], wanted: string, preferred = ''): string {
  if (platforms.length === 0) return '';
  const options = platforms.map(formatPlatform);
  if (options.includes(wanted) || wanted === allPlatforms) return wanted;
  const read = (p: string) => {
    try {
      return p ? parsePlatform(p) : undefined;
    } catch {
      return undefined; // an unreadable platform in the URL falls back to the default
    }
  };
  const want = read(wanted);
  const chosen =
    (want && bestPlatform(platforms, want)) ?? defaultPlatform(platforms, read(preferred));
  return chosen ? formatPlatform(chosen) : options[0]!;
}
