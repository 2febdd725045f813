// How real registries challenge for auth, and that Berth's client asks each one's token server
// for the right thing. The headers below are transcriptions of what these registries send
// (anonymous GET /v2/ and anonymous manifest GET), written down from their documented and
// commonly observed responses, not captured live by this test: no network is used. Each is run
// through parseChallenges and through a RegistryClient whose scripted transport answers like
// that registry, and the test asserts the API host and the token URL (realm, service, scope).
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { MediaType } from '../../src/lib/oci/mediatypes.ts';
import { parseReference, registryApiHost } from '../../src/lib/reference/reference.ts';
import { parseChallenges } from '../../src/lib/registry/challenge.ts';
import { RegistryClient } from '../../src/lib/registry/client.ts';
import { RegistryError } from '../../src/lib/registry/errors.ts';
import { type Answer, scriptedTransport } from '../harness/transport.ts';

/** The scripted transport behind a RegistryClient with this file's retry policy. */
function scripted(answers: Answer[]) {
  const script = scriptedTransport(answers);
  const retry = { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 };
  return { ...script, client: new RegistryClient({ transport: script.transport, retry }) };
}

const enc = new TextEncoder();
const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const manifestBytes = enc.encode(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: `sha256:${'c'.repeat(64)}`, size: 2 },
    layers: [],
  }),
);
const manifestOk = () =>
  new Response(manifestBytes, {
    status: 200,
    headers: {
      'Content-Type': MediaType.OciManifest,
      'Docker-Content-Digest': sha256(manifestBytes),
      'Docker-Distribution-Api-Version': 'registry/2.0',
    },
  });
const unauthorizedBody = JSON.stringify({
  errors: [{ code: 'UNAUTHORIZED', message: 'authentication required', detail: null }],
});

interface Quirk {
  name: string;
  /** What a user types. */
  ref: string;
  apiHost: string;
  repository: string;
  /** GET /v2/ anonymously: status and WWW-Authenticate (none for an anonymous registry). */
  ping: { status: number; wwwAuthenticate?: string };
  /** The scope some registries put in the /v2/ challenge; the client must not use it. */
  pingScope?: string;
  /** WWW-Authenticate of an anonymous (or insufficient-scope) manifest GET. */
  manifestChallenge?: string;
  /** The token endpoint, when the registry uses bearer tokens. */
  token?: { realm: string; service: string; body: Record<string, unknown> };
}

