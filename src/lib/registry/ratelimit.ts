// Docker Hub's pull limit, read from headers it sends anyway: `ratelimit-limit: 100;w=21600`
// and `ratelimit-remaining: 76;w=21600` come on manifest GETs, on HEADs (which do not count as
// pulls) and even on 401s, so Berth learns what is left without spending a pull to ask.
// `w` is the window in seconds. Hub sends no reset time; the IETF draft's `ratelimit-reset`
// (seconds until the window resets) is read when a registry does send it.

export interface RateLimit {
  /** Pulls allowed per window. */
  limit: number;
  /** Pulls left in the window. */
  remaining: number;
  /** The window's length in seconds (`w=`), when given. */
  windowSeconds?: number;
  /** When the window resets (ms since the epoch), when the registry said. */
  resetsAt?: number;
  /** When these headers were read (ms since the epoch). */
  seenAt: number;
}

/** `100;w=21600` → { value: 100, window: 21600 }; undefined for anything else. */
function parseQuota(value: string | null): { value: number; window?: number } | undefined {
  if (value === null) return undefined;
  // The draft allows several policies in one field, comma-separated: the first is the one in
  // force.
  const first = value.split(',')[0]!.trim();
  const [head, ...params] = first.split(';');
  if (!/^\s*\d{1,12}\s*$/.test(head ?? '')) return undefined;
  const out: { value: number; window?: number } = { value: Number(head) };
  for (const p of params) {
    const m = /^\s*w\s*=\s*(\d{1,12})\s*$/i.exec(p);
    if (m) out.window = Number(m[1]);
  }
  return out;
}

/** The rate limit an answer's headers state, or undefined when they state none. */
export function readRateLimit(headers: Headers, now = Date.now()): RateLimit | undefined {
  const limit = parseQuota(headers.get('ratelimit-limit'));
  const remaining = parseQuota(headers.get('ratelimit-remaining'));
  if (!limit || !remaining) return undefined;
  const out: RateLimit = {
    limit: limit.value,
    remaining: Math.min(remaining.value, limit.value),
    seenAt: now,
  };
  const window = remaining.window ?? limit.window;
  if (window !== undefined && window > 0) out.windowSeconds = window;
  const reset = headers.get('ratelimit-reset')?.trim();
  if (reset && /^\d{1,9}$/.test(reset)) out.resetsAt = now + Number(reset) * 1000;
  return out;
}
