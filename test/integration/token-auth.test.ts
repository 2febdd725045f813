/**
 * Docker-style token auth against a real distribution registry (`auth.token`) and our token
 * server: challenges, anonymous pulls of public repositories, insufficient_scope for private
 * ones, logged-in pulls, bad credentials, and skopeo doing the whole flow itself.
 */
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ACCEPT_ALL_MANIFESTS,
  buildWhiteout,
  OciLayout,
  pushLayout,
  sha256Bytes,
  skopeo,
  type FetchedManifest,
} from '../harness/fixtures.ts';
import {
  registryAuthHeaders,
  startRegistry,
  startTokenRegistry,
  type TokenRegistry,
} from '../harness/registry.ts';
import {
  decodeJwt,
  fetchToken,
  libtrustKeyId,
  signJwt,
  type AccessEntry,
} from '../harness/token-server.ts';

const USERS = { alice: 's3cret' };

let registry: TokenRegistry | undefined;
let whiteout: FetchedManifest;

beforeAll(async () => {
  const t0 = Date.now();
  const plain = await startRegistry();
  const work = await mkdtemp(join(tmpdir(), 'berth-token-test-'));
  try {
    const layout = await OciLayout.create(join(work, 'layout'));
    const built = await buildWhiteout(layout);
    await layout.tag(built.descriptor, 'whiteout');
    whiteout = await pushLayout({
      layout,
      layoutTag: 'whiteout',
      registry: plain,
      repository: 'test/whiteout',
      tag: 'v1',
      expect: built.descriptor,
    });
    const t1 = Date.now();
    registry = await startTokenRegistry({
      users: USERS,
      publicRepositories: (name) => name.startsWith('public/'),
    });
    const t2 = Date.now();
    for (const repo of ['public/whiteout', 'private/whiteout']) {
      await skopeo([
        'copy',
        '--quiet',
        '--preserve-digests',
        '--src-tls-verify=false',
        '--dest-tls-verify=false',
        '--dest-creds=alice:s3cret',
        `docker://${plain.host}/test/whiteout:v1`,
        `docker://${registry.host}/${repo}:v1`,
      ]);
    }
    console.log(
      `whiteout built+pushed ${t1 - t0} ms, token registry up ${t2 - t1} ms, ` +
        `2 token pushes ${Date.now() - t2} ms`,
    );
  } catch (err) {
    if (registry) console.error(registry.service.output().join('\n'));
    throw err;
  } finally {
    await plain.stop();
    await rm(work, { recursive: true, force: true });
  }
});

afterAll(async () => {
  await registry?.stop();
});

function reg(): TokenRegistry {
  if (!registry) throw new Error('token registry not started');
  return registry;
}

const token = (scopes: string[], user?: string, password?: string) =>
  fetchToken({
    realm: reg().tokenServer.realm,
    service: reg().tokenServer.service,
    scopes,
    ...(user !== undefined ? { user, password: password ?? '' } : {}),
  });

async function getManifest(repository: string, bearer?: string): Promise<Response> {
  return fetch(`${reg().url}/v2/${repository}/manifests/v1`, {
    headers: {
      accept: ACCEPT_ALL_MANIFESTS,
      ...(bearer !== undefined ? { authorization: `Bearer ${bearer}` } : {}),
    },
  });
}

/** Fail with the registry's log when it refuses a token we expected it to take. */
async function expectStatus(res: Response, status: number): Promise<Buffer> {
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status !== status) {
    throw new Error(
      `expected ${status}, got ${res.status} ${res.headers.get('www-authenticate') ?? ''}\n` +
        `${body.toString('utf8')}\n--- registry log ---\n${reg().service.output().join('\n')}`,
    );
  }
  return body;
}

