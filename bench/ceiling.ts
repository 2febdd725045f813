// The ceiling probe: what a browser tab can do at best on this machine, with no Berth code.
// In a dedicated worker (as Berth's pull is), each layer is fetched through the same proxy in
// 64 MiB Range pieces taken as Blobs (response.blob(): the bytes stay out of JS); each piece
// is stored as 16 MiB slices in IndexedDB while the same Blob is hashed with hash-wasm, and
// the next piece is already being fetched. The digest is checked at the end.
import { createSHA256, type IHasher } from 'hash-wasm';

const PIECE = 64 << 20;
const SLICE = 16 << 20;

export interface CeilingParams {
  /** e.g. '/proxy/127.0.0.1:5000' */
  proxy: string;
  repository: string;
  layers: { digest: string; size: number }[];
  /** Layers fetched at once. */
  parallel: number;
  /** Fetch the next piece of a layer while the current one is stored and hashed. */
  prefetch: boolean;
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

async function fetchPiece(p: CeilingParams, digest: string, size: number, offset: number) {
  const end = Math.min(size, offset + PIECE) - 1;
  const res = await fetch(`${p.proxy}/v2/${p.repository}/blobs/${digest}`, {
    headers: { Range: `bytes=${offset}-${end}` },
  });
  if (res.status !== 206 && !(res.status === 200 && offset === 0 && end === size - 1)) {
    throw new Error(`${digest} bytes ${offset}-${end}: HTTP ${res.status}`);
  }
  const piece = await res.blob();
  if (piece.size !== end - offset + 1) throw new Error(`${digest}: short piece at ${offset}`);
  return piece;
}

async function layer(db: IDBDatabase, p: CeilingParams, digest: string, size: number) {
  const hasher = await createSHA256();
  hasher.init();
  let next: Promise<Blob> | undefined = fetchPiece(p, digest, size, 0);
  for (let offset = 0; next; offset += PIECE) {
    const piece: Blob = await next;
    const following =
      offset + PIECE < size ? () => fetchPiece(p, digest, size, offset + PIECE) : undefined;
    next = p.prefetch ? following?.() : undefined;
    await Promise.all([store(db, digest, offset, piece), hash(piece, hasher)]);
    if (!p.prefetch) next = following?.();
  }
  const got = `sha256:${hasher.digest('hex')}`;
  if (got !== digest) throw new Error(`digest mismatch: got ${got}, want ${digest}`);
}

/** Milliseconds from the first request to every layer stored and verified. */
async function probe(p: CeilingParams): Promise<number> {
  const db = await openDb();
  const started = performance.now();
  const queue = [...p.layers];
  await Promise.all(
    Array.from({ length: Math.min(p.parallel, queue.length) }, async () => {
      for (let l = queue.shift(); l; l = queue.shift()) await layer(db, p, l.digest, l.size);
    }),
  );
  const ms = performance.now() - started;
  db.close();
  return ms;
}

if (typeof document === 'undefined') {
  // The worker.
  self.onmessage = (e: MessageEvent<CeilingParams>) => {
    probe(e.data).then(
      (ms) => self.postMessage({ ms }),
      (err: unknown) => self.postMessage({ error: String(err) }),
    );
  };
} else {
  // The page: starts the worker (this same script) and waits for its answer; the time is the
  // worker's own, from its first request to the last commit.
  (window as unknown as { runCeiling(p: CeilingParams): Promise<number> }).runCeiling = (p) =>
    new Promise((resolve, reject) => {
      const worker = new Worker('/ceiling.js', { type: 'module' });
      worker.onmessage = (e: MessageEvent<{ ms?: number; error?: string }>) => {
        worker.terminate();
        if (e.data.ms !== undefined) resolve(e.data.ms);
        else reject(new Error(e.data.error));
      };
      worker.onerror = (e) => reject(new Error(e.message));
      worker.postMessage(p);
    });
}
