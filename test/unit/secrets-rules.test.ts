// The secret scan's rules: secretlint's recommended preset run by our own small context (every
// kind of test secret found, the value taken out of the message, the line right), and Berth's
// detectors (.env assignments, entropy, secret-named variables, build arguments in history),
// with their not-found cases: placeholders, checksums, lock files.
import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, test } from 'vitest';
import {
  BERTH_RULES,
  highEntropy,
  isConfigFile,
  isEnvFile,
  isSecretValue,
  namesSecret,
  scanEntropy,
  scanEnvFile,
  shannonEntropy,
  stepAssignments,
  BASE64_CHARS,
  HEX_CHARS,
} from '../../src/lib/secrets/detectors.ts';
import { mask } from '../../src/lib/secrets/mask.ts';
import { loadPreset, RULE_SET, type RuleRunner } from '../../src/lib/secrets/preset.ts';
import { highEntropyString, makeTestSecrets, type TestSecrets } from '../harness/secrets.ts';

let runner: RuleRunner;
let s: TestSecrets;

beforeAll(async () => {
  runner = await loadPreset();
  s = await makeTestSecrets();
});

describe('secretlint recommended preset', () => {
  test('RULE_SET names the installed package and version', async () => {
    const pkg = JSON.parse(
      await readFile(`node_modules/${RULE_SET.package}/package.json`, 'utf8'),
    ) as { version: string; license: string };
    expect(pkg.version, 'RULE_SET.version').toBe(RULE_SET.version);
    expect(pkg.license, 'RULE_SET.licence').toBe(RULE_SET.licence);
  });

  test('every rule of the preset runs but the one that reads disable comments', () => {
    expect(runner.rules).toContain('@secretlint/secretlint-rule-github');
    expect(runner.rules).toContain('@secretlint/secretlint-rule-privatekey');
    expect(runner.rules).not.toContain('@secretlint/secretlint-rule-filter-comments');
    expect(runner.rules.length).toBeGreaterThanOrEqual(25);
  });

  test('finds each kind of test secret, with its value and line', () => {
    const text = [
      '# credentials for the deploy',
      `aws_access_key_id = ${s.awsAccessKeyId}`,
      `aws_secret_access_key = ${s.awsSecretAccessKey}`,
      `github: ${s.githubToken}`,
      `slack = "${s.slackBotToken}"`,
      `//registry.npmjs.org/:_authToken=${s.npmToken}`,
      s.rsaKey.trimEnd(),
      s.ecKey.trimEnd(),
    ].join('\n');
    const hits = runner.scan(text, 'etc/deploy/credentials');
    const rsaLine = 7;
    const ecLine = rsaLine + s.rsaKey.trimEnd().split('\n').length;
    const want: [string, string, number][] = [
      ['@secretlint/secretlint-rule-aws', s.awsAccessKeyId, 2],
      ['@secretlint/secretlint-rule-aws', s.awsSecretAccessKey, 3],
      ['@secretlint/secretlint-rule-github', s.githubToken, 4],
      ['@secretlint/secretlint-rule-slack', s.slackBotToken, 5],
      ['@secretlint/secretlint-rule-npm', s.npmToken, 6],
      ['@secretlint/secretlint-rule-privatekey', s.rsaKey.trimEnd(), rsaLine],
      ['@secretlint/secretlint-rule-privatekey', s.ecKey.trimEnd(), ecLine],
    ];
    for (const [rule, value, line] of want) {
      const hit = hits.find((h) => h.rule === rule && h.value === value);
      expect(hit, `scan() has no ${rule} hit for ${value.slice(0, 12)}…`).toBeDefined();
      expect(hit!.line, `${rule} line`).toBe(line);
      expect(hit!.origin).toBe('secretlint');
    }
  });

  test('descriptions never hold the secret', () => {
    const text = `token ${s.githubToken}\nnpm ${s.npmToken}\n${s.rsaKey}`;
    const hits = runner.scan(text, 'x.txt');
    expect(hits.map((h) => h.description)).toEqual(
      expect.arrayContaining([
        'GitHub Token (GitHub personal access tokens)',
        'Npm access token',
        'Private key',
      ]),
    );
    for (const h of hits) {
      expect(h.description).not.toContain(h.value.slice(0, 8));
      expect(h.description).not.toContain('\u0000');
    }
  });

  test('finds nothing in ordinary text, and nothing in the rules’ documented examples', () => {
    const text = [
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      '-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----',
      'ghp_short',
    ].join('\n');
    expect(runner.scan(text, 'README.md')).toEqual([]);
  });

  test('a .p12 is never read from the local disk by its path', () => {
    // The GCP rule would read the path given from the disk (here: this repository's own
    // package.json); it must see no extension, and so no file.
    expect(runner.scan('binary-ish text', 'package.json.p12')).toEqual([]);
  });
});

