// Berth's own detectors, for what secretlint's recommended preset does not look for:
//  - assignments in .env files to a variable whose name says it holds a secret;
//  - high-entropy strings in configuration files, measured as detect-secrets measures them;
//  - secret-named variables in the image config: Env, labels, and the build arguments and
//    variables that the history's commands keep (`RUN |2 NPM_TOKEN=… /bin/sh -c …`, `ARG`, `ENV`).
// Each is a small, deliberate heuristic; the well-known token formats stay the preset's.
import type { Hit } from './types.ts';

/** Berth's rule ids. */
export const BERTH_RULES = {
  envFile: 'berth/env-file',
  entropy: 'berth/high-entropy',
  variable: 'berth/secret-variable',
} as const;

// Secret names

/** Words that make a name a secret's. */
const SECRET_WORDS = new Set([
  'password',
  'passwd',
  'passphrase',
  'pass',
  'pwd',
  'secret',
  'secrets',
  'token',
  'apikey',
  'credential',
  'credentials',
  'auth',
  'privatekey',
  'accesskey',
  'secretkey',
]);
/** Two words that do, written apart (API_KEY, access-key, privateKey). */
const SECRET_PAIRS = new Set(['api key', 'access key', 'private key', 'secret key', 'auth key']);
/** Last words of names that hold something about a secret, not the secret: a path to it, its
 * length, where to send it. */
const NOT_SECRET_LAST = new Set([
  'file',
  'files',
  'path',
  'dir',
  'url',
  'uri',
  'host',
  'port',
  'user',
  'username',
  'name',
  'id',
  'length',
  'len',
  'min',
  'max',
  'size',
  'ttl',
  'timeout',
  'expiry',
  'expires',
  'enabled',
  'enable',
  'disabled',
  'required',
  'type',
  'header',
  'method',
  'endpoint',
  'mode',
  'policy',
  'version',
  'ref',
]);

/** A name's words: camelCase, snake_case, kebab-case and dotted names alike. */
function words(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

/** Whether a variable or label name says it holds a secret: DB_PASSWORD, npmToken,
 * com.example.api-key; not PASSWORD_FILE or TOKEN_TTL. */
export function namesSecret(name: string): boolean {
  const w = words(name);
  if (w.length === 0 || NOT_SECRET_LAST.has(w.at(-1)!)) return false;
  for (let i = 0; i < w.length; i++) {
    if (SECRET_WORDS.has(w[i]!)) return true;
    if (i + 1 < w.length && SECRET_PAIRS.has(`${w[i]} ${w[i + 1]}`)) return true;
  }
  return false;
}

/** Values that stand in for a secret: templates, references to other variables, and the usual
 * placeholder words. */
const PLACEHOLDER =
  /^(?:change[_-]?me|change[_-]?it|change[_-]?this|replace[_-]?me|x{3,}|\*+|\.{3,}|-+|<[^>]*>|\[[^\]]*\]|\$\{[^}]*\}|\$\([^)]*\)|\$[A-Za-z_][A-Za-z0-9_]*|\{\{.*\}\}|%[A-Za-z_][A-Za-z0-9_]*%|null|none|nil|undefined|true|false|yes|no|on|off|empty|example|sample|placeholder|dummy|fake|redacted|hidden|masked|todo|tbd|fixme|secret|password|passwd|token|your[_-].*|my[_-].*|insert[_-].*|enter[_-].*|put[_-].*)$/i;

/** Values shorter than this are flags and numbers, not secrets. */
const MIN_SECRET_LENGTH = 4;

/** Whether a value assigned to a secret's name is a secret, not a placeholder for one. */
export function isSecretValue(value: string, name?: string): boolean {
  const v = value.trim();
  if (v.length < MIN_SECRET_LENGTH) return false;
  if (PLACEHOLDER.test(v)) return false;
  // The same character again and again: "0000", "aaaaaaa".
  if (/^(.)\1*$/.test(v)) return false;
  // A small number: a length, a port, a count.
  if (/^\d{1,7}$/.test(v)) return false;
  if (name !== undefined && v.toLowerCase() === name.toLowerCase()) return false;
  return true;
}

/** A `NAME=value` assigned to a secret's name, as a hit; undefined when it is not one. */
export function secretAssignment(
  name: string,
  value: string,
  line = 1,
  rule: string = BERTH_RULES.variable,
): Hit | undefined {
  if (!namesSecret(name) || !isSecretValue(value, name)) return undefined;
  return {
    rule,
    origin: 'berth',
    description:
      rule === BERTH_RULES.envFile ? 'Secret assigned in a .env file' : 'Secret-named variable',
    value: value.trim(),
    line,
    key: name,
  };
}

// .env files

/** `.env`, `.env.production`, `prod.env`. */
export function isEnvFile(path: string): boolean {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return base === '.env' || base.startsWith('.env.') || (base.endsWith('.env') && base.length > 4);
}

