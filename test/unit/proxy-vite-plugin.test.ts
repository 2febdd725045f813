// The Vite plugin mounts the proxy and warns about port-less insecure entries
// once per process, however often Vite (re)configures a server.

import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { berthProxyPlugin } from '../../proxy/vite-plugin.ts';

type Hook = (server: unknown) => void;

function fakeServer() {
  const httpServer = new EventEmitter();
  const warn = vi.fn();
  const server = {
    middlewares: { use: vi.fn() },
    httpServer,
    config: { logger: { warn } },
  };
  return { server, warn, close: () => httpServer.emit('close') };
}

afterEach(() => vi.unstubAllEnvs());

describe('berthProxyPlugin', () => {
  it('warns once about port-less BERTH_INSECURE_REGISTRIES entries', () => {
    vi.stubEnv('BERTH_INSECURE_REGISTRIES', '127.0.0.1,reg.lan:5000');
    const plugin = berthProxyPlugin();
    const dev = fakeServer();
    const restarted = fakeServer();
    const preview = fakeServer();
    (plugin.configureServer as Hook)(dev.server);
    (plugin.configureServer as Hook)(restarted.server);
    (plugin.configurePreviewServer as Hook)(preview.server);
    for (const s of [dev, restarted, preview]) {
      expect(s.server.middlewares.use).toHaveBeenCalledTimes(1);
      s.close();
    }
    const lines = [dev, restarted, preview].flatMap((s) => s.warn.mock.calls.map((c) => c[0]));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(
      'BERTH_INSECURE_REGISTRIES entry 127.0.0.1 has no port: every port on that host is reachable',
    );
  });
});
