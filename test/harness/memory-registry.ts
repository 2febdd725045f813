// A small distribution registry in memory, served through the client's Transport: manifests by
// tag or digest (GET and HEAD), blobs by digest with Range, and faults a test asks for (a short
// body, wrong bytes, a 5xx). It keeps real content under real digests, so the client and the
// store check it as they would a real registry's, and it records what was asked of it.
import { createHash } from 'node:crypto';
import type { Transport } from '../../src/lib/registry/transport.ts';

export interface Request {
  method: string;
  repository: string;
  kind: 'ping' | 'manifest' | 'blob' | 'token' | 'tags' | 'referrers';
  /** The tag or digest asked for. */
  id: string;
  /** The Range's first byte, for a ranged blob GET. */
  start?: number;
  end?: number;
  /** Whether it carried an Authorization header. */
  authorized?: boolean;
  /** Its place in the longest chain of requests each sent after the one before had its
   * answer: 1 for requests sent before any answer came, 2 for those sent after the first
   * answers, and so on. Requests of one depth could all have been sent at once. */
  depth?: number;
}

export type FaultKind =
  /** The headers promise the whole range; the body stops after `keep` bytes and the
   * connection drops (undici reports it as TypeError: terminated). */
  | { kind: 'short'; keep: number }
  /** The bytes of the range, each flipped: the right length, the wrong content. */
  | { kind: 'wrong' }
  /** One byte flipped, `at` bytes into the blob (when the range served holds it). */
  | { kind: 'flip'; at: number }
  /** 503 Service Unavailable. */
  | { kind: 'unavailable' };

export interface Fault {
  when: (req: Request) => boolean;
  fault: FaultKind;
  /** How many matching requests it spoils; once by default. */
  times?: number;
}

