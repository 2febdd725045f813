// The worker bridge's watchdog, against real `expose` running over a MessageChannel in this
// thread: a worker that does not stop a cancelled call is replaced, a call past its limit is
// stopped with its cause, and a worker that stops answering gets a fresh one beside it.
import { afterEach, describe, expect, test } from 'vitest';
import {
  jobStopped,
  transfer,
  WorkerBridge,
  type CallContext,
  type WatchdogOptions,
} from '../../src/workers/rpc.ts';
import { InMemoryWorker } from './rpc-fakes.ts';

/** Never settles, and ignores its signal: a job stuck in a decoder. */
const never = () => new Promise<never>(() => {});

/** Settles when cancelled, like every well-behaved method. */
const untilCancelled = (_: unknown, ctx: CallContext) =>
  new Promise<never>((_, reject) =>
    ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)),
  );

/** The buffers the last `moving` call sent, as the worker sees them afterwards. */
const sentBuffers: ArrayBuffer[] = [];

const api = {
  never,
  untilCancelled,
  echo: async (arg: string) => arg,
  /** Sends an event and returns a result, each moving its buffer rather than copying it. */
  moving: async (_: undefined, ctx: CallContext<{ bytes: Uint8Array }>) => {
    const event = new Uint8Array([1, 2, 3]);
    const result = new Uint8Array([4, 5]);
    sentBuffers.length = 0;
    sentBuffers.push(event.buffer, result.buffer);
    ctx.emit({ bytes: event }, [event.buffer]);
    return transfer({ bytes: result }, [result.buffer]);
  },
};
type TestApi = typeof api;

let made: InMemoryWorker[] = [];
afterEach(() => {
  for (const w of made) w.terminate();
  made = [];
});

function bridge(watchdog?: WatchdogOptions) {
  const b = new WorkerBridge<TestApi>(() => {
    const w = new InMemoryWorker(api);
    made.push(w);
    return w;
  }, watchdog);
  return b;
}

async function failure(p: Promise<unknown>): Promise<{ name: string; message: string }> {
  const e = await p.then(
    () => {
      throw new Error('the call succeeded, want an error');
    },
    (e: unknown) => e,
  );
  return { name: (e as Error).name, message: (e as Error).message };
}

describe('WorkerBridge watchdog', () => {
  test('a call its worker does not stop when cancelled fails, and the worker is replaced', async () => {
    const b = bridge({ cancelGraceMs: 20 });
    const abort = new AbortController();
    const stuck = b.call('never', undefined, { signal: abort.signal });
    // Another call waiting in the same worker is sent again to the fresh one.
    let restarted = 0;
    const other = b.call('echo', 'still answered', { onRestart: () => restarted++ });
    expect(await other).toBe('still answered');
    abort.abort();
    expect(await failure(stuck)).toEqual({
      name: jobStopped,
      message: 'did not stop when cancelled',
    });
    expect(made[0]!.terminated, 'the stuck worker is terminated').toBe(true);
    expect(await b.call('echo', 'after')).toBe('after');
    expect(made.length, 'one fresh worker').toBe(2);
    expect(restarted, 'echo had settled before the restart').toBe(0);
  });

  test('the other calls of a terminated worker are sent again, and told so', async () => {
    const b = bridge({ cancelGraceMs: 20 });
    const abort = new AbortController();
    const stuck = b.call('never', undefined, { signal: abort.signal });
    await b.call('echo', 'the worker has the call before it freezes');
    made[0]!.frozen = true; // the worker hears nothing more: echo waits in it
    let restarted = 0;
    const waiting = b.call('echo', 'sent twice', { onRestart: () => restarted++ });
    abort.abort();
    expect((await failure(stuck)).message).toBe('did not stop when cancelled');
    expect(await waiting).toBe('sent twice');
    expect(restarted).toBe(1);
  });

  test('a call that honours its cancel is not stopped by the watchdog', async () => {
    const b = bridge({ cancelGraceMs: 20 });
    const abort = new AbortController();
    const call = b.call('untilCancelled', undefined, { signal: abort.signal });
    abort.abort();
    expect((await failure(call)).name).toBe('AbortError');
    expect(made.length).toBe(1);
    expect(made[0]!.terminated).toBe(false);
  });

  test('a call past its limit fails naming the limit', async () => {
    const b = bridge({ cancelGraceMs: 20, jobLimitMs: () => 30 });
    expect(await failure(b.call('untilCancelled', undefined))).toEqual({
      name: jobStopped,
      message: 'stopped after 30 ms',
    });
    expect(await failure(b.call('never', undefined))).toEqual({
      name: jobStopped,
      message: 'stopped after 30 ms, and did not stop when cancelled',
    });
    expect(await b.call('echo', 'fine')).toBe('fine');
  });

  test('a worker that stops answering gets a fresh one for new calls', async () => {
    const b = bridge({ cancelGraceMs: 10_000, stuckMs: 40 });
    const abort = new AbortController();
    const stuck = b.call('untilCancelled', undefined, { signal: abort.signal });
    await b.call('echo', 'the worker has the call before it freezes');
    made[0]!.frozen = true;
    // Wait for the watchdog to notice, by content: a second worker exists.
    await expect.poll(() => made.length, { timeout: 10_000 }).toBe(2);
    expect(await b.call('echo', 'answered beside the stuck one')).toBe(
      'answered beside the stuck one',
    );
    expect(b.workers).toBe(2);
    made[0]!.frozen = false;
    abort.abort();
    expect((await failure(stuck)).name).toBe('AbortError');
    // Its last call settled: the set-aside worker is terminated.
    expect(made[0]!.terminated).toBe(true);
    expect(b.workers).toBe(1);
  });

  test('a call cancelled on a worker that stopped answering ends: it is not run again, and the fresh worker lives', async () => {
    const b = bridge({ cancelGraceMs: 150, stuckMs: 40 });
    await b.call('echo', 'ready');
    made[0]!.frozen = true;
    const abort = new AbortController();
    const failed = failure(b.call('untilCancelled', undefined, { signal: abort.signal }));
    abort.abort();
    await expect.poll(() => made.length, { timeout: 10_000 }).toBe(2);
    expect((await failed).name).toBe('AbortError');
    // Past the cancelled call's grace: its timer must not terminate the fresh worker.
    await new Promise((r) => setTimeout(r, 300));
    expect(await b.call('echo', 'still answered')).toBe('still answered');
    expect(made.length).toBe(2);
    expect(made[1]!.terminated).toBe(false);
  });

  test('without a watchdog, a cancel is only passed on', async () => {
    const b = bridge();
    const abort = new AbortController();
    const call = b.call('untilCancelled', undefined, { signal: abort.signal });
    abort.abort();
    expect((await failure(call)).name).toBe('AbortError');
  });
});

describe('transfer', () => {
  test('an event and a result move their buffers: the page has the bytes, the worker none', async () => {
    const b = bridge();
    const events: number[][] = [];
    const result = await b.call('moving', undefined, {
      onEvent: (e) => events.push([...e.bytes]),
    });
    expect(events).toEqual([[1, 2, 3]]);
    expect([...result.bytes]).toEqual([4, 5]);
    expect(sentBuffers.map((buf) => buf.byteLength)).toEqual([0, 0]);
  });
});
