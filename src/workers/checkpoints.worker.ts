// The checkpoint pass: decodes a stored gzip layer with fflate only to record where later reads
// may start, after the listing decoded the same blob natively in the layers worker. Each
// checkpoint is sent on as soon as it is recorded, so reads can use it before the pass ends.
import {
  recordCheckpoints,
  type LayerCheckpoints,
  type RecordedCheckpoint,
} from '../lib/layers/checkpoints.ts';
import { expose, type CallContext } from './rpc.ts';

const api = {
  async record(
    arg: { blob: Blob; compression: 'gzip' | 'zstd' },
    ctx: CallContext<RecordedCheckpoint>,
  ): Promise<LayerCheckpoints | undefined> {
    return recordCheckpoints(
      () => arg.blob.stream() as ReadableStream<Uint8Array>,
      arg.compression,
      // A window is at most 32 KiB per 4 MiB of layer: copied, not moved (the recorder keeps it).
      { signal: ctx.signal, onRecord: (recorded) => ctx.emit(recorded) },
    );
  },
};

export type CheckpointsWorkerApi = typeof api;

expose(api, self as unknown as Parameters<typeof expose>[1]);