const ENV_LINE = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*?)\s*$/;

/** The value of a .env line: quoted (up to its closing quote), or bare up to a ` #` comment. */
function envValue(raw: string): string {
  const q = raw[0];
  if (q === '"' || q === "'") {
    const end = raw.indexOf(q, 1);
    return end < 0 ? raw.slice(1) : raw.slice(1, end);
  }
  const hash = raw.search(/\s#/);
  return (hash < 0 ? raw : raw.slice(0, hash)).trim();
}

/** Assignments to secret names in a .env file's text. */
export function scanEnvFile(text: string): Hit[] {
  const out: Hit[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = ENV_LINE.exec(lines[i]!);
    if (!m) continue;
    const hit = secretAssignment(m[1]!, envValue(m[2]!), i + 1, BERTH_RULES.envFile);
    if (hit) out.push(hit);
  }
  return out;
}

// Entropy

export const BASE64_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_=';
export const HEX_CHARS = '0123456789abcdefABCDEF';
/** detect-secrets' default limits, in bits per character. */
export const BASE64_LIMIT = 4.5;
export const HEX_LIMIT = 3.0;
/** Shorter strings are not looked at (a 20-character string cannot reach 4.5 bits anyway). */
export const MIN_ENTROPY_LENGTH = 20;

/** Shannon entropy of `data` over `charset`, in bits per character, as detect-secrets
 * computes it (characters outside the charset count for nothing). */
export function shannonEntropy(data: string, charset: string): number {
  if (data.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const c of data) counts.set(c, (counts.get(c) ?? 0) + 1);
  let entropy = 0;
  for (const [c, n] of counts) {
    if (!charset.includes(c)) continue;
    const p = n / data.length;
    entropy -= p * Math.log2(p);
  }
  return entropy;
}

const IS_HEX = /^[0-9a-fA-F]+$/;
const IS_BASE64 = /^[A-Za-z0-9+/\-_=]+$/;

/** An identifier made of words ("Importing_a_JSON_file_2015", "max-old-space-size"): three or
 * more parts split by "_" or "-", each letters with perhaps a number after, or a number. A
 * random base64url key (standard base64 has neither) splits like that almost never. */
function looksLikeWords(s: string): boolean {
  const parts = s.split(/[_-]+/).filter(Boolean);
  return parts.length >= 3 && parts.every((p) => /^(?:[A-Za-z]+\d*|\d+)$/.test(p));
}

/** Whether a string is random enough to be a key: hex over 3.0 bits per character (all-digit
 * strings lowered as detect-secrets lowers them), else base64 over 4.5. Base64 strings must
 * mix letters and digits, which words, names and paths do not. */
export function highEntropy(s: string): { charset: 'hex' | 'base64'; bits: number } | undefined {
  if (s.length < MIN_ENTROPY_LENGTH) return undefined;
  if (IS_HEX.test(s)) {
    let bits = shannonEntropy(s, HEX_CHARS);
    if (/^\d+$/.test(s)) bits -= 1.2 / Math.log2(s.length);
    return bits > HEX_LIMIT ? { charset: 'hex', bits } : undefined;
  }
  if (!IS_BASE64.test(s) || !/\d/.test(s) || !/[A-Za-z]/.test(s)) return undefined;
  if (looksLikeWords(s)) return undefined;
  const bits = shannonEntropy(s, BASE64_CHARS);
  return bits > BASE64_LIMIT ? { charset: 'base64', bits } : undefined;
}

const CONFIG_EXTENSIONS = new Set([
  'conf',
  'cfg',
  'cnf',
  'ini',
  'yaml',
  'yml',
  'json',
  'toml',
  'properties',
  'xml',
  'env',
  'tfvars',
]);
const CONFIG_NAMES = new Set([
  'Dockerfile',
  '.npmrc',
  '.pypirc',
  '.netrc',
  '.pgpass',
  '.git-credentials',
  '.dockercfg',
  'credentials',
]);
/** Lock files list checksums, which are random by design. detect-secrets leaves them out too. */
const LOCK_FILES = new Set([
  'package-lock.json',
  'npm-shrinkwrap.json',
  'yarn.lock',
  'pnpm-lock.yaml',
  'Pipfile.lock',
  'poetry.lock',
  'composer.lock',
  'Cargo.lock',
  'Gemfile.lock',
  'go.sum',
  'packages.lock.json',
]);

/** Whether a file is configuration, whose high-entropy strings are worth a look. */
export function isConfigFile(path: string): boolean {
  const base = path.slice(path.lastIndexOf('/') + 1);
  if (LOCK_FILES.has(base)) return false;
  if (CONFIG_NAMES.has(base) || isEnvFile(path)) return true;
  const dot = base.lastIndexOf('.');
  return dot > 0 && CONFIG_EXTENSIONS.has(base.slice(dot + 1).toLowerCase());
}

/** Words of names of values that are checksums and identifiers: random, but not secret. */
const CHECKSUM_WORDS = new Set([
  'integrity',
  'checksum',
  'digest',
  'hash',
  'etag',
  'nonce',
  'uuid',
  'guid',
  'commit',
  'revision',
  'rev',
  'fingerprint',
  'gpg',
  'pgp',
  'signature',
  'sig',
  'resolved',
  'version',
  'id',
]);
const isChecksumKey = (key: string) =>
  words(key).some((w) => CHECKSUM_WORDS.has(w) || /^(?:sha\d*|md5)(?:sum)?$/.test(w));
/** Candidates: a quoted string, or the value after `:` or `=`. The key before it, when there is
 * one, is group 1. */
const CANDIDATE =
  /(?:([A-Za-z0-9_.-]+)["']?\s*[:=]\s*)?(["'])([^"'\s]{20,}?)\2|([A-Za-z0-9_.-]+)["']?\s*[:=]\s*([^\s"',;#&]{20,})/g;

/** High-entropy strings of a configuration file's text. */
export function scanEntropy(text: string): Hit[] {
  const out: Hit[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    // Only lines long enough to hold a candidate are matched.
    if (line.length < MIN_ENTROPY_LENGTH) continue;
    CANDIDATE.lastIndex = 0;
    for (let m = CANDIDATE.exec(line); m; m = CANDIDATE.exec(line)) {
      const key = m[1] ?? m[4];
      const value = m[3] ?? m[5]!;
      if (key && isChecksumKey(key)) continue;
      // "sha512-…" (integrity), "sha256:…" (digests).
      if (/^(?:sha\d+|md5)[-:]/i.test(value)) continue;
      const found = highEntropy(value);
      if (!found) continue;
      out.push({
        rule: BERTH_RULES.entropy,
        origin: 'berth',
        description: `High-entropy string (${found.charset}, ${found.bits.toFixed(2)} bits per character)`,
        value,
        line: i + 1,
        ...(key ? { key } : {}),
      });
    }
  }
  return out;
}

// The image config

/** An assignment a history step's command keeps. */
export interface StepAssignment {
  /** How the step names it: a build argument a RUN was given, or an ARG or ENV instruction. */
  kind: 'build-arg' | 'ARG' | 'ENV';
  name: string;
  value: string;
}

const ASSIGNMENT = /([A-Za-z_][A-Za-z0-9_.-]*)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)/g;
const unquote = (v: string) =>
  v.length >= 2 && (v[0] === '"' || v[0] === "'") && v.at(-1) === v[0]
    ? v.slice(1, -1).replace(/\\(.)/g, '$1')
    : v;

/**
 * The build arguments and variables a history step's `created_by` keeps:
 *  - a RUN given build arguments, as BuildKit and the classic builder both record it:
 *    `RUN |2 NPM_TOKEN=abc OTHER=x /bin/sh -c npm ci` (the count, then that many assignments);
 *  - `ARG NAME=value` and `ENV NAME=value` (BuildKit), `/bin/sh -c #(nop)  ARG …` (classic), and
 *    the old `ENV NAME value`.
 */
export function stepAssignments(createdBy: string): StepAssignment[] {
  const out: StepAssignment[] = [];
  const run = /^\s*(?:RUN\s+)?\|(\d+)\s+/.exec(createdBy);
  if (run) {
    let n = Number(run[1]);
    const rest = createdBy.slice(run[0].length);
    ASSIGNMENT.lastIndex = 0;
    // The assignments come first, one after another, separated by single spaces.
    let at = 0;
    for (let m = ASSIGNMENT.exec(rest); m && n > 0; m = ASSIGNMENT.exec(rest), n--) {
      if (rest.slice(at, m.index).trim() !== '') break;
      out.push({ kind: 'build-arg', name: m[1]!, value: unquote(m[2]!) });
      at = m.index + m[0].length;
    }
    return out;
  }
  const inst = /(?:^\s*|#\(nop\)\s+)(ARG|ENV)\s+(.*)$/s.exec(createdBy);
  if (!inst) return out;
  const kind = inst[1] as 'ARG' | 'ENV';
  const body = inst[2]!.trim();
  ASSIGNMENT.lastIndex = 0;
  let any = false;
  for (let m = ASSIGNMENT.exec(body); m; m = ASSIGNMENT.exec(body)) {
    any = true;
    out.push({ kind, name: m[1]!, value: unquote(m[2]!) });
  }
  // ENV NAME value (the form without "=").
  const legacy = /^([A-Za-z_][A-Za-z0-9_.-]*)\s+(.+)$/s.exec(body);
  if (!any && kind === 'ENV' && legacy) {
    out.push({ kind, name: legacy[1]!, value: unquote(legacy[2]!.trim()) });
  }
  return out;
}
