// The Node server: static serving of a temporary dist/, security headers,
// traversal, the Host guard, proxy-only mode and the CLI entry point.

import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../proxy/server.ts';
import type { RunningServer } from '../../proxy/server.ts';
import { rawRequest } from '../harness/http.ts';

const CSP =
  "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; " +
  "img-src 'self' blob: data:; connect-src 'self' https: http:; worker-src 'self' blob:; object-src 'none'; " +
  "base-uri 'none'; frame-ancestors 'none'";
const INDEX = '<!doctype html><title>Berth</title>';
const SECRET = 'top-secret-outside-dist';
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

let tmp: string;
let app: RunningServer;
let proxyOnly: RunningServer;

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-server-'));
  const dist = path.join(tmp, 'dist');
  await fs.mkdir(path.join(dist, 'assets'), { recursive: true });
  await fs.writeFile(path.join(tmp, 'package.json'), SECRET);
  await fs.writeFile(path.join(dist, 'index.html'), INDEX);
  await fs.writeFile(path.join(dist, 'assets', 'index-abc123.js'), 'console.log(1);');
  await fs.writeFile(path.join(dist, 'assets', 'index-abc123.css'), 'body{}');
  await fs.writeFile(path.join(dist, 'assets', 'hash-wasm-1.wasm'), Buffer.from([0, 97, 115, 109]));
  await fs.writeFile(path.join(dist, 'icon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  await fs.writeFile(path.join(dist, 'manifest.webmanifest'), '{}');
  await fs.writeFile(path.join(dist, 'data.json'), '{"a":1}');
  await fs.symlink(path.join(tmp, 'package.json'), path.join(dist, 'leak.txt'));

  const base = { host: '127.0.0.1', port: 0, distDir: dist, insecureRegistries: [] };
  app = await startServer(base);
  proxyOnly = await startServer({ ...base, distDir: '/nonexistent', proxyOnly: true });
});