const quirks: Quirk[] = [
  {
    name: 'Docker Hub',
    ref: 'alpine:3.20',
    apiHost: 'registry-1.docker.io',
    repository: 'library/alpine',
    ping: {
      status: 401,
      wwwAuthenticate: 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io"',
    },
    manifestChallenge:
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
    token: {
      realm: 'https://auth.docker.io/token',
      service: 'registry.docker.io',
      // Docker Hub sends the token twice, as token and as access_token (OAuth2 shape).
      body: {
        token: 'hub-token',
        access_token: 'hub-token',
        expires_in: 300,
        issued_at: '2024-05-01T12:00:00.000000000Z',
      },
    },
  },
  {
    name: 'ghcr.io',
    ref: 'ghcr.io/owner/app:v1',
    apiHost: 'ghcr.io',
    repository: 'owner/app',
    // ghcr.io puts a placeholder scope in its /v2/ challenge.
    ping: {
      status: 401,
      wwwAuthenticate:
        'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:user/image:pull"',
    },
    pingScope: 'repository:user/image:pull',
    manifestChallenge:
      'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:owner/app:pull"',
    token: {
      realm: 'https://ghcr.io/token',
      service: 'ghcr.io',
      body: { token: 'ghcr-token' }, // no expires_in
    },
  },
  {
    name: 'quay.io',
    ref: 'quay.io/coreos/etcd:v3.5.0',
    apiHost: 'quay.io',
    repository: 'coreos/etcd',
    ping: {
      status: 401,
      wwwAuthenticate: 'Bearer realm="https://quay.io/v2/auth",service="quay.io"',
    },
    manifestChallenge:
      'Bearer realm="https://quay.io/v2/auth",service="quay.io",scope="repository:coreos/etcd:pull"',
    token: { realm: 'https://quay.io/v2/auth', service: 'quay.io', body: { token: 'quay-token' } },
  },
  {
    name: 'gcr.io',
    ref: 'gcr.io/distroless/static:nonroot',
    apiHost: 'gcr.io',
    repository: 'distroless/static',
    ping: {
      status: 401,
      wwwAuthenticate: 'Bearer realm="https://gcr.io/v2/token",service="gcr.io"',
    },
    manifestChallenge:
      'Bearer realm="https://gcr.io/v2/token",service="gcr.io",scope="repository:distroless/static:pull"',
    token: {
      realm: 'https://gcr.io/v2/token',
      service: 'gcr.io',
      body: { expires_in: 43200, issued_at: '2024-05-01T12:00:00.0Z', token: 'gcr-token' },
    },
  },
  {
    name: 'Artifact Registry (us-docker.pkg.dev)',
    ref: 'us-docker.pkg.dev/google-samples/containers/gke/hello-app:1.0',
    apiHost: 'us-docker.pkg.dev',
    repository: 'google-samples/containers/gke/hello-app',
    ping: {
      status: 401,
      wwwAuthenticate:
        'Bearer realm="https://us-docker.pkg.dev/v2/token",service="us-docker.pkg.dev"',
    },
    manifestChallenge:
      'Bearer realm="https://us-docker.pkg.dev/v2/token",service="us-docker.pkg.dev",scope="repository:google-samples/containers/gke/hello-app:pull"',
    token: {
      realm: 'https://us-docker.pkg.dev/v2/token',
      service: 'us-docker.pkg.dev',
      body: { token: 'ar-token', expires_in: 3600 },
    },
  },
  {
    name: 'Artifact Registry (europe-west1-docker.pkg.dev)',
    ref: 'europe-west1-docker.pkg.dev/proj/repo/img:tag',
    apiHost: 'europe-west1-docker.pkg.dev',
    repository: 'proj/repo/img',
    ping: {
      status: 401,
      wwwAuthenticate:
        'Bearer realm="https://europe-west1-docker.pkg.dev/v2/token",service="europe-west1-docker.pkg.dev"',
    },
    token: {
      realm: 'https://europe-west1-docker.pkg.dev/v2/token',
      service: 'europe-west1-docker.pkg.dev',
      body: { token: 'ar-eu-token' },
    },
  },
  {
    name: 'public.ecr.aws',
    ref: 'public.ecr.aws/docker/library/alpine:3.20',
    apiHost: 'public.ecr.aws',
    repository: 'docker/library/alpine',
    // The realm has a trailing slash, and the /v2/ challenge carries scope="aws".
    ping: {
      status: 401,
      wwwAuthenticate:
        'Bearer realm="https://public.ecr.aws/token/",service="public.ecr.aws",scope="aws"',
    },
    pingScope: 'aws',
    manifestChallenge:
      'Bearer realm="https://public.ecr.aws/token/",service="public.ecr.aws",scope="repository:docker/library/alpine:pull"',
    token: {
      realm: 'https://public.ecr.aws/token/',
      service: 'public.ecr.aws',
      body: { token: 'ecr-token' },
    },
  },
  {
    name: 'Azure Container Registry',
    ref: 'myreg.azurecr.io/team/app:v1',
    apiHost: 'myreg.azurecr.io',
    repository: 'team/app',
    ping: {
      status: 401,
      wwwAuthenticate:
        'Bearer realm="https://myreg.azurecr.io/oauth2/token",service="myreg.azurecr.io"',
    },
    token: {
      realm: 'https://myreg.azurecr.io/oauth2/token',
      service: 'myreg.azurecr.io',
      body: { access_token: 'acr-token' }, // OAuth2 shape only
    },
  },
  {
    name: 'mcr.microsoft.com (anonymous: /v2/ is 200 without a challenge)',
    ref: 'mcr.microsoft.com/dotnet/runtime:8.0',
    apiHost: 'mcr.microsoft.com',
    repository: 'dotnet/runtime',
    ping: { status: 200 },
  },
  {
    name: 'two challenges in one header (Basic and Bearer): Bearer wins',
    ref: 'registry.example/team/app:v1',
    apiHost: 'registry.example',
    repository: 'team/app',
    ping: {
      status: 401,
      wwwAuthenticate:
        'Basic realm="Registry Realm", Bearer realm="https://auth.example/token",service="registry.example"',
    },
    token: {
      realm: 'https://auth.example/token',
      service: 'registry.example',
      body: { token: 'example-token' },
    },
  },
];

const tagOf = (ref: string) => parseReference(ref).tag!;
const pull = (repository: string) => `repository:${repository}:pull`;

function pingAnswer(q: Quirk) {
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'Docker-Distribution-Api-Version': 'registry/2.0',
  };
  if (q.ping.wwwAuthenticate) headers['WWW-Authenticate'] = q.ping.wwwAuthenticate;
  return new Response(q.ping.status === 200 ? '{}' : unauthorizedBody, {
    status: q.ping.status,
    headers,
  });
}

function expectTokenUrl(url: string, q: Quirk, scope: string) {
  const u = new URL(url);
  expect(`${u.origin}${u.pathname}`).toBe(q.token!.realm);
  expect(u.searchParams.get('service')).toBe(q.token!.service);
  expect(u.searchParams.getAll('scope')).toEqual([scope]);
  expect(u.searchParams.has('account')).toBe(false);
}

