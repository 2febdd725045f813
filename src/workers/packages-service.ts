// The packages of an image, in the layers worker beside the file tree and the comparison: the
// layers' indexes are here, and so is the random access into the stored layers. The page asks
// what an inventory would read (packagesPlan), has it run (packagesOpen, with progress), and
// then asks for windows of table rows, filtered and sorted here: an image with thousands of
// packages never crosses to the page whole. Inventories are kept by the layers' digests, so
// the same image opened again (or compared) is not read again.
import { diffInventories, type PackagesDiff } from '../lib/packages/diff.ts';
import {
  inventory,
  planLayer,
  planSize,
  type InventoryLayer,
  type LayerPlan,
} from '../lib/packages/inventory.ts';
import type {
  Cataloger,
  Inventory,
  InventoryPackage,
  InventoryProblem,
  OsRelease,
} from '../lib/packages/types.ts';
import { toCycloneDX } from '../lib/sbom/cyclonedx.ts';
import { toSpdx } from '../lib/sbom/spdx.ts';
import type { SbomSubject } from '../lib/sbom/types.ts';
import type { ColumnIndex } from '../lib/layers/columns.ts';
import type { TarFrom } from '../lib/layers/checkpoints.ts';
import type { CallContext } from './rpc.ts';

/** A layer as the inventory names it; null for one that is not a tar (it holds no files). */
export type PackagesLayer = { digest: string; mediaType: string; size: number } | null;

export type PackagesSortKey =
  'name' | 'version' | 'ecosystem' | 'arch' | 'license' | 'source' | 'purl' | 'added';

export interface PackagesSort {
  key: PackagesSortKey;
  descending: boolean;
}

export interface PackagesQuery {
  /** Words that must all appear in a row's name, version, purl, licence or ecosystem. */
  filter: string;
  sort: PackagesSort;
  /** The packages later layers removed, instead of the present ones. */
  removed: boolean;
  window: [start: number, end: number];
}

/** What an inventory of these layers would read, or why it cannot be made. */
export interface PackagesPlan {
  /** Layers this worker has no index for: the page lists them first. */
  missing: number[];
  /** Layers whose blob is not stored: their files cannot be read. */
  notStored: number[];
  files: number;
  bytes: number;
}

export interface PackagesSummary {
  packages: number;
  removed: number;
  /** Packages by ecosystem. */
  ecosystems: Record<string, number>;
  os?: OsRelease;
  problems: InventoryProblem[];
  /** Files read. */
  sources: number;
}

export interface PackagesWindow {
  count: number;
  start: number;
  rows: InventoryPackage[];
}

export interface OpenedPackages extends PackagesWindow {
  packagesId: number;
  summary: PackagesSummary;
}

/** Sent while an inventory reads. */
export type PackagesEvent = {
  type: 'progress';
  filesRead: number;
  files: number;
  layersDone: number;
  layers: number;
};

export interface PackagesServiceDeps {
  /** A layer's complete index, or undefined when it is not listed. */
  index(digest: string): Promise<ColumnIndex | undefined>;
  /** Whether the layer's blob is stored (its files can be read). */
  stored(digest: string): Promise<boolean>;
  tarFrom(layer: NonNullable<PackagesLayer>, offset: number, signal: AbortSignal): Promise<TarFrom>;
  catalogers: readonly Cataloger[];
}

/** A call named an inventory this worker does not hold (it was restarted). */
export class PackagesLostError extends Error {
  override name = 'PackagesLostError';
}

/** Inventories kept: the page's, the one it compares with, and one it is replacing. */
const keptInventories = 3;
/** How often progress is sent while files are read. */
const progressMs = 100;

interface Held {
  key: string;
  inventory: Inventory;
  /** The rows of the last query, in its order. */
  view: InventoryPackage[];
  viewKey: string;
}

const keyOf = (layers: readonly PackagesLayer[]) => layers.map((l) => l?.digest ?? '-').join(',');

