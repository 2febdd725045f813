// A scripted registry Transport for unit tests: every request is recorded and answered from a
// list, in order, so each case states exactly which requests the client makes. No network.
import type { Transport } from '../../src/lib/registry/transport.ts';

export interface Recorded {
  url: string;
  method: string;
  /** Lowercased names, as Headers gives them. */
  headers: Record<string, string>;
  registryHost: string;
  signal: AbortSignal | undefined;
}

/** A Response to give, an Error to throw, or a function of the request that gives a Response. */
export type Answer = Response | Error | ((req: Recorded) => Response | Promise<Response>);

/**
 * A Transport that answers from `answers` (consumed in order). A request past the end is noted
 * in `unscripted` and answered 418.
 */
export function scriptedTransport(answers: Answer[]) {
  const requests: Recorded[] = [];
  const unscripted: string[] = [];
  const transport: Transport = async (url, init, registryHost) => {
    const req: Recorded = {
      url,
      method: init.method ?? 'GET',
      headers: Object.fromEntries(new Headers(init.headers).entries()),
      registryHost,
      signal: init.signal ?? undefined,
    };
    requests.push(req);
    const answer = answers.shift();
    if (answer === undefined) {
      unscripted.push(`${req.method} ${url}`);
      return new Response('unscripted', { status: 418 });
    }
    if (answer instanceof Error) throw answer;
    return typeof answer === 'function' ? answer(req) : answer;
  };
  return { transport, requests, unscripted, answers };
}
