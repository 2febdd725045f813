import { openDB, type IDBPDatabase } from 'idb';
import { type BerthDB, dbName, dbVersion } from './schema.ts';

export type Database = IDBPDatabase<BerthDB>;

export class StorageUnavailableError extends Error {
  override name = 'StorageUnavailableError';
}

/** Opens the database, stepping through migrations by version. */
export async function openDatabase(
  name = dbName,
  /** Called when this connection was closed for another tab's schema upgrade, or by the
   * browser: the caller opens a new one on next use. */
  onClose: () => void = () => {},
): Promise<Database> {
  if (typeof indexedDB === 'undefined') {
    throw new StorageUnavailableError(
      'This browser offers no IndexedDB here (private browsing can turn it off), so Berth has nowhere to keep images.',
    );
  }
  try {
    const db = await openDB<BerthDB>(name, dbVersion, {
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
      },
      blocking() {
        // Another tab wants a newer schema: step aside so it can upgrade.
        db.close();
        onClose();
      },
      terminated() {
        onClose();
      },
    });
    return db;
  } catch (err) {
    throw new StorageUnavailableError(
      `Could not open the image store: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}
