// The secret scan, in the scan worker: the page asks what a scan would read (secretsPlan), has
// it run (secretsScan, with progress), and gets the findings masked. The values stay here, by
// scan, until the person presses Reveal (secretsReveal, one value at a time) or the scan is
// forgotten. Nothing here touches the network: the layers are read from the store.
import type { TarFrom } from '../lib/layers/checkpoints.ts';
import type { ColumnIndex } from '../lib/layers/columns.ts';
import { RULE_SET, type RuleRunner } from '../lib/secrets/preset.ts';
import {
  DEFAULT_MAX_FILE_BYTES,
  planScan,
  scanImage,
  type FoundSecret,
  type ScanConfig,
  type ScanProgress,
} from '../lib/secrets/scan.ts';
import type { SecretFinding, SkippedFile } from '../lib/secrets/types.ts';
import type { CallContext } from './rpc.ts';

export type { ScanConfig };

/** A layer as the scan names it; null for one that is not a tar (it holds no files). */
export type SecretsLayer = { digest: string; mediaType: string; size: number } | null;

/** What a scan of these layers would read, or why it cannot run yet. */
export interface SecretsPlan {
  /** Layers whose index is not stored: the page lists them first. */
  missing: number[];
  /** Layers whose blob is not stored: they must be downloaded first. */
  notStored: number[];
  files: number;
  bytes: number;
}

/** Sent while a scan reads. */
export type SecretsEvent = { type: 'progress' } & ScanProgress;

export interface SecretsReport {
  scanId: number;
  /** Masked: no value crosses to the page here. */
  findings: SecretFinding[];
  dropped: number;
  skipped: SkippedFile[];
  binary: number;
  text: number;
  files: number;
  bytes: number;
  rules: readonly string[];
  ruleSet: typeof RULE_SET;
  /** Each history step's command with every value found replaced by its mask: what the card
   * shows beside a finding (a build argument's value is in its step's command). */
  steps: string[];
}

export interface SecretsServiceDeps {
  /** A layer's stored index, or undefined when it is not listed. */
  index(digest: string): Promise<ColumnIndex | undefined>;
  /** Whether the layer's blob is stored. */
  stored(digest: string): Promise<boolean>;
  tarFrom(layer: NonNullable<SecretsLayer>, offset: number, signal: AbortSignal): Promise<TarFrom>;
  /** The rules, loaded on first use. */
  runner(): Promise<RuleRunner>;
  maxFileBytes?: number;
}

/** A call named a scan this worker does not hold (it was restarted, or the scan forgotten). */
export class SecretsLostError extends Error {
  override name = 'SecretsLostError';
}

/** Scans whose values are kept: the one on screen and one being replaced. */
const keptScans = 2;
/** How often progress is sent while files are read. */
const progressMs = 100;

const masked = ({ value: _value, ...f }: FoundSecret): SecretFinding => f;

/** `text` with each of `found`'s values replaced by its mask, the longest first. */
export function redact(text: string, found: readonly FoundSecret[]): string {
  const byLength = [...found].sort((a, b) => b.value.length - a.value.length);
  let out = text;
  for (const f of byLength) {
    if (f.value.length > 0 && out.includes(f.value)) out = out.split(f.value).join(f.masked);
  }
  return out;
}

export class SecretsService {
  readonly #deps: SecretsServiceDeps;
  readonly #held = new Map<number, FoundSecret[]>();
  #next = 1;

  constructor(deps: SecretsServiceDeps) {
    this.#deps = deps;
  }

  async #indexes(layers: readonly SecretsLayer[]) {
    const plan: SecretsPlan = { missing: [], notStored: [], files: 0, bytes: 0 };
    const indexes = await Promise.all(
      layers.map(async (l, i) => {
        if (!l) return undefined;
        const [index, stored] = await Promise.all([
          this.#deps.index(l.digest),
          this.#deps.stored(l.digest),
        ]);
        if (!index) plan.missing.push(i);
        if (!stored) plan.notStored.push(i);
        const p = planScan(index, this.#deps.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES);
        plan.files += p.files.length;
        plan.bytes += p.bytes;
        return index;
      }),
    );
    plan.missing.sort((a, b) => a - b);
    plan.notStored.sort((a, b) => a - b);
    return { plan, indexes };
  }

  readonly api = {
    /** What a scan of these layers would read, and which layers are not listed or stored. */
    secretsPlan: async (arg: { layers: SecretsLayer[] }): Promise<SecretsPlan> =>
      (await this.#indexes(arg.layers)).plan,

    /** Scans every file of every layer, and the config; the findings come back masked. */
    secretsScan: async (
      arg: { layers: SecretsLayer[]; config: ScanConfig },
      ctx: CallContext<SecretsEvent>,
    ): Promise<SecretsReport> => {
      const { plan, indexes } = await this.#indexes(arg.layers);
      const n = (list: number[]) => list.map((i) => i + 1).join(', ');
      if (plan.notStored.length > 0) {
        throw new Error(`layers ${n(plan.notStored)} are not stored in this browser`);
      }
      if (plan.missing.length > 0) throw new Error(`layers ${n(plan.missing)} are not listed`);
      const runner = await this.#deps.runner();
      let last = 0;
      const result = await scanImage(
        arg.layers.map((l, i) => ({
          index: indexes[i],
          tarFrom: (offset, signal) => this.#deps.tarFrom(l!, offset, signal),
        })),
        arg.config,
        {
          runner,
          signal: ctx.signal,
          ...(this.#deps.maxFileBytes !== undefined
            ? { maxFileBytes: this.#deps.maxFileBytes }
            : {}),
          onProgress: (p) => {
            const now = performance.now();
            if (now - last < progressMs && p.filesRead < p.files) return;
            last = now;
            ctx.emit({ type: 'progress', ...p });
          },
        },
      );
      const scanId = this.#next++;
      this.#held.set(scanId, result.findings);
      for (const old of this.#held.keys()) {
        if (this.#held.size <= keptScans) break;
        this.#held.delete(old);
      }
      return {
        scanId,
        findings: result.findings.map(masked),
        dropped: result.dropped,
        skipped: result.skipped,
        binary: result.binary,
        text: result.text,
        files: result.files,
        bytes: result.bytes,
        rules: result.rules,
        ruleSet: RULE_SET,
        steps: (arg.config.history ?? []).map((h) => redact(h.createdBy, result.findings)),
      };
    },

    /** One finding's value, for Reveal. */
    secretsReveal: async (arg: { scanId: number; id: number }): Promise<string> => {
      const found = this.#held.get(arg.scanId);
      if (!found) throw new SecretsLostError(`scan ${arg.scanId} is not held by this worker`);
      const f = found[arg.id];
      if (!f) throw new Error(`scan ${arg.scanId} has no finding ${arg.id}`);
      return f.value;
    },

    /** Forgets a scan's values. */
    secretsClose: async (arg: { scanId: number }): Promise<void> => {
      this.#held.delete(arg.scanId);
    },
  };
}
