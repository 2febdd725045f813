// The headers in RPM's sqlite database (`rpmdb.sqlite`, Fedora and RHEL 9 onwards): the
// `Packages` table's `blob` column, one header per installed package.
//
// sqlite's file format is too large to read by hand; sql.js is SQLite itself compiled to
// WebAssembly, runs in a worker, and is loaded only when an image has such a database.
import type { SqlJsStatic } from 'sql.js';

export interface SqliteValues {
  values: Uint8Array[];
  problems: string[];
}

let engine: Promise<SqlJsStatic> | undefined;

/** Node (the unit tests) runs sql.js's Node build, which reads its .wasm from node_modules;
 * a browser or worker fetches the .wasm the build emitted as an asset. */
function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

function sqlite(): Promise<SqlJsStatic> {
  engine ??= (async () => {
    const { default: init } = await import('sql.js');
    if (isNode()) return init();
    const { default: wasmUrl } = await import('sql.js/dist/sql-wasm-browser.wasm?url');
    return init({ locateFile: () => wasmUrl });
  })();
  // A failed load (the asset missing, offline before it was cached) is tried again next time.
  engine.catch(() => (engine = undefined));
  return engine;
}

/** Every header blob in an rpmdb.sqlite file. A file that is not an rpm sqlite database, or
 * is damaged, gives problems, never an exception. */
export async function sqliteValues(file: Uint8Array): Promise<SqliteValues> {
  const values: Uint8Array[] = [];
  const problems: string[] = [];
  let SQL: SqlJsStatic;
  try {
    SQL = await sqlite();
  } catch (e) {
    return { values, problems: [`the sqlite reader did not load: ${String(e)}`] };
  }
  let db: InstanceType<SqlJsStatic['Database']> | undefined;
  try {
    db = new SQL.Database(file);
    const stmt = db.prepare('SELECT blob FROM Packages');
    try {
      while (stmt.step()) {
        const v = stmt.get()[0];
        if (v instanceof Uint8Array) values.push(v);
        else problems.push('a Packages row holds no header blob');
      }
    } finally {
      stmt.free();
    }
  } catch (e) {
    problems.push(
      `not a readable rpm sqlite database: ${e instanceof Error ? e.message : String(e)}`,
    );
  } finally {
    db?.close();
  }
  return { values, problems };
}
