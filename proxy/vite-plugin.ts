import type { Plugin } from 'vite';

// Placeholder: replaced by the real middleware mount.
export function berthProxyPlugin(): Plugin {
  return { name: 'berth-proxy' };
}