describe('token registry', () => {
  it('challenges with Bearer realm and service on /v2/', async () => {
    const res = await fetch(`${reg().url}/v2/`);
    await res.body?.cancel();
    expect(res.status).toBe(401);
    const { realm, service } = reg().tokenServer;
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer realm="${realm}",service="${service}"`,
    );
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    expect(reg().auth).toBe('token');
    expect(reg().token?.certPath).toBe(reg().tokenServer.certPath);
  });

  it('issues a well-formed RS256 JWT whose kid is the libtrust ID of the certificate', async () => {
    const { status, token: jwt, body } = await token(['repository:public/whiteout:pull']);
    expect(status).toBe(200);
    expect(body.access_token).toBe(jwt);
    expect(body.expires_in).toBe(300);
    expect(typeof body.issued_at).toBe('string');
    const { header, claims } = decodeJwt(jwt!);
    const cert = new X509Certificate(await readFile(reg().tokenServer.certPath));
    const kid = libtrustKeyId(cert.publicKey);
    expect(kid).toMatch(/^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
    expect(header).toEqual({ typ: 'JWT', alg: 'RS256', kid });
    expect(claims).toMatchObject({
      iss: reg().tokenServer.issuer,
      sub: '',
      aud: reg().tokenServer.service,
      access: [{ type: 'repository', name: 'public/whiteout', actions: ['pull'] }],
    });
    const c = claims as { exp: number; nbf: number; iat: number };
    expect(c.exp - c.iat).toBe(300);
    expect(c.nbf).toBeLessThan(c.iat);
  });

  it('an anonymous token pulls a public repository', async () => {
    const { token: jwt } = await token(['repository:public/whiteout:pull']);
    const body = await expectStatus(await getManifest('public/whiteout', jwt), 200);
    expect(sha256Bytes(body)).toBe(whiteout.digest);
  });

  it('an anonymous token gets no access to a private repository: insufficient_scope', async () => {
    const { status, token: jwt } = await token(['repository:private/whiteout:pull']);
    expect(status).toBe(200);
    expect(decodeJwt(jwt!).claims.access).toEqual([
      { type: 'repository', name: 'private/whiteout', actions: [] },
    ] satisfies AccessEntry[]);
    const res = await getManifest('private/whiteout', jwt);
    await expectStatus(res, 401);
    const challenge = res.headers.get('www-authenticate') ?? '';
    expect(challenge).toContain('error="insufficient_scope"');
    expect(challenge).toContain('scope="repository:private/whiteout:pull"');
    // And without any token: a plain challenge with the scope to ask for.
    const bare = await getManifest('private/whiteout');
    await expectStatus(bare, 401);
    expect(bare.headers.get('www-authenticate')).toContain(
      'scope="repository:private/whiteout:pull"',
    );
  });

  it("alice's token pulls the private repository", async () => {
    const { status, token: jwt } = await token(
      ['repository:private/whiteout:pull'],
      'alice',
      's3cret',
    );
    expect(status).toBe(200);
    expect(decodeJwt(jwt!).claims.sub).toBe('alice');
    const body = await expectStatus(await getManifest('private/whiteout', jwt), 200);
    expect(sha256Bytes(body)).toBe(whiteout.digest);
  });

  it('anonymous push to a public repository gets pull only and is refused', async () => {
    const { token: jwt } = await token(['repository:public/whiteout:pull,push']);
    expect(decodeJwt(jwt!).claims.access).toEqual([
      { type: 'repository', name: 'public/whiteout', actions: ['pull'] },
    ]);
    const res = await fetch(`${reg().url}/v2/public/whiteout/blobs/uploads/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${jwt}` },
    });
    await expectStatus(res, 401);
    expect(res.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
  });

  it('registryAuthHeaders does the token flow for the first user', async () => {
    const headers = await registryAuthHeaders(reg(), 'private/whiteout');
    expect(headers.authorization).toMatch(/^Bearer /);
    const res = await fetch(`${reg().url}/v2/private/whiteout/manifests/v1`, {
      headers: { accept: ACCEPT_ALL_MANIFESTS, ...headers },
    });
    expect(sha256Bytes(await expectStatus(res, 200))).toBe(whiteout.digest);
  });

  it('a wrong password gets 401 from the token server; the password is never recorded', async () => {
    const {
      status,
      token: jwt,
      body,
    } = await token(['repository:private/whiteout:pull'], 'alice', 'wrong-password');
    expect(status).toBe(401);
    expect(jwt).toBeUndefined();
    expect(body).toEqual({
      errors: [{ code: 'UNAUTHORIZED', message: expect.any(String) as string }],
    });
    const last = reg().tokenServer.requests.at(-1);
    expect(last).toEqual({
      scope: ['repository:private/whiteout:pull'],
      user: 'alice',
      status: 401,
    });
    expect(JSON.stringify(reg().tokenServer.requests)).not.toMatch(/s3cret|wrong-password/);
  });

  it('a wrong service gets 400', async () => {
    const { status } = await fetchToken({
      realm: reg().tokenServer.realm,
      service: 'some-other-registry',
      scopes: ['repository:public/whiteout:pull'],
    });
    expect(status).toBe(400);
  });

  it('the registry rejects a token signed by our key under another kid', async () => {
    const { token: jwt } = await token(['repository:public/whiteout:pull']);
    const [, claims, signature] = jwt!.split('.');
    const { header } = decodeJwt(jwt!);
    const otherKid = libtrustKeyId(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey);
    const badHeader = Buffer.from(JSON.stringify({ ...header, kid: otherKid })).toString(
      'base64url',
    );
    const res = await getManifest('public/whiteout', `${badHeader}.${claims}.${signature}`);
    await expectStatus(res, 401);
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  it('the registry rejects a token signed by another key with the same kid', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const now = Math.floor(Date.now() / 1000);
    const forged = signJwt(
      {
        iss: reg().tokenServer.issuer,
        sub: 'mallory',
        aud: reg().tokenServer.service,
        exp: now + 300,
        nbf: now - 10,
        iat: now,
        jti: 'forged',
        access: [{ type: 'repository', name: 'private/whiteout', actions: ['pull'] }],
      },
      privateKey,
      reg().tokenServer.kid,
    );
    const res = await getManifest('private/whiteout', forged);
    await expectStatus(res, 401);
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });
});

describe('skopeo against the token registry', () => {
  it('inspects a public repository anonymously', async () => {
    const { stdoutBytes } = await skopeo([
      'inspect',
      '--raw',
      '--tls-verify=false',
      `docker://${reg().host}/public/whiteout:v1`,
    ]);
    expect(sha256Bytes(stdoutBytes)).toBe(whiteout.digest);
    // Not --raw: also reads the config blob, with the same anonymous token.
    const { stdout } = await skopeo([
      'inspect',
      '--tls-verify=false',
      `docker://${reg().host}/public/whiteout:v1`,
    ]);
    expect((JSON.parse(stdout) as { Digest: string }).Digest).toBe(whiteout.digest);
  });

  it('cannot inspect a private repository anonymously', async () => {
    await expect(
      skopeo([
        'inspect',
        '--raw',
        '--tls-verify=false',
        `docker://${reg().host}/private/whiteout:v1`,
      ]),
    ).rejects.toThrow(/unauthorized|authentication required|denied/i);
  });

  it('inspects a private repository with --creds', async () => {
    const before = reg().tokenServer.requests.length;
    const { stdout } = await skopeo([
      'inspect',
      '--tls-verify=false',
      '--creds',
      'alice:s3cret',
      `docker://${reg().host}/private/whiteout:v1`,
    ]);
    expect((JSON.parse(stdout) as { Digest: string }).Digest).toBe(whiteout.digest);
    const mine = reg().tokenServer.requests.slice(before);
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.every((r) => r.user === 'alice' && r.status === 200)).toBe(true);
  });
});