describe('.env files', () => {
  test.each([
    ['.env', true],
    ['srv/app/.env', true],
    ['srv/app/.env.production', true],
    ['etc/prod.env', true],
    ['etc/env', false],
    ['etc/.environment', false],
    ['usr/lib/python3/site-packages/dotenv/main.py', false],
  ])('isEnvFile(%s) = %s', (path, want) => {
    expect(isEnvFile(path)).toBe(want);
  });

  test('finds assignments to secret names, ignores placeholders and other names', () => {
    const text = [
      '# the app',
      `DB_PASSWORD=${s.dbPassword}`,
      'DB_HOST=db.internal',
      `export API_KEY="${s.apiToken}" # the key`,
      "SESSION_SECRET='changeme'",
      'SMTP_PASSWORD=${SMTP_PASSWORD}',
      'REDIS_PASSWORD=',
      'PASSWORD_FILE=/run/secrets/db',
      'TOKEN_TTL=3600',
      'GITHUB_TOKEN=<your token here>',
      'AWS_SECRET=xxxxxxxx',
      `clientSecret = ${s.labelToken}`,
    ].join('\n');
    const hits = scanEnvFile(text);
    expect(hits.map((h) => [h.key, h.value, h.line])).toEqual([
      ['DB_PASSWORD', s.dbPassword, 2],
      ['API_KEY', s.apiToken, 4],
      ['clientSecret', s.labelToken, 12],
    ]);
    for (const h of hits) expect(h.rule).toBe(BERTH_RULES.envFile);
  });

  test.each([
    ['DB_PASSWORD', true],
    ['dbPassword', true],
    ['NPM_TOKEN', true],
    ['com.example.api-key', true],
    ['AWS_SECRET_ACCESS_KEY', true],
    ['PRIVATE_KEY', true],
    ['GPG_KEY', false],
    ['PASSWORD_FILE', false],
    ['TOKEN_URL', false],
    ['PASSWORD_MIN_LENGTH', false],
    ['PATH', false],
    ['KEYCLOAK_HOST', false],
    ['PASSENGER_VERSION', false],
  ])('namesSecret(%s) = %s', (name, want) => {
    expect(namesSecret(name)).toBe(want);
  });

  test.each([
    ['', false],
    ['changeme', false],
    ['CHANGE_ME', false],
    ['${DB_PASSWORD}', false],
    ['$DB_PASSWORD', false],
    ['{{ .Values.password }}', false],
    ['<password>', false],
    ['xxxxxx', false],
    ['********', false],
    ['your-token-here', false],
    ['0000', false],
    ['8080', false],
    ['true', false],
    ['s3cr3t-Pa55', true],
    ['hunter2!', true],
  ])('isSecretValue(%j) = %s', (value, want) => {
    expect(isSecretValue(value)).toBe(want);
  });
});

