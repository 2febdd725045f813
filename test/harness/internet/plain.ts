// The simplest emulated registry: the backend's distribution registry as it is, under the
// host `registry.berth.example`, for tests of the internet itself.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EmulatedRequest, Emulator, EmulatorContext } from './emulator.ts';

export function plainRegistry(ctx: EmulatorContext): Emulator {
  const log: EmulatedRequest[] = [];
  return {
    name: 'plain',
    hosts: ['registry.berth.example'],
    log,
    backendName: (name) => `plain/${name}`,
    async handle(req: IncomingMessage, res: ServerResponse) {
      const url = (req.url ?? '/').replace(/^\/v2\/(?!$)/, '/v2/plain/');
      const upstream = await fetch(`${ctx.backend}${url}`, {
        method: req.method,
        headers: { accept: req.headers.accept ?? '*/*' },
        redirect: 'manual',
      });
      const headers: Record<string, string> = {};
      upstream.headers.forEach((v, k) => {
        if (k !== 'content-encoding' && k !== 'transfer-encoding') headers[k] = v;
      });
      res.writeHead(upstream.status, headers);
      res.end(Buffer.from(await upstream.arrayBuffer()));
    },
  };
}