export const sha256 = (bytes: Uint8Array) =>
  `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

interface Stored {
  bytes: Uint8Array;
  mediaType: string;
}

export interface MemoryRegistryOptions {
  /** Every answer waits this long, so requests sent together overlap as they would over a
   * network, and the depth of each request says how many round trips came before it. */
  latencyMs?: number;
  /** Docker-style token auth: every /v2/ request needs a Bearer token for its repository,
   * which a token server at https://auth.test/token hands out to anyone. */
  tokenAuth?: boolean;
}

/** The token server's host, when the registry asks for tokens. */
export const authHost = 'auth.test';

export class MemoryRegistry {
  readonly host: string;
  readonly requests: Request[] = [];
  readonly #opts: MemoryRegistryOptions;
  /** The deepest request answered so far. */
  #answeredDepth = 0;
  readonly #manifests = new Map<string, Stored>();
  readonly #blobs = new Map<string, Uint8Array>();
  readonly #faults: Fault[] = [];

  constructor(host = 'registry.test', opts: MemoryRegistryOptions = {}) {
    this.host = host;
    this.#opts = opts;
  }

  /** The longest chain of requests sent one after another's answer. */
  get serialDepth(): number {
    return Math.max(0, ...this.requests.map((r) => r.depth ?? 0));
  }

  /** The requests as "METHOD kind" lines, each prefixed with its depth. */
  get timeline(): string[] {
    return this.requests.map((r) => `${r.depth} ${r.method} ${r.kind}`);
  }

  /** Stores a blob in a repository; returns its descriptor. */
  blob(repository: string, bytes: Uint8Array, mediaType: string) {
    const digest = sha256(bytes);
    this.#blobs.set(`${repository}@${digest}`, bytes);
    return { mediaType, digest, size: bytes.byteLength };
  }

  /** Stores a manifest or index under its digest and, if given, a tag. */
  manifest(repository: string, doc: { mediaType: string }, tag?: string) {
    const bytes = new TextEncoder().encode(JSON.stringify(doc));
    const digest = sha256(bytes);
    const stored = { bytes, mediaType: doc.mediaType };
    this.#manifests.set(`${repository}@${digest}`, stored);
    if (tag) this.#manifests.set(`${repository}:${tag}`, stored);
    return { mediaType: doc.mediaType, digest, size: bytes.byteLength };
  }

  fault(f: Fault): void {
    this.#faults.push({ ...f, times: f.times ?? 1 });
  }

  /** The blob GETs made for a digest, in order. */
  blobRequests(digest: string): Request[] {
    return this.requests.filter((r) => r.kind === 'blob' && r.id === digest);
  }

  readonly transport: Transport = async (url, init) => {
    const depth = this.#answeredDepth + 1;
    const res = await this.#answer(url, init, depth);
    if (this.#opts.latencyMs) await new Promise((r) => setTimeout(r, this.#opts.latencyMs));
    this.#answeredDepth = Math.max(this.#answeredDepth, depth);
    return res;
  };

  async #answer(url: string, init: RequestInit, depth: number): Promise<Response> {
    const u = new URL(url);
    const method = init.method ?? 'GET';
    const headers = new Headers(init.headers);
    const authorization = headers.get('Authorization') ?? '';
    const authorized = authorization !== '';
    if (this.#opts.tokenAuth && u.host === authHost && u.pathname === '/token') {
      this.requests.push({ method, repository: '', kind: 'token', id: '', depth, authorized });
      const scopes = u.searchParams.getAll('scope').join(' ');
      return Response.json({ token: `token for ${scopes}`, expires_in: 300 });
    }
    if (u.host !== this.host) return new Response('unknown host', { status: 404 });
    if (u.pathname === '/v2/') {
      this.requests.push({ method, repository: '', kind: 'ping', id: '', depth, authorized });
      if (this.#opts.tokenAuth && !authorized) return this.#challenge();
      return new Response('{}', { status: 200 });
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs|referrers|tags)\/([^/]+)$/.exec(u.pathname);
    if (!m) return notFound('NAME_UNKNOWN');
    const [, repository, what, id] = m as unknown as [string, string, string, string];
    const range = /^bytes=(\d+)-(\d*)$/.exec(headers.get('Range') ?? '');
    const req: Request = {
      method,
      repository,
      kind:
        what === 'manifests'
          ? 'manifest'
          : what === 'blobs'
            ? 'blob'
            : what === 'tags'
              ? 'tags'
              : 'referrers',
      id,
      ...(range ? { start: Number(range[1]) } : {}),
      ...(range?.[2] ? { end: Number(range[2]) } : {}),
      authorized,
      depth,
    };
    this.requests.push(req);
    if (
      this.#opts.tokenAuth &&
      !(
        authorization.startsWith('Bearer token for ') &&
        authorization.includes(`repository:${repository}:pull`)
      )
    ) {
      return this.#challenge(repository);
    }
    // Distribution 2.8 has no referrers API; the tag list is every tag of the repository.
    if (req.kind === 'referrers') return notFound('UNSUPPORTED');
    if (req.kind === 'tags') {
      const tags = [...this.#manifests.keys()]
        .filter((k) => k.startsWith(`${repository}:`))
        .map((k) => k.slice(repository.length + 1));
      return Response.json({ name: repository, tags });
    }
    const fault = this.#take(req);
    if (fault?.kind === 'unavailable') return new Response('busy', { status: 503 });
    if (req.kind === 'manifest') {
      const doc = this.#manifests.get(`${repository}${id.includes(':') ? '@' : ':'}${id}`);
      if (!doc) return notFound('MANIFEST_UNKNOWN');
      const headers = {
        'Content-Type': doc.mediaType,
        'Content-Length': String(doc.bytes.byteLength),
        'Docker-Content-Digest': sha256(doc.bytes),
      };
      return new Response(method === 'HEAD' ? null : body(doc.bytes, fault), {
        status: 200,
        headers,
      });
    }
    const blob = this.#blobs.get(`${repository}@${id}`);
    if (!blob) return notFound('BLOB_UNKNOWN');
    const start = req.start ?? 0;
    const end = Math.min(req.end ?? blob.byteLength - 1, blob.byteLength - 1);
    let part = blob.subarray(start, end + 1);
    if (fault?.kind === 'flip' && fault.at >= start && fault.at <= end) {
      part = part.slice();
      part[fault.at - start] = part[fault.at - start]! ^ 0xff;
    }
    return new Response(body(part, fault), {
      status: range ? 206 : 200,
      headers: {
        'Content-Length': String(part.byteLength),
        'Content-Type': 'application/octet-stream',
        ...(range ? { 'Content-Range': `bytes ${start}-${end}/${blob.byteLength}` } : {}),
      },
    });
  }

  #challenge(repository?: string): Response {
    const scope = repository ? `,scope="repository:${repository}:pull"` : '';
    return new Response(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'auth' }] }), {
      status: 401,
      headers: {
        'Content-Type': 'application/json',
        'WWW-Authenticate': `Bearer realm="https://${authHost}/token",service="${this.host}"${scope}`,
      },
    });
  }

  #take(req: Request): FaultKind | undefined {
    const f = this.#faults.find((x) => (x.times ?? 0) > 0 && x.when(req));
    if (!f) return undefined;
    f.times = (f.times ?? 1) - 1;
    return f.fault;
  }
}

function notFound(code: string) {
  return new Response(JSON.stringify({ errors: [{ code, message: code.toLowerCase() }] }), {
    status: 404,
    headers: { 'Content-Type': 'application/json' },
  });
}

/** A body as a stream of 16 KiB parts, spoiled as the fault says. */
function body(bytes: Uint8Array, fault: FaultKind | undefined): ReadableStream<Uint8Array> {
  let data = bytes;
  if (fault?.kind === 'wrong') data = bytes.map((b) => b ^ 0xff);
  const limit = fault?.kind === 'short' ? Math.min(fault.keep, data.byteLength) : data.byteLength;
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= limit) {
        if (limit < data.byteLength) controller.error(new TypeError('terminated'));
        else controller.close();
        return;
      }
      const next = Math.min(limit, at + (16 << 10));
      controller.enqueue(data.slice(at, next));
      at = next;
    },
  });
}
