// How a secret is shown until the person asks to see it: a few of its first characters, so that
// two findings can be told apart ("ghp_…" from "npm_…"), and its length. Never more than a
// quarter of it, so a short password keeps most of itself hidden.

/** Characters shown of a long value. */
const SHOWN = 4;

export function mask(value: string): string {
  // By code point: a cut through a surrogate pair would show half a character.
  const chars = Array.from(value);
  const shown = Math.min(SHOWN, Math.floor(chars.length / 4));
  const n = chars.length;
  return `${chars.slice(0, shown).join('')}… (${n} character${n === 1 ? '' : 's'})`;
}
