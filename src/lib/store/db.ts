import { openDB, type IDBPDatabase } from 'idb';
import { type BerthDB, dbName, dbVersion } from './schema.ts';

export type Database = IDBPDatabase<BerthDB>;

export class StorageUnavailableError extends Error {
  override name = 'StorageUnavailableError';
  readonly kind = 'storage-unavailable';
}

export interface OpenOptions {
  name?: string;
  /** This connection was closed, for another tab's schema upgrade or by the browser: the
   * caller opens a new one on next use. */
  onClose?: () => void;
  /** The upgrade waits for another tab that still holds an older connection open. */
  onBlocked?: () => void;
}

/** Opens the database, stepping through migrations by version. */
export async function openDatabase(opts: OpenOptions = {}): Promise<Database> {
  let factory: IDBFactory | undefined;
  try {
    // Reading it can throw: a SecurityError where the browser blocks site data.
    factory = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  } catch (err) {
    throw new StorageUnavailableError(
      `This browser does not let Berth store anything here (${describe(err)}). Private browsing or blocked site data can do this: open Berth in a normal window, or allow this site to keep data.`,
    );
  }
  if (!factory) {
    throw new StorageUnavailableError(
      'This browser offers no IndexedDB here (private browsing can turn it off), so Berth has nowhere to keep images. Open Berth in a normal window.',
    );
  }
  try {
    const db = await openDB<BerthDB>(opts.name ?? dbName, dbVersion, {
      upgrade(db, oldVersion) {
        if (oldVersion < 1) {
          db.createObjectStore('blobs', { keyPath: 'digest' });
          db.createObjectStore('chunks', { keyPath: ['digest', 'offset'] });
          const ingests = db.createObjectStore('ingests', { keyPath: 'ref' });
          ingests.createIndex('digest', 'digest');
          db.createObjectStore('images', { keyPath: 'name' });
        }
        if (oldVersion < 2) {
          db.createObjectStore('credentials', { keyPath: 'registry' });
        }
        if (oldVersion < 3) {
          db.createObjectStore('pulls', { keyPath: 'name' });
        }
        if (oldVersion < 4) {
          db.createObjectStore('layerIndexes', { keyPath: 'digest' });
          db.createObjectStore('layerEntries', { keyPath: ['digest', 'batch'] });
        }
        if (oldVersion < 5) {
          // Added beside the others: every store of version 4 keeps its data.
          db.createObjectStore('layerCheckpoints', { keyPath: 'digest' });
        }
        if (oldVersion < 6) {
          // Added beside the others: every store of version 5 keeps its data.
          const details = db.createObjectStore('tagDetails', { keyPath: 'digest' });
          details.createIndex('storedAt', 'storedAt');
        }
      },
      blocked() {
        opts.onBlocked?.();
      },
      blocking() {
        // Another tab wants a newer schema: step aside so it can upgrade.
        db.close();
        opts.onClose?.();
      },
      terminated() {
        opts.onClose?.();
      },
    });
    return db;
  } catch (err) {
    if (err instanceof DOMException && err.name === 'VersionError') {
      throw new StorageUnavailableError(
        'A newer version of Berth, open in another tab, has upgraded the image store. Reload this page to use it.',
      );
    }
    throw new StorageUnavailableError(
      `Could not open the image store (${describe(err)}). Private browsing or blocked site data can do this: open Berth in a normal window, or allow this site to keep data.`,
    );
  }
}

function describe(err: unknown): string {
  return err instanceof Error || err instanceof DOMException
    ? `${err.name}: ${err.message}`
    : String(err);
}
