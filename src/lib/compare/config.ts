// The config part of a comparison: the runtime defaults and the platform of two image configs,
// field by field. A config is someone else's JSON: the validator checks the fields the image
// view shows, but not every field compared here (Healthcheck, Shell, OnBuild), and a summary
// may come from anywhere. So nothing here trusts a type: a field of an unexpected shape is
// compared as a whole value, and nothing throws.
import type { ConfigDiff, ConfigField } from './types.ts';

/** What one image's config may be: anything, as far as this module is concerned. */
type Loose = Record<string, unknown>;

const hasOwn = (o: object, key: string) => Object.prototype.hasOwnProperty.call(o, key);

/** A plain JSON object (not an array, not null). */
const isObject = (v: unknown): v is Loose =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Absent and null say the same: "not set". */
const isUnset = (v: unknown) => v === undefined || v === null;

/** Deep equality of two JSON values: arrays in order, objects by their own keys. Iterative, so
 * a deeply nested value cannot overflow the stack. Cycles cannot come out of JSON.parse, but a
 * summary built elsewhere might hold one: a pair already being compared counts as equal. */
export function jsonEqual(x: unknown, y: unknown): boolean {
  const stack: [unknown, unknown][] = [[x, y]];
  const seen = new Map<object, Set<object>>();
  while (stack.length > 0) {
    const [p, q] = stack.pop()!;
    if (Object.is(p, q)) continue;
    if (typeof p !== 'object' || typeof q !== 'object' || p === null || q === null) return false;
    if (Array.isArray(p) !== Array.isArray(q)) return false;
    let pairs = seen.get(p);
    if (pairs?.has(q)) continue;
    if (!pairs) seen.set(p, (pairs = new Set()));
    pairs.add(q);
    if (Array.isArray(p)) {
      const qa = q as unknown[];
      if (p.length !== qa.length) return false;
      for (let i = 0; i < p.length; i++) stack.push([p[i], qa[i]]);
      continue;
    }
    const pk = Object.keys(p);
    const qo = q as Loose;
    if (pk.length !== Object.keys(qo).length) return false;
    for (const k of pk) {
      if (!hasOwn(qo, k)) return false;
      stack.push([(p as Loose)[k], qo[k]]);
    }
  }
  return true;
}

/** Compares two whole values; null and absent are the same. */
function compareWhole(field: ConfigField, before: unknown, after: unknown, out: ConfigDiff[]) {
  const a = isUnset(before) ? undefined : before;
  const b = isUnset(after) ? undefined : after;
  if (a === undefined && b === undefined) return;
  if (a === undefined) out.push({ field, difference: 'added', after: b });
  else if (b === undefined) out.push({ field, difference: 'removed', before: a });
  else if (!jsonEqual(a, b)) out.push({ field, difference: 'changed', before: a, after: b });
}

/** Compares a string field. Go's image tools write these with omitempty, so an empty string,
 * null and absent all mean "not set". A value that is not a string is compared as a whole. */
function compareString(field: ConfigField, before: unknown, after: unknown, out: ConfigDiff[]) {
  compareWhole(field, before === '' ? undefined : before, after === '' ? undefined : after, out);
}

/** Sorted by UTF-16 code units, never by locale, so that an export is the same everywhere. */
const byCodeUnit = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);

/** Compares two keyed maps key by key; keys in code-unit order. */
function compareKeyed(
  field: ConfigField,
  a: Map<string, unknown>,
  b: Map<string, unknown>,
  out: ConfigDiff[],
) {
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort(byCodeUnit);
  for (const key of keys) {
    const inA = a.has(key);
    const inB = b.has(key);
    const before = a.get(key);
    const after = b.get(key);
    if (!inB) out.push({ field, key, difference: 'removed', before });
    else if (!inA) out.push({ field, key, difference: 'added', after });
    else if (!jsonEqual(before, after)) {
      out.push({ field, key, difference: 'changed', before, after });
    }
  }
}

