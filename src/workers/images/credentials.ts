// Registry credentials in the images worker: held in memory for the worker's life, and kept in
// the store only for registries the user asked Berth to remember. The registry client is built
// here because its tokens belong to the credentials it was given.
import { parseRegistry } from '../../lib/reference/reference.ts';
import { RegistryClient, type Credentials } from '../../lib/registry/client.ts';
import { type Connection, connectionKey, transportFor } from '../../lib/registry/transport.ts';
import { store } from '../store.ts';
import { noteResponse } from './ratelimits.ts';

const credentials = new Map<string, Credentials>();
let clientFor: { key: string; client: RegistryClient } | undefined;
let remembered: Promise<void> | undefined;

/** Loads the credentials the user asked Berth to remember, once per worker. */
export function loadRemembered(): Promise<void> {
  return (remembered ??= store()
    .then((s) => s.credentials.list())
    .then((all) => {
      for (const c of all) {
        if (!credentials.has(c.registry)) {
          credentials.set(c.registry, { username: c.username, password: c.password });
        }
      }
    })
    .catch(() => {
      remembered = undefined;
    }));
}

/** The client for a connection, signed in with the credentials held; one at a time. */
export function client(connection: Connection): RegistryClient {
  const key = connectionKey(connection);
  if (clientFor?.key !== key) {
    clientFor = {
      key,
      client: new RegistryClient({
        transport: transportFor(connection),
        credentials: (registry) => credentials.get(registry),
        onResponse: noteResponse,
      }),
    };
  }
  return clientFor.client;
}

/** Sets a registry's credentials for this worker's life; `remember` also keeps them in the
 * store for later visits, and without it any remembered ones are forgotten. */
export async function setCredentials(arg: {
  registry: string;
  credentials: Credentials | null;
  remember?: boolean;
}): Promise<void> {
  await loadRemembered();
  const s = await store();
  const registry = parseRegistry(arg.registry);
  if (arg.credentials) credentials.set(registry, arg.credentials);
  else credentials.delete(registry);
  if (arg.credentials && arg.remember) {
    await s.credentials.put({ registry, ...arg.credentials, savedAt: Date.now() });
  } else {
    await s.credentials.delete(registry);
  }
  clientFor = undefined; // drop tokens obtained with the old credentials
}

/** The registries with credentials in this worker, and whether each is remembered. Never
 * the passwords. */
export async function listCredentials(): Promise<
  { registry: string; username: string; remembered: boolean }[]
> {
  await loadRemembered();
  const kept = new Set(await (await store()).credentials.registries());
  return [...credentials]
    .map(([registry, c]) => ({ registry, username: c.username, remembered: kept.has(registry) }))
    .sort((a, b) => a.registry.localeCompare(b.registry));
}

/** Forgets every credential, remembered or not. */
export async function forgetCredentials(): Promise<void> {
  await loadRemembered(); // so a load still running cannot bring them back
  credentials.clear();
  await (await store()).credentials.clear();
  clientFor = undefined;
}