afterAll(async () => {
  await Promise.all([app, proxyOnly].map((s) => s?.close()));
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

describe('static app', () => {
  it('serves index.html at / with security and cache headers', async () => {
    const res = await fetch(`${app.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toBe(CSP);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(await res.text()).toBe(INDEX);
  });

  it.each(['/pull/library/alpine', '/settings', '/assets', '/assets/', '/deep/dir/'])(
    'falls back to index.html for %s',
    async (p) => {
      const res = await fetch(app.url + p);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(await res.text()).toBe(INDEX);
    },
  );

  it.each([
    ['/assets/index-abc123.js', 'text/javascript; charset=utf-8'],
    ['/assets/index-abc123.css', 'text/css; charset=utf-8'],
    ['/assets/hash-wasm-1.wasm', 'application/wasm'],
  ])('serves %s as %s, immutable', async (p, type) => {
    const res = await fetch(app.url + p);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(type);
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(res.headers.get('content-security-policy')).toBe(CSP);
  });

  it.each([
    ['/icon.svg', 'image/svg+xml'],
    ['/manifest.webmanifest', 'application/manifest+json'],
    ['/data.json', 'application/json'],
  ])('serves %s as %s', async (p, type) => {
    const res = await fetch(app.url + p);
    expect(res.headers.get('content-type')).toBe(type);
    expect(res.headers.get('cache-control')).toBe('no-cache');
  });

  it('404s missing files that have an extension', async () => {
    const res = await fetch(`${app.url}/assets/missing-123.js`);
    expect(res.status).toBe(404);
    expect(await res.text()).not.toContain('<title>');
  });

  it.each([
    '/../package.json',
    '/%2e%2e/package.json',
    '/assets/..%2f..%2fpackage.json',
    '/..%5cpackage.json',
    '/assets/%2e%2e/%2e%2e/package.json',
    '/%00index.html',
  ])('refuses traversal %s', async (p) => {
    const res = await rawRequest(app.url, p);
    expect(res.status).toBe(400);
    expect(res.body).not.toContain(SECRET);
  });

  it('does not follow symlinks out of dist', async () => {
    const res = await rawRequest(app.url, '/leak.txt');
    expect(res.status).toBe(404);
    expect(res.body).not.toContain(SECRET);
  });

  it('supports HEAD, conditional GET, and refuses other methods', async () => {
    const head = await fetch(`${app.url}/`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(INDEX.length));
    const etag = head.headers.get('etag')!;
    const again = await fetch(`${app.url}/`, { headers: { 'If-None-Match': etag } });
    expect(again.status).toBe(304);
    const post = await fetch(`${app.url}/`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
  });

  it('mounts the proxy next to the app', async () => {
    const res = await fetch(`${app.url}/proxy/127.0.0.1/v2/`);
    expect(res.status).toBe(403);
    const body = (await res.json()) as { errors: Array<{ code: string }> };
    expect(body.errors[0]!.code).toBe('BERTH_PROXY_DENIED');
  });

  it('answers only to loopback Host names when bound to loopback (DNS rebinding)', async () => {
    const port = new URL(app.url).port;
    const evil = await rawRequest(app.url, '/', { headers: { Host: `evil.example:${port}` } });
    expect(evil.status).toBe(403);
    const evilProxy = await rawRequest(app.url, '/proxy/ghcr.io/v2/', {
      headers: { Host: `evil.example:${port}` },
    });
    expect(evilProxy.status).toBe(403);
    expect(JSON.parse(evilProxy.body)).toMatchObject({ errors: [{ code: 'BERTH_PROXY_DENIED' }] });
    const local = await rawRequest(app.url, '/', { headers: { Host: `localhost:${port}` } });
    expect(local.status).toBe(200);
  });
});

describe('start-up warnings', () => {
  it('warns once per port-less BERTH_INSECURE_REGISTRIES entry', async () => {
    const warnings: string[] = [];
    const server = await startServer({
      host: '127.0.0.1',
      port: 0,
      distDir: '',
      proxyOnly: true,
      insecureRegistries: ['127.0.0.1', 'reg.lan:5000', '127.0.0.1', '[::1]', '127.0.0.1:5001'],
      warn: (line) => warnings.push(line),
    });
    await server.close();
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain(
      'BERTH_INSECURE_REGISTRIES entry 127.0.0.1 has no port: every port on that host is reachable',
    );
    expect(warnings[1]).toContain('BERTH_INSECURE_REGISTRIES entry [::1] has no port');
  });

  it('says nothing when every entry names a port', async () => {
    const warnings: string[] = [];
    const server = await startServer({
      host: '127.0.0.1',
      port: 0,
      distDir: '',
      proxyOnly: true,
      insecureRegistries: ['reg.lan:5000', '127.0.0.1:5001'],
      warn: (line) => warnings.push(line),
    });
    await server.close();
    expect(warnings).toEqual([]);
  });
});

describe('proxy-only mode', () => {
  it('serves no app, only the proxy', async () => {
    expect((await fetch(`${proxyOnly.url}/`)).status).toBe(404);
    expect((await fetch(`${proxyOnly.url}/index.html`)).status).toBe(404);
    const res = await fetch(`${proxyOnly.url}/proxy/127.0.0.1/v2/`, { method: 'OPTIONS' });
    expect(res.status).toBe(204);
  });
});

describe('CLI', () => {
  it('prints one line, serves, and exits cleanly on SIGTERM', async () => {
    const tsx = path.join(repoRoot, 'node_modules', '.bin', 'tsx');
    const child = spawn(tsx, ['proxy/server.ts', '--proxy-only'], {
      cwd: repoRoot,
      env: { ...process.env, HOST: '127.0.0.1', PORT: '0', BERTH_PROXY_LOG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (c: Buffer) => {
          stdout += c.toString();
          const m = /^Berth listening on (http:\/\/127\.0\.0\.1:\d+)\n/.exec(stdout);
          if (m) resolve(m[1]!);
        });
        void exited.then((code) => reject(new Error(`exited ${code}: ${stderr}`)));
      });
      const res = await fetch(`${url}/proxy/127.0.0.1/v2/`, { method: 'DELETE' });
      expect(res.status).toBe(405);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(stdout).toBe(`Berth listening on ${url}\n`);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('warns on stderr, once, about a port-less insecure entry', async () => {
    const tsx = path.join(repoRoot, 'node_modules', '.bin', 'tsx');
    const child = spawn(tsx, ['proxy/server.ts', '--proxy-only'], {
      cwd: repoRoot,
      env: {
        ...process.env,
        HOST: '127.0.0.1',
        PORT: '0',
        BERTH_PROXY_LOG: '',
        BERTH_INSECURE_REGISTRIES: '127.0.0.1, 127.0.0.1:5000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (c: Buffer) => {
          stdout += c.toString();
          if (stdout.includes('\n')) resolve();
        });
        void exited.then((code) => reject(new Error(`exited ${code}: ${stderr}`)));
      });
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      const message =
        'BERTH_INSECURE_REGISTRIES entry 127.0.0.1 has no port: every port on that host is reachable';
      expect(stderr.split(message)).toHaveLength(2);
      expect(stderr).toMatch(/^berth: warning: /);
      expect(stdout).toMatch(/^Berth listening on /);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('refuses to start without a built app unless --proxy-only', async () => {
    const empty = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-nodist-'));
    const tsx = path.join(repoRoot, 'node_modules', '.bin', 'tsx');
    const child = spawn(tsx, ['proxy/server.ts'], {
      cwd: repoRoot,
      env: { ...process.env, PORT: '0', BERTH_DIST_DIR: empty },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toContain('vite build');
    await fs.rm(empty, { recursive: true, force: true });
  });
});
