// The images opened recently, for the home view: references and platforms only (nothing
// secret), newest first, kept in localStorage.

export interface RecentImage {
  image: string;
  platform: string;
  /** Milliseconds since the epoch. */
  openedAt: number;
}

export const recentKey = 'berth.recent';
export const maxRecent = 12;

export function loadRecent(storage: Pick<Storage, 'getItem'> | undefined): RecentImage[] {
  let raw: unknown;
  try {
    raw = JSON.parse(storage?.getItem(recentKey) ?? '[]');
  } catch {
    return [];
  }
  if (!Array.isArray(raw)) return [];
  return raw
    .filter(
      (r): r is RecentImage =>
        typeof r === 'object' &&
        r !== null &&
        typeof r.image === 'string' &&
        r.image.length > 0 &&
        r.image.length <= 512 &&
        typeof r.platform === 'string' &&
        typeof r.openedAt === 'number' &&
        Number.isFinite(r.openedAt),
    )
    .map(({ image, platform, openedAt }) => ({ image, platform, openedAt }))
    .slice(0, maxRecent);
}

/** The list with `entry` first; an earlier visit of the same image (any platform) goes. */
export function addRecent(list: RecentImage[], entry: RecentImage): RecentImage[] {
  return [entry, ...list.filter((r) => r.image !== entry.image)].slice(0, maxRecent);
}
