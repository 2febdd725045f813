// Test secrets, made at test time and never committed: private keys from openssl, and tokens in
// each service's published format from random bytes. None is a real credential: they have the
// shape of one, which is all a scanner can see.
import { execFile } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { promisify } from 'node:util';

const exec = promisify(execFile);

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const BASE64 = BASE62 + '+/';

/** `n` random characters of `alphabet`. */
export function randomOf(alphabet: string, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[randomInt(alphabet.length)];
  return s;
}

/** Bits per character of `s` (Shannon), as a check of the draws below. */
function bitsPerChar(s: string): number {
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) bits -= (n / s.length) * Math.log2(n / s.length);
  return bits;
}

/** A random base64 string well over detect-secrets' 4.5 bits per character: a random draw of
 * 40 can fall under it (repeats happen), so draws are made until one is clearly over. */
export function highEntropyString(n = 40): string {
  for (;;) {
    const s = randomBytes(n).toString('base64').replace(/=+$/, '').slice(0, n);
    if (/\d/.test(s) && /[A-Za-z]/.test(s) && bitsPerChar(s) > 4.7) return s;
  }
}

export interface TestSecrets {
  /** PEM, PKCS#8 ("BEGIN PRIVATE KEY"). */
  rsaKey: string;
  /** PEM, PKCS#8, P-256. */
  ecKey: string;
  awsAccessKeyId: string;
  awsSecretAccessKey: string;
  /** Classic personal access token: ghp_ and 36 base62 characters (secretlint's rule checks
   * the format only, not the CRC-32 the last six carry). */
  githubToken: string;
  slackBotToken: string;
  npmToken: string;
  dbPassword: string;
  entropy: string;
  apiToken: string;
  labelToken: string;
  buildArgToken: string;
}

/** A fresh set of test secrets (openssl makes the keys). */
export async function makeTestSecrets(): Promise<TestSecrets> {
  const rsa = await exec('openssl', [
    'genpkey',
    '-algorithm',
    'RSA',
    '-pkeyopt',
    'rsa_keygen_bits:2048',
  ]);
  // PKCS#8 as genpkey writes it. (The SEC 1 form of a P-256 key, "BEGIN EC PRIVATE KEY", is
  // 121 bytes of DER, base64 "MHcC…": the preset's check for DER's long-form length, "MI…",
  // passes it over.)
  const ec = await exec('openssl', [
    'genpkey',
    '-algorithm',
    'EC',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
  ]);
  return {
    rsaKey: rsa.stdout,
    ecKey: ec.stdout,
    awsAccessKeyId: 'AKIA' + randomOf(BASE32, 16),
    // The preset's pattern ends in \b: a key ending in "/" or "+" at the end of a line slips
    // through it (one real key in sixteen). The fixture's ends in a letter or digit.
    awsSecretAccessKey: randomOf(BASE64, 39) + randomOf(BASE62, 1),
    githubToken: 'ghp_' + randomOf(BASE62, 36),
    slackBotToken: `xoxb-${randomInt(1e11, 1e12)}-${randomInt(1e12, 1e13)}-${randomOf(BASE62, 24)}`,
    npmToken: 'npm_' + randomOf(BASE62, 36),
    dbPassword: 'pw-' + randomOf(BASE62, 16),
    entropy: highEntropyString(40),
    apiToken: 'tok-' + randomOf(BASE62, 28),
    labelToken: 'lbl-' + randomOf(BASE62, 28),
    buildArgToken: 'arg-' + randomOf(BASE62, 28),
  };
}
