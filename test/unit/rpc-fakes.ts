// A worker in this thread for the bridge's tests: the real `expose` on one end of a
// MessageChannel, so the page side talks the real protocol.
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { expose, type Api, type WorkerLike } from '../../src/workers/rpc.ts';

/** A worker in this thread: `expose` on one end of a channel. `frozen` makes it deaf, as a
 * worker is while a synchronous loop holds its event loop. */
export class InMemoryWorker implements WorkerLike {
  frozen = false;
  terminated = false;
  readonly #page: MessagePort;
  readonly #inside: MessagePort;

  constructor(api: Api) {
    const { port1, port2 } = new MessageChannel();
    this.#page = port1;
    this.#inside = port2;
    const deaf = () => this.frozen || this.terminated;
    expose(api, {
      postMessage: (m, transfer) => {
        if (!deaf()) port2.postMessage(m, transfer as never);
      },
      addEventListener: (_type, listener) =>
        port2.addEventListener('message', (e) => {
          if (!deaf()) listener(e as unknown as MessageEvent);
        }),
    });
  }

  postMessage(message: unknown) {
    if (!this.terminated) this.#page.postMessage(message);
  }

  addEventListener(type: 'message' | 'error', listener: (e: never) => void) {
    if (type === 'message') {
      this.#page.addEventListener('message', (e) => {
        if (!this.terminated) (listener as (e: MessageEvent) => void)(e as unknown as MessageEvent);
      });
    }
  }

  terminate() {
    this.terminated = true;
    this.#page.close();
    this.#inside.close();
  }
}
