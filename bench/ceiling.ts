// The ceiling probe: what a browser tab can do at best on this machine, with no Berth code.
// The page starts one dedicated worker per core (as many as navigator.hardwareConcurrency, or
// as asked) and hands layers out to them as they finish, `parallel` layers at a time. Each
// layer is fetched through the same proxy in Range pieces taken as Blobs (response.blob(): the
// bytes stay out of JS); each piece is stored as 16 MiB slices in IndexedDB while the same Blob
// is hashed with hash-wasm, and with `prefetch` the next piece is already being fetched. The
// digest is checked at the end. The bench tries several shapes and reports the best.
import { createSHA256, type IHasher } from 'hash-wasm';

const SLICE = 16 << 20;

/** How the probe goes about it: one of the shapes the bench tries. */
export interface CeilingShape {
  /** Layers fetched at once, over all workers. */
  parallel: number;
  /** Range piece size, in MiB. */
  pieceMiB: number;
  /** Fetch the next piece of a layer while the current one is stored and hashed. */
  prefetch: boolean;
  /** Workers the layers are spread over; the machine's cores when left out. */
  workers?: number;
}

export interface CeilingParams extends CeilingShape {
  /** e.g. '/proxy/127.0.0.1:5000' */
  proxy: string;
  repository: string;
  layers: { digest: string; size: number }[];
}

/** What the page tells a worker: a layer to fetch, store and verify. */
interface LayerJob {
  id: number;
  params: Omit<CeilingParams, 'layers'>;
  layer: { digest: string; size: number };
}

function openDb(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open('ceiling', 1);
    req.onupgradeneeded = () =>
      req.result.createObjectStore('chunks', { keyPath: ['digest', 'offset'] });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function store(db: IDBDatabase, digest: string, offset: number, piece: Blob): Promise<void> {
  return new Promise((resolve, reject) => {
    const tx = db.transaction('chunks', 'readwrite');
    for (let at = 0; at < piece.size; at += SLICE) {
      const data = piece.slice(at, at + SLICE);
      tx.objectStore('chunks').put({ digest, offset: offset + at, data });
    }
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

async function hash(piece: Blob, hasher: IHasher): Promise<void> {
  const reader = piece.stream().getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    hasher.update(value);
  }
}

async function fetchPiece(
  p: LayerJob['params'],
  digest: string,
  size: number,
  offset: number,
  piece: number,
) {
  const end = Math.min(size, offset + piece) - 1;
  const res = await fetch(`${p.proxy}/v2/${p.repository}/blobs/${digest}`, {
    headers: { Range: `bytes=${offset}-${end}` },
  });
  if (res.status !== 206 && !(res.status === 200 && offset === 0 && end === size - 1)) {
    throw new Error(`${digest} bytes ${offset}-${end}: HTTP ${res.status}`);
  }
  const blob = await res.blob();
  if (blob.size !== end - offset + 1) throw new Error(`${digest}: short piece at ${offset}`);
  return blob;
}

async function layer(db: IDBDatabase, p: LayerJob['params'], digest: string, size: number) {
  const piece = p.pieceMiB << 20;
  const hasher = await createSHA256();
  hasher.init();
  let next: Promise<Blob> | undefined = fetchPiece(p, digest, size, 0, piece);
  for (let offset = 0; next; offset += piece) {
    const current: Blob = await next;
    const following =
      offset + piece < size ? () => fetchPiece(p, digest, size, offset + piece, piece) : undefined;
    next = p.prefetch ? following?.() : undefined;
    await Promise.all([store(db, digest, offset, current), hash(current, hasher)]);
    if (!p.prefetch) next = following?.();
  }
  const got = `sha256:${hasher.digest('hex')}`;
  if (got !== digest) throw new Error(`digest mismatch: got ${got}, want ${digest}`);
}

if (typeof document === 'undefined') {
  // A worker: takes layers as the page sends them, several at once if asked.
  let db: Promise<IDBDatabase> | undefined;
  self.onmessage = (e: MessageEvent<LayerJob | 'ready?'>) => {
    if (e.data === 'ready?') {
      (db ??= openDb()).then(
        () => self.postMessage({ ready: true }),
        (err: unknown) => self.postMessage({ error: String(err) }),
      );
      return;
    }
    const job = e.data;
    (db ??= openDb())
      .then((d) => layer(d, job.params, job.layer.digest, job.layer.size))
      .then(
        () => self.postMessage({ id: job.id }),
        (err: unknown) => self.postMessage({ id: job.id, error: String(err) }),
      );
  };
} else {
  /** Milliseconds from the first request to every layer stored and verified, measured by the
   * page once every worker has started and opened the database. */
  const runCeiling = async (p: CeilingParams): Promise<number> => {
    const count = Math.max(
      1,
      Math.min(p.workers ?? navigator.hardwareConcurrency ?? 1, p.parallel, p.layers.length),
    );
    const workers = Array.from(
      { length: count },
      () => new Worker('/ceiling.js', { type: 'module' }),
    );
    const { layers, ...params } = p;
    try {
      const answers = new Map<number, (e: { error?: string }) => void>();
      await Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((resolve, reject) => {
              w.onmessage = (e: MessageEvent<{ ready?: boolean; error?: string }>) =>
                e.data.ready ? resolve() : reject(new Error(e.data.error));
              w.onerror = (e) => reject(new Error(e.message));
              w.postMessage('ready?');
            }),
        ),
      );
      for (const w of workers) {
        w.onmessage = (e: MessageEvent<{ id?: number; error?: string }>) => {
          if (e.data.id !== undefined) answers.get(e.data.id)?.(e.data);
        };
      }
      const queue = [...layers];
      let nextId = 1;
      const started = performance.now();
      // Lane i runs on worker i mod count: each lane takes the next layer when it is free.
      await Promise.all(
        Array.from({ length: Math.min(p.parallel, layers.length) }, async (_, lane) => {
          const worker = workers[lane % count]!;
          for (let l = queue.shift(); l; l = queue.shift()) {
            const id = nextId++;
            const done = new Promise<{ error?: string }>((r) => answers.set(id, r));
            worker.postMessage({ id, params, layer: l } satisfies LayerJob);
            const answer = await done;
            if (answer.error) throw new Error(answer.error);
          }
        }),
      );
      return performance.now() - started;
    } finally {
      for (const w of workers) w.terminate();
    }
  };
  (window as unknown as { runCeiling: typeof runCeiling }).runCeiling = runCeiling;
}
