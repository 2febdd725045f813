// Node 20 does not apply a parent's TypeScript loader to worker threads: load the worker through
// tsx's API.
import { tsImport } from 'tsx/esm/api';

await tsImport('./fuzz-worker.ts', import.meta.url);