describe('entropy', () => {
  test('shannonEntropy as detect-secrets computes it', () => {
    expect(shannonEntropy('aaaa', BASE64_CHARS)).toBe(0);
    expect(shannonEntropy('abcd', BASE64_CHARS)).toBeCloseTo(2, 10);
    expect(shannonEntropy('0123456789abcdef', HEX_CHARS)).toBeCloseTo(4, 10);
    // Characters outside the charset count for nothing but the length.
    expect(shannonEntropy('ab..', BASE64_CHARS)).toBeCloseTo(1, 10);
  });

  test('thresholds: base64 over 4.5 bits, hex over 3.0, at least 20 characters', () => {
    const b64 = highEntropyString(40);
    expect(highEntropy(b64)?.charset).toBe('base64');
    // 19 characters of the same randomness: too short to be looked at.
    expect(highEntropy(b64.slice(0, 19))).toBeUndefined();
    // Hex: 32 random hex digits are about 3.7 bits; a repeated pattern of 3 digits is 1.58.
    expect(highEntropy('9f86d081884c7d659a2feaa0c55ad015')?.charset).toBe('hex');
    expect(highEntropy('abcabcabcabcabcabcabcabc')).toBeUndefined();
    // Letters only, however mixed (a word, a name, a path) are not base64 secrets.
    expect(highEntropy('ThisIsAVeryLongIdentifierWithManyLetters')).toBeUndefined();
    // Identifiers made of words, as generated message keys are.
    expect(highEntropy('Importing_a_JSON_file_into_an_ECMAScript_module_2015')).toBeUndefined();
    expect(highEntropy('ECMAScript_imports_and_exports_cannot_be_written_1')).toBeUndefined();
    // All digits: lowered by 1.2 / log2(length), as detect-secrets does.
    expect(highEntropy('31415926535897932384')).toBeUndefined();
  });

  test.each([
    ['etc/app/config.yaml', true],
    ['srv/settings.JSON', true],
    ['etc/my.cnf', true],
    ['root/.npmrc', true],
    ['Dockerfile', true],
    ['srv/app/.env.local', true],
    ['srv/app/package-lock.json', false],
    ['srv/app/yarn.lock', false],
    ['usr/lib/libc.so.6', false],
    ['srv/app/main.js', false],
  ])('isConfigFile(%s) = %s', (path, want) => {
    expect(isConfigFile(path)).toBe(want);
  });

  test('finds a random value in a configuration file; not checksums, not ordinary values', () => {
    const text = [
      'service:',
      `  signing_key: ${s.entropy}`,
      '  image: registry.example.com/team/app:1.2.3',
      '  path: /usr/local/lib/python3.12/site-packages',
      '  sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
      `  "integrity": "sha512-${highEntropyString(60)}"`,
      `  commit: 4f1b2b0b822cd15d6c15b0f00a089f86d081884c`,
      `  description: "${'A'.repeat(30)}"`,
    ].join('\n');
    const hits = scanEntropy(text);
    expect(hits.map((h) => [h.key, h.value, h.line])).toEqual([['signing_key', s.entropy, 2]]);
    expect(hits[0]!.description).toMatch(/^High-entropy string \(base64, \d\.\d\d bits/);
  });
});

describe('history', () => {
  test.each([
    [
      'RUN |2 NPM_TOKEN=abc123 OTHER=x /bin/sh -c npm ci',
      [
        ['build-arg', 'NPM_TOKEN', 'abc123'],
        ['build-arg', 'OTHER', 'x'],
      ],
    ],
    // The classic builder records build arguments the same way, without RUN.
    ['|1 NPM_TOKEN=abc123 /bin/sh -c npm ci', [['build-arg', 'NPM_TOKEN', 'abc123']]],
    // Only as many assignments as the count says: the command's own are not build arguments.
    ['|1 A=1 /bin/sh -c B=2 make', [['build-arg', 'A', '1']]],
    ['ARG API_TOKEN=tok', [['ARG', 'API_TOKEN', 'tok']]],
    ['/bin/sh -c #(nop)  ARG API_TOKEN=tok', [['ARG', 'API_TOKEN', 'tok']]],
    [
      'ENV API_KEY="a b" MODE=prod',
      [
        ['ENV', 'API_KEY', 'a b'],
        ['ENV', 'MODE', 'prod'],
      ],
    ],
    ['/bin/sh -c #(nop)  ENV API_KEY old style', [['ENV', 'API_KEY', 'old style']]],
    ['RUN /bin/sh -c apt-get install -y curl', []],
    ['COPY . /app # buildkit', []],
  ])('stepAssignments(%j)', (createdBy, want) => {
    expect(stepAssignments(createdBy).map((a) => [a.kind, a.name, a.value])).toEqual(want);
  });
});

describe('mask', () => {
  test('shows at most four characters and a quarter of the value, and the length', () => {
    expect(mask(s.githubToken)).toBe(`ghp_… (40 characters)`);
    expect(mask('hunter2!')).toBe('hu… (8 characters)');
    expect(mask('abc')).toBe('… (3 characters)');
    expect(mask('x')).toBe('… (1 character)');
  });

  test('never holds the value, for any value', () => {
    for (const v of [s.awsSecretAccessKey, s.rsaKey, s.dbPassword, s.npmToken, 'pässwörd-😀-x']) {
      const m = mask(v);
      expect(m.includes(v)).toBe(false);
      // No run of the value longer than four characters.
      for (let i = 0; i + 5 <= v.length; i++) expect(m).not.toContain(v.slice(i, i + 5));
    }
  });
});