/** Env as a map from each variable's name to its whole entry (`NAME=value`, as the config has
 * it). A name set twice counts as its last entry, as a runtime reads it; an entry without `=`
 * is a name of its own. Undefined when Env is not an array of strings. */
function envMap(v: unknown): Map<string, unknown> | undefined {
  if (isUnset(v)) return new Map();
  if (!Array.isArray(v) || !v.every((e) => typeof e === 'string')) return undefined;
  const m = new Map<string, unknown>();
  for (const entry of v as string[]) {
    const eq = entry.indexOf('=');
    const name = eq < 0 ? entry : entry.slice(0, eq);
    m.set(name, entry); // the last one wins
  }
  return m;
}

/** Labels as a map from key to value. Undefined when Labels is not an object. */
function labelMap(v: unknown): Map<string, unknown> | undefined {
  if (isUnset(v)) return new Map();
  if (!isObject(v)) return undefined;
  return new Map(Object.keys(v).map((k) => [k, v[k]]));
}

/** ExposedPorts or Volumes as a set (its keys; the values are always `{}`), as a map from each
 * key to itself. Undefined when it is not an object. */
function setMap(v: unknown): Map<string, unknown> | undefined {
  if (isUnset(v)) return new Map();
  if (!isObject(v)) return undefined;
  return new Map(Object.keys(v).map((k) => [k, k]));
}

/** Compares a keyed field, or as whole values when either side has an unexpected shape. */
function compareMaps(
  field: ConfigField,
  before: unknown,
  after: unknown,
  toMap: (v: unknown) => Map<string, unknown> | undefined,
  out: ConfigDiff[],
) {
  const a = toMap(before);
  const b = toMap(after);
  if (a && b) compareKeyed(field, a, b, out);
  else compareWhole(field, before, after, out);
}

/**
 * Every difference between two image configs (anything: a config of the wrong shape, or none,
 * is read as empty where it cannot be read). In the order of types.ts's ConfigField; within Env,
 * Labels, ExposedPorts and Volumes, by key.
 */
export function compareConfigs(a: unknown, b: unknown): ConfigDiff[] {
  const top = (c: unknown): Loose => (isObject(c) ? c : {});
  const run = (c: Loose): Loose => (isObject(c.config) ? c.config : {});
  const ta = top(a);
  const tb = top(b);
  const ra = run(ta);
  const rb = run(tb);
  const out: ConfigDiff[] = [];
  const field = (name: ConfigField) => {
    switch (name) {
      case 'Env':
        return compareMaps(name, ra.Env, rb.Env, envMap, out);
      case 'Labels':
        return compareMaps(name, ra.Labels, rb.Labels, labelMap, out);
      case 'ExposedPorts':
      case 'Volumes':
        return compareMaps(name, ra[name], rb[name], setMap, out);
      case 'WorkingDir':
      case 'User':
      case 'StopSignal':
        return compareString(name, ra[name], rb[name], out);
      case 'architecture':
      case 'os':
      case 'variant':
      case 'author':
      case 'created':
        return compareString(name, ta[name], tb[name], out);
      // Entrypoint, Cmd, Shell, OnBuild, Healthcheck: arrays in order, objects by key.
      default:
        return compareWhole(name, ra[name], rb[name], out);
    }
  };
  for (const name of configFields) field(name);
  return out;
}

/** Every ConfigField, in the order a comparison lists them. */
export const configFields = [
  'Env',
  'Entrypoint',
  'Cmd',
  'WorkingDir',
  'User',
  'ExposedPorts',
  'Labels',
  'Volumes',
  'StopSignal',
  'Healthcheck',
  'Shell',
  'OnBuild',
  'architecture',
  'os',
  'variant',
  'author',
  'created',
] as const satisfies readonly ConfigField[];

// Fails to compile when types.ts gains a ConfigField that configFields does not list.
type Unlisted = Exclude<ConfigField, (typeof configFields)[number]>;
export const everyFieldListed: [Unlisted] extends [never] ? true : Unlisted = true;
