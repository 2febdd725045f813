// In-memory stand-ins for the two workers, behind the same `call` the state classes use: a
// registry and a store held in Maps, so state logic runs in Node without IndexedDB or workers.
import type { IndexEntry } from '../../src/lib/layers/entry.ts';
import { formatPlatform } from '../../src/lib/oci/platform.ts';
import type { Descriptor, Platform } from '../../src/lib/oci/types.ts';
import type { ImageSummary } from '../../src/lib/images/summary.ts';
import type { Bridge } from '../../src/state/bridge.ts';
import type { Settings } from '../../src/state/settings.ts';
import { defaultSettings } from '../../src/state/settings.ts';
import type { ImagesWorkerApi } from '../../src/workers/images.ts';
import type { LayerListingResult, LayersWorkerApi } from '../../src/workers/layers.ts';
import { WorkerError, type CallContext } from '../../src/workers/rpc.ts';
import { TreeService } from '../../src/workers/tree-service.ts';

const hex = (n: number) => n.toString(16).padStart(64, '0');

/** A summary as the store would give it, with one stored layer per entry of `layers`. */
export function summaryOf(name: string, n: number, layers = 0): ImageSummary {
  return {
    name,
    rootDigest: `sha256:${hex(n)}`,
    rootMediaType: 'application/vnd.oci.image.manifest.v1+json',
    manifest: {
      digest: `sha256:${hex(n)}`,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: 500,
    },
    layers: Array.from({ length: layers }, (_, i) => ({
      descriptor: {
        digest: `sha256:${hex(1000 * n + i)}`,
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        size: 100,
      },
      stored: true,
      foreign: false,
    })),
    history: [],
    totalSize: 500 + 100 * layers,
    pulledAt: 0,
  };
}

/** A layer's progress event at its end: stored. */
const layerDone = (d: Descriptor) => ({
  type: 'progress',
  progress: {
    ref: `layer-${d.digest}`,
    role: 'layer',
    digest: d.digest,
    mediaType: d.mediaType,
    size: d.size,
    offset: d.size,
    state: 'done',
  },
});

export interface RegistryImage {
  /** The canonical name. */
  name: string;
  platforms: Platform[];
  summary: ImageSummary;
}

/** One method of the fake: its argument, and the events it reports. */
type Call = (arg: never, opts?: { onEvent?: (e: unknown) => void }) => unknown;

/** The images worker: a registry (by reference as typed) and a store (by canonical name). */
export class FakeImages {
  readonly registry = new Map<string, RegistryImage>();
  readonly stored = new Map<string, ImageSummary>();
  /** Set to make every registry call fail with this kind. */
  down: string | undefined;
  readonly calls: string[] = [];
  /** A method named here answers only once its promise settles: a slow store or registry. */
  readonly gates = new Map<string, Promise<void>>();

