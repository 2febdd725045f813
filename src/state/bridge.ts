// What the state classes use of a worker bridge: its typed calls, nothing else. The page passes
// the real WorkerBridge; a unit test passes an in-memory object with the same `call`.
import type { Api, WorkerBridge } from '../workers/rpc.ts';

export type Bridge<A extends Api> = Pick<WorkerBridge<A>, 'call'>;