describe.each(quirks)('$name', (q) => {
  test('the reference names the API host and repository', () => {
    const ref = parseReference(q.ref);
    expect(registryApiHost(ref.registry)).toBe(q.apiHost);
    expect(ref.repository).toBe(q.repository);
  });

  test('parseChallenges reads the /v2/ challenge', () => {
    const got = parseChallenges(q.ping.wwwAuthenticate ?? null);
    if (!q.token) {
      expect(got).toEqual([]);
      return;
    }
    const bearer = got.find((c) => c.scheme === 'bearer');
    expect(bearer?.params.realm).toBe(q.token.realm);
    expect(bearer?.params.service).toBe(q.token.service);
    expect(bearer?.params.scope).toBe(q.pingScope);
  });

  test('the first request goes without a token; its 401 leads to a token for the repository', async () => {
    // A repository request's challenge carries the repository's scope (the /v2/ one may carry
    // a placeholder): the recorded one where there is one, else as distribution words it.
    const challenge =
      q.manifestChallenge ??
      (q.token
        ? `Bearer realm="${q.token.realm}",service="${q.token.service}",scope="${pull(q.repository)}"`
        : q.ping.wwwAuthenticate);
    const first =
      q.ping.status === 200
        ? []
        : [
            new Response(unauthorizedBody, {
              status: 401,
              headers: { 'WWW-Authenticate': challenge!, 'Content-Type': 'application/json' },
            }),
          ];
    const s = scripted([...first, ...(q.token ? [Response.json(q.token.body)] : []), manifestOk()]);
    const got = await s.client.resolve(parseReference(q.ref));
    expect(got.descriptor.digest).toBe(sha256(manifestBytes));

    const manifestUrl = `https://${q.apiHost}/v2/${q.repository}/manifests/${tagOf(q.ref)}`;
    expect(
      s.requests.filter((r) => r.url.endsWith('/v2/')),
      'no /v2/ ping',
    ).toEqual([]);
    for (const r of s.requests) expect(r.registryHost).toBe(q.apiHost);
    const manifest = s.requests.at(-1)!;
    expect(manifest.url).toBe(manifestUrl);
    if (q.token) {
      expect(s.requests).toHaveLength(3);
      expect(s.requests[0]!.url).toBe(manifestUrl);
      expect(s.requests[0]!.headers.authorization).toBeUndefined();
      expectTokenUrl(s.requests[1]!.url, q, pull(q.repository));
      expect(s.requests[1]!.headers.authorization).toBeUndefined();
      const value = (q.token.body.token ?? q.token.body.access_token) as string;
      expect(manifest.headers.authorization).toBe(`Bearer ${value}`);
    } else {
      expect(s.requests).toHaveLength(1);
      expect(manifest.headers.authorization).toBeUndefined();
    }
  });

  test('the client pings the API host and takes the repository scope, not the placeholder', async () => {
    const s = scripted([
      pingAnswer(q),
      ...(q.token ? [Response.json(q.token.body)] : []),
      manifestOk(),
    ]);
    await s.client.ping(parseReference(q.ref).registry);
    await s.client.resolve(parseReference(q.ref));
    const [ping, ...rest] = s.requests;
    expect(ping!.url).toBe(`https://${q.apiHost}/v2/`);
    if (q.token) {
      expect(rest).toHaveLength(2);
      expectTokenUrl(rest[0]!.url, q, pull(q.repository));
    } else {
      expect(rest).toHaveLength(1);
    }
  });
});

// Registries whose manifest challenge (with the repository's scope) is recorded.
describe.each(quirks.filter((q) => q.manifestChallenge))('$name: manifest challenge', (q) => {
  test('parseChallenges reads the manifest challenge', () => {
    const [bearer, ...rest] = parseChallenges(q.manifestChallenge!);
    expect(rest).toEqual([]);
    expect(bearer).toEqual({
      scheme: 'bearer',
      params: { realm: q.token!.realm, service: q.token!.service, scope: pull(q.repository) },
    });
  });

  test('a 401 on the manifest gets a fresh token for the challenge it carries', async () => {
    const s = scripted([
      pingAnswer(q),
      Response.json({ token: 'stale' }),
      new Response(unauthorizedBody, {
        status: 401,
        headers: { 'WWW-Authenticate': q.manifestChallenge!, 'Content-Type': 'application/json' },
      }),
      Response.json({ token: 'fresh' }),
      manifestOk(),
    ]);
    await s.client.resolve(parseReference(q.ref));
    expect(s.requests).toHaveLength(5);
    expectTokenUrl(s.requests[3]!.url, q, pull(q.repository));
    expect(s.requests[2]!.headers.authorization).toBe('Bearer stale');
    expect(s.requests[4]!.headers.authorization).toBe('Bearer fresh');
  });
});