  #registry(reference: string): RegistryImage {
    if (this.down)
      throw new WorkerError({
        name: 'RegistryError',
        message: `registry ${this.down}`,
        kind: this.down,
      });
    const image = this.registry.get(reference);
    if (!image)
      throw new WorkerError({
        name: 'RegistryError',
        message: `${reference}: not found`,
        kind: 'not-found',
      });
    return image;
  }

  readonly #methods: Record<string, Call> = {
    resolve: (arg: { reference: string }) => {
      const r = this.#registry(arg.reference);
      return { name: r.name, platforms: r.platforms, rootDigest: r.summary.rootDigest };
    },
    // A stored image answers for the platform it was pulled for, and only that one.
    summary: (arg: { name: string; platform?: string }) => {
      const s = this.stored.get(arg.name);
      if (!s || (arg.platform && s.platform && formatPlatform(s.platform) !== arg.platform)) {
        return null;
      }
      return s;
    },
    // The platforms of a stored index are all of its own, pulled or not.
    // A reference as typed is stored under its canonical name, as the worker normalises it.
    openStored: (arg: { name: string }) => {
      const s = this.stored.get(this.registry.get(arg.name)?.name ?? arg.name);
      if (!s) throw new Error(`${arg.name} is not stored`);
      const known = [...this.registry.values()].find((r) => r.name === s.name);
      return { name: s.name, platforms: known?.platforms ?? (s.platform ? [s.platform] : []) };
    },
    pull: async (arg: { reference: string; platform?: string; referrers?: boolean }, opts) => {
      const r = this.#registry(arg.reference);
      const platform = arg.platform
        ? r.platforms.find((p) => formatPlatform(p) === arg.platform)
        : r.platforms[0];
      opts?.onEvent?.({
        type: 'resolved',
        name: r.name,
        root: { mediaType: r.summary.rootMediaType, digest: r.summary.rootDigest, size: 500 },
        platforms: r.platforms,
        platform,
      });
      opts?.onEvent?.({
        type: 'progress',
        progress: {
          ref: 'm',
          role: 'manifest',
          digest: r.summary.manifest.digest,
          mediaType: '',
          size: 500,
          offset: 500,
          state: 'done',
        },
      });
      if (arg.referrers) opts?.onEvent?.({ type: 'referrers', referrers: [] });
      // The config is checked: the summary comes while the layers download.
      opts?.onEvent?.({
        type: 'summary',
        summary: {
          ...r.summary,
          layers: r.summary.layers.map((l) => ({ ...l, stored: false })),
          partial: true,
        },
      });
      // The first layer arrives while the pull runs.
      const first = r.summary.layers[0]?.descriptor;
      if (first) opts?.onEvent?.(layerDone(first));
      // A gate named 'pull-end' holds the answer after the events: a pull under way.
      await (this.gates.get('pull-end') ?? Promise.resolve());
      // A gate named 'pull-fails' makes the pull fail once it opens (a layer's download).
      const fails = this.gates.get('pull-fails');
      if (fails) {
        await fails;
        throw new WorkerError({ name: 'RegistryError', message: 'layer: 500', kind: 'server' });
      }
      this.stored.set(r.name, r.summary);
      return r.summary;
    },
    fetchLayer: (arg: { layer: Descriptor }, opts) => {
      opts?.onEvent?.(layerDone(arg.layer));
    },
    listTags: () => [],
    referrers: () => [],
    deleteImage: (arg: { name: string }) => {
      this.stored.delete(arg.name);
      return { blobs: 3, bytes: 2048 };
    },
    verifyImage: (arg: { name: string }) => ({
      checked: 3,
      bytes: 2048,
      problems: this.stored.has(arg.name)
        ? []
        : [{ digest: 'sha256:x', mediaType: 'm', problem: 'missing' }],
    }),
    exportArchive: (arg: { name: string }) => ({
      blob: new Blob(['tar']),
      fileName: `${arg.name}.tar`,
    }),
    discardPull: () => ({ blobs: 1, bytes: 1024 }),
    importArchive: (_arg, opts) => {
      opts?.onEvent?.({ type: 'import', done: 1, total: 2 });
      for (const r of this.registry.values()) this.stored.set(r.name, r.summary);
      return {
        images: [...this.registry.values()].map((r) => ({ name: r.name })),
        blobs: 4,
        bytes: 4096,
      };
    },
    setCredentials: () => undefined,
    listCredentials: () => [],
  };

  readonly bridge: Bridge<ImagesWorkerApi> = {
    call: (async (method: string, arg: never, opts?: { onEvent?: (e: unknown) => void }) => {
      this.calls.push(method);
      const m = this.#methods[method];
      if (!m) throw new Error(`FakeImages: no ${method}`);
      await (this.gates.get(method) ?? Promise.resolve()); // answers come later, as a worker's do
      return m(arg, opts);
    }) as Bridge<ImagesWorkerApi>['call'],
  };
}

/** The layers worker: each layer's entries by digest, and each file's text by path. Its tree
 * part is the worker's own (TreeService): listings feed it as the worker's do. */
export class FakeLayers {
  readonly files = new Map<string, IndexEntry[]>();
  readonly text = new Map<string, string>();
  /** Every call's method, in order. */
  readonly calls: string[] = [];
  tree = new TreeService({ stored: async () => undefined });

  /** Forgets every view and index, as a fresh worker would. */
  restart() {
    this.tree = new TreeService({ stored: async () => undefined });
  }

  readonly bridge: Bridge<LayersWorkerApi> = {
    call: (async (
      method: string,
      arg: { digest?: string; layer?: { digest: string }; offset?: number },
      opts: { signal?: AbortSignal } = {},
    ) => {
      this.calls.push(method);
      await Promise.resolve();
      if (method === 'listLayer') {
        const files = this.files.get(arg.digest!) ?? [];
        const live = this.tree.listingStarted(arg.digest!);
        for (const f of files) {
          live.builder.push(f);
          live.saw(f);
        }
        this.tree.listingEnded(arg.digest!, live, true);
        return {
          diffID: '',
          uncompressedSize: files.length * 10,
          entries: files.length,
          tooDeep: live.tooDeep,
        } satisfies LayerListingResult;
      }
      if (method === 'readFile') {
        const entry = [...this.files.values()].flat().find((f) => f.offset === arg.offset);
        return {
          bytes: new TextEncoder().encode(this.text.get(entry?.path ?? '') ?? ''),
          truncated: false,
        };
      }
      const m = (this.tree.api as Record<string, Call2>)[method];
      if (!m) throw new Error(`FakeLayers: no ${method}`);
      return m(arg as never, {
        signal: opts.signal ?? new AbortController().signal,
        emit: () => {},
      });
    }) as Bridge<LayersWorkerApi>['call'],
  };
}

type Call2 = (arg: never, ctx: CallContext) => Promise<unknown>;

export function entry(path: string, type: IndexEntry['type'], offset = 0): IndexEntry {
  return { path, type, size: 10, mode: 0o644, uid: 0, gid: 0, mtime: 0, offset };
}

/** Settings as the image state reads them; sign-ins are recorded. */
export function fakeSettings(patch: Partial<Settings> = {}) {
  const signIns: string[] = [];
  return {
    signIns,
    current: { ...defaultSettings, ...patch },
    connection: { kind: 'direct' as const },
    signIn: async (registry: string) => {
      signIns.push(registry);
    },
  };
}
