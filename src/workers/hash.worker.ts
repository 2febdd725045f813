// A hashing worker of the images worker's pool (hashing.ts): advances a saved hash state by a
// piece's bytes.
import { type HashJob, hashJobAnswerer } from './hashing.ts';

const answer = hashJobAnswerer();
const scope = self as unknown as {
  onmessage: ((e: MessageEvent<HashJob>) => void) | null;
  postMessage(msg: unknown): void;
};
// The state is copied, not transferred: it is about 100 bytes.
scope.onmessage = (e) => void answer(e.data).then((a) => scope.postMessage(a));