const field = (p: InventoryPackage, key: PackagesSortKey): string | number => {
  switch (key) {
    case 'added':
      return p.events.at(-1)?.layer ?? -1;
    case 'license':
      return p.license ?? '';
    case 'arch':
      return p.arch ?? '';
    case 'source':
      return p.source ?? '';
    default:
      return p[key];
  }
};

/** The rows of an inventory a query shows, in its order. */
export function queryRows(inv: Inventory, q: Omit<PackagesQuery, 'window'>): InventoryPackage[] {
  const words = q.filter.toLowerCase().split(/\s+/).filter(Boolean);
  const list = q.removed ? inv.removed : inv.packages;
  const rows =
    words.length === 0
      ? [...list]
      : list.filter((p) => {
          const hay =
            `${p.name}\n${p.version}\n${p.purl}\n${p.license ?? ''}\n${p.ecosystem}`.toLowerCase();
          return words.every((w) => hay.includes(w));
        });
  const dir = q.sort.descending ? -1 : 1;
  const key = q.sort.key;
  rows.sort((a, b) => {
    const x = field(a, key);
    const y = field(b, key);
    if (x !== y) return (x < y ? -1 : 1) * dir;
    // Ties in the inventory's own order (ecosystem, name, location).
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
  return rows;
}

function summaryOf(inv: Inventory): PackagesSummary {
  const ecosystems: Record<string, number> = {};
  for (const p of inv.packages) ecosystems[p.ecosystem] = (ecosystems[p.ecosystem] ?? 0) + 1;
  return {
    packages: inv.packages.length,
    removed: inv.removed.length,
    ecosystems,
    ...(inv.os ? { os: inv.os } : {}),
    problems: inv.problems,
    sources: inv.sources.length,
  };
}

export class PackagesService {
  readonly #deps: PackagesServiceDeps;
  readonly #held = new Map<number, Held>();
  /** Inventories being made, by the layers' key: a second ask waits for the first. */
  readonly #making = new Map<string, Promise<Inventory>>();
  #next = 1;

  constructor(deps: PackagesServiceDeps) {
    this.#deps = deps;
  }

  #get(id: number): Held {
    const held = this.#held.get(id);
    if (!held) throw new PackagesLostError(`inventory ${id} is not held by this worker`);
    return held;
  }

  async #plans(
    layers: readonly PackagesLayer[],
  ): Promise<{ plan: PackagesPlan; plans: LayerPlan[] }> {
    const plan: PackagesPlan = { missing: [], notStored: [], files: 0, bytes: 0 };
    const plans = await Promise.all(
      layers.map(async (l, i) => {
        if (!l) return planLayer(undefined, this.#deps.catalogers);
        const [index, stored] = await Promise.all([
          this.#deps.index(l.digest),
          this.#deps.stored(l.digest),
        ]);
        if (!index) plan.missing.push(i);
        if (!stored) plan.notStored.push(i);
        return planLayer(index, this.#deps.catalogers);
      }),
    );
    plan.missing.sort((a, b) => a - b);
    plan.notStored.sort((a, b) => a - b);
    Object.assign(plan, planSize(plans));
    return { plan, plans };
  }

  /** The inventory of these layers: held, being made, or made now. */
  async #inventory(
    layers: readonly PackagesLayer[],
    ctx: CallContext<PackagesEvent>,
  ): Promise<Inventory> {
    const key = keyOf(layers);
    for (const h of this.#held.values()) if (h.key === key) return h.inventory;
    const making = this.#making.get(key);
    if (making) return making;
    const { plan, plans } = await this.#plans(layers);
    if (plan.missing.length > 0) {
      throw new Error(`layers ${plan.missing.map((i) => i + 1).join(', ')} are not listed`);
    }
    const unread = plan.notStored.filter((i) => plans[i]!.files.length > 0);
    if (unread.length > 0) {
      throw new Error(
        `layers ${unread.map((i) => i + 1).join(', ')} are not stored in this browser: their packages cannot be read`,
      );
    }
    let last = 0;
    const run = inventory(
      layers.map((l): InventoryLayer => ({
        index: undefined,
        tarFrom: (offset, signal) => this.#deps.tarFrom(l!, offset, signal),
      })),
      {
        catalogers: this.#deps.catalogers,
        signal: ctx.signal,
        onProgress: (p) => {
          const now = performance.now();
          if (now - last < progressMs && p.filesRead < p.files) return;
          last = now;
          ctx.emit({ type: 'progress', ...p });
        },
      },
      plans,
    );
    this.#making.set(key, run);
    try {
      return await run;
    } finally {
      this.#making.delete(key);
    }
  }

  #hold(key: string, inv: Inventory): number {
    for (const [id, h] of this.#held) {
      if (h.key !== key) continue;
      // The most recently used is kept longest.
      this.#held.delete(id);
      this.#held.set(id, h);
      return id;
    }
    const id = this.#next++;
    this.#held.set(id, { key, inventory: inv, view: inv.packages, viewKey: '' });
    for (const old of this.#held.keys()) {
      if (this.#held.size <= keptInventories) break;
      this.#held.delete(old);
    }
    return id;
  }

  #window(held: Held, q: PackagesQuery): PackagesWindow {
    const viewKey = JSON.stringify([q.filter, q.sort, q.removed]);
    if (held.viewKey !== viewKey) {
      held.view = queryRows(held.inventory, q);
      held.viewKey = viewKey;
    }
    const count = held.view.length;
    const start = Math.max(0, Math.min(q.window[0], count));
    const end = Math.max(start, Math.min(q.window[1], count));
    return { count, start, rows: held.view.slice(start, end) };
  }

  readonly api = {
    /** What listing these layers' packages would read: files and bytes, and which layers are
     * not listed or not stored. */
    packagesPlan: async (arg: { layers: PackagesLayer[] }): Promise<PackagesPlan> =>
      (await this.#plans(arg.layers)).plan,

    /** Reads the layers' packages (or finds them read before), and the first rows. */
    packagesOpen: async (
      arg: { layers: PackagesLayer[]; query: PackagesQuery },
      ctx: CallContext<PackagesEvent>,
    ): Promise<OpenedPackages> => {
      const inv = await this.#inventory(arg.layers, ctx);
      const packagesId = this.#hold(keyOf(arg.layers), inv);
      const held = this.#get(packagesId);
      return { packagesId, summary: summaryOf(inv), ...this.#window(held, arg.query) };
    },

    packagesRows: async (arg: {
      packagesId: number;
      query: PackagesQuery;
    }): Promise<PackagesWindow> => this.#window(this.#get(arg.packagesId), arg.query),

    /** The SBOM of an inventory, made here and handed over as a Blob. */
    packagesSbom: async (arg: {
      packagesId: number;
      format: 'cyclonedx' | 'spdx';
      subject: SbomSubject;
    }): Promise<Blob> => {
      const inv = this.#get(arg.packagesId).inventory;
      const doc =
        arg.format === 'cyclonedx' ? toCycloneDX(inv, arg.subject) : toSpdx(inv, arg.subject);
      return new Blob([JSON.stringify(doc, null, 2)], { type: 'application/json' });
    },

    /** What the second image's packages changed against the first's; both are read (or found
     * read) first. */
    packagesDiff: async (
      arg: { a: PackagesLayer[]; b: PackagesLayer[] },
      ctx: CallContext<PackagesEvent>,
    ): Promise<PackagesDiff> => {
      const a = await this.#inventory(arg.a, ctx);
      this.#hold(keyOf(arg.a), a);
      const b = await this.#inventory(arg.b, ctx);
      this.#hold(keyOf(arg.b), b);
      return diffInventories(a, b);
    },

    packagesClose: async (arg: { packagesId: number }): Promise<void> => {
      this.#held.delete(arg.packagesId);
    },
  };
}
