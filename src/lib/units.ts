// Human-readable figures, shared by the page and by messages built in workers.

/** Bytes in SI units, as disk sizes are sold: 1.23 MB. Not a number or infinite: "–"; a
 * negative count, which no size is: "out of range (-5 B)". */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return '–';
  if (n < 0) return `out of range (${n} B)`;
  if (n < 1000) return `${Math.round(n)} B`;
  const units = ['kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  let v = n;
  let i = -1;
  do {
    v /= 1000;
    i++;
  } while (v >= 1000 && i < units.length - 1);
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}
