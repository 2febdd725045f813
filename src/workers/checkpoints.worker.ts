// The checkpoint pass: decodes a stored gzip layer with fflate only to record where later reads
// may start, beside the listing that decodes the same blob natively in the layers worker. Two
// decoders on two cores instead of the slower one alone on one.
import { recordCheckpoints, type LayerCheckpoints } from '../lib/layers/checkpoints.ts';
import { expose, type CallContext } from './rpc.ts';

const api = {
  async record(
    arg: { blob: Blob; compression: 'gzip' | 'zstd' },
    ctx: CallContext,
  ): Promise<LayerCheckpoints | undefined> {
    return recordCheckpoints(
      () => arg.blob.stream() as ReadableStream<Uint8Array>,
      arg.compression,
      {
        signal: ctx.signal,
      },
    );
  },
};

export type CheckpointsWorkerApi = typeof api;

expose(api, self as unknown as Parameters<typeof expose>[1]);
