// Mounts the Berth proxy at /proxy/ inside `vite` (dev) and `vite preview`,
// so the app talks to the same proxy contract as under `npm start`.

import type { Connect, Logger, Plugin } from 'vite';
import type { Server as HttpServer } from 'node:http';
import type { Http2SecureServer } from 'node:http2';
import { createNodeProxy, isProxyPath, proxyOptionsFromEnv } from './node.ts';
import { insecureListWarnings } from './policy.ts';

// Dev servers restart in-process on config changes; say each thing once.
const warned = new Set<string>();

function mount(
  middlewares: Connect.Server,
  httpServer: HttpServer | Http2SecureServer | null,
  logger: Logger,
) {
  // Read at server start rather than import time: vite.config.ts is also
  // loaded by builds and tests that never serve anything.
  const options = proxyOptionsFromEnv(process.env);
  for (const line of insecureListWarnings(options.insecureRegistries)) {
    if (warned.has(line)) continue;
    warned.add(line);
    logger.warn(`berth: warning: ${line}`);
  }
  const proxy = createNodeProxy(options);
  // Registered as a pre-middleware: after Vite's host check, before its SPA
  // fallback, which would otherwise answer /proxy/... with index.html.
  middlewares.use((req, res, next) => {
    if (isProxyPath(req.url)) proxy.middleware(req, res);
    else next();
  });
  httpServer?.once('close', () => void proxy.close());
}

export function berthProxyPlugin(): Plugin {
  return {
    name: 'berth-proxy',
    configureServer(server) {
      mount(server.middlewares, server.httpServer, server.config.logger);
    },
    configurePreviewServer(server) {
      mount(server.middlewares, server.httpServer, server.config.logger);
    },
  };
}