describe('ECR Public specifics', () => {
  test('a resource challenge with scope="aws" gets a token asked for "aws" and the repository', async () => {
    // REGISTRIES.md section 5: the challenge carries scope="aws" (not a repository scope).
    // ECR's token is said to be global; if it covers only the scopes asked, asking for "aws"
    // alone would get a token for nothing, so the repository's pull scope goes beside it.
    const challenge =
      'Bearer realm="https://public.ecr.aws/token/",service="public.ecr.aws",scope="aws"';
    const s = scripted([
      new Response(unauthorizedBody, { status: 401, headers: { 'WWW-Authenticate': challenge } }),
      Response.json({ token: 'ecr-token' }),
      manifestOk(),
      manifestOk(),
    ]);
    const ref = parseReference('public.ecr.aws/docker/library/alpine:3.20');
    await s.client.resolve(ref);
    const token = new URL(s.requests[1]!.url);
    expect(token.searchParams.getAll('scope')).toEqual(['aws', pull('docker/library/alpine')]);
    expect(s.requests[2]!.headers.authorization).toBe('Bearer ecr-token');
    // The token is kept for the next request, with no second token request.
    await s.client.resolve(ref);
    expect(s.requests).toHaveLength(4);
    expect(s.requests[3]!.headers.authorization).toBe('Bearer ecr-token');
  });
});

describe('Docker Hub specifics', () => {
  test('docker.io, index.docker.io and the short form all mean registry-1.docker.io/library/…', () => {
    for (const input of [
      'alpine',
      'docker.io/alpine',
      'docker.io/library/alpine',
      'index.docker.io/alpine',
    ]) {
      const ref = parseReference(input);
      expect(registryApiHost(ref.registry), input).toBe('registry-1.docker.io');
      expect(ref.repository, input).toBe('library/alpine');
    }
    expect(parseReference('user/app').repository).toBe('user/app');
  });

  // Docker Hub answers a blob GET with `307 Temporary Redirect` to its CDN
  // (Location: https://production.cloudflare.docker.com/registry-v2/docker/registry/v2/blobs/
  // sha256/<2>/<hex>/data?verify=…). Berth's proxy follows that redirect itself (the browser
  // cannot: the Location would lead it around the proxy), so the client only ever sees the
  // CDN's 200. Here the transport plays the proxy and answers 200.
  const layer = enc.encode('layer bytes');
  const desc = { mediaType: MediaType.OciLayerGzip, digest: sha256(layer), size: layer.byteLength };
  const hubPing = () =>
    new Response(unauthorizedBody, {
      status: 401,
      headers: {
        'WWW-Authenticate':
          'Bearer realm="https://auth.docker.io/token",service="registry.docker.io"',
      },
    });

  test('a blob GET, answered 200 after the proxy followed the CDN redirect, streams', async () => {
    const s = scripted([
      hubPing(),
      Response.json({ token: 'hub-token', expires_in: 300 }),
      new Response(layer, { status: 200, headers: { 'Content-Type': 'application/octet-stream' } }),
    ]);
    const res = await s.client.fetchBlob(parseReference('alpine'), desc);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(layer);
    expect(s.requests[2]!.url).toBe(
      `https://registry-1.docker.io/v2/library/alpine/blobs/${desc.digest}`,
    );
    expect(s.requests[2]!.registryHost).toBe('registry-1.docker.io');
    expect(s.requests[2]!.headers.authorization).toBe('Bearer hub-token');
  });

  test('a raw 307 reaching the client (no proxy in between) is an error, not followed', async () => {
    const s = scripted([
      hubPing(),
      Response.json({ token: 'hub-token', expires_in: 300 }),
      new Response(null, {
        status: 307,
        headers: {
          Location: `https://production.cloudflare.docker.com/registry-v2/docker/registry/v2/blobs/sha256/${desc.digest.slice(7, 9)}/${desc.digest.slice(7)}/data?verify=1`,
        },
      }),
    ]);
    const err = await s.client.fetchBlob(parseReference('alpine'), desc).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).status).toBe(307);
    expect(s.requests).toHaveLength(3);
  });
});

describe('two challenges as separate header lines', () => {
  test('Headers joins them with ", " and both are still read', () => {
    const h = new Headers();
    h.append('WWW-Authenticate', 'Basic realm="Registry Realm"');
    h.append(
      'WWW-Authenticate',
      'Bearer realm="https://auth.example/token",service="registry.example"',
    );
    expect(parseChallenges(h.get('WWW-Authenticate'))).toEqual([
      { scheme: 'basic', params: { realm: 'Registry Realm' } },
      {
        scheme: 'bearer',
        params: { realm: 'https://auth.example/token', service: 'registry.example' },
      },
    ]);
  });
});
