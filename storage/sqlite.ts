// Opening a node:sqlite database in a node's data directory: the directory is made, the journal is WAL
// (readers never block the writer, and a crash loses no committed transaction), writers wait for a lock
// instead of failing at once, and the schema is created if missing; tables written by an older version gain
// the columns added since. The file is created 0600 (its WAL and shared-memory files take its mode): the
// ledger holds money, the redemption queue unrevealed secrets.

import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

/** How long a write waits for another connection's lock (the ledger may be opened by two processes). */
const BUSY_TIMEOUT_MS = 5_000;

/** Opens (creating if needed) the database at `path`, or an in-memory one for `:memory:`, and runs `schema`. */
export function openDatabase(path: string, schema: string): DatabaseSync {
  if (path !== ':memory:') {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    closeSync(openSync(path, 'a', 0o600));
    // A database made by an older version is narrowed too, with the journals SQLite made beside it.
    for (const f of [path, `${path}-wal`, `${path}-shm`]) {
      try {
        chmodSync(f, 0o600);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  }
  const db = new DatabaseSync(path);
  db.exec(`PRAGMA journal_mode = WAL; PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS};`);
  db.exec(schema);
  return db;
}

/**
 * Adds each of `columns` (name and SQL definition) that `table` lacks: tables written by an older version
 * gain the columns added since (SQLite has no ADD COLUMN IF NOT EXISTS). Names are the code's, never input.
 */
export function addMissingColumns(db: DatabaseSync, table: string, columns: ReadonlyArray<readonly [name: string, definition: string]>): void {
  const present = new Set((db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((c) => c.name));
  for (const [name, definition] of columns) if (!present.has(name)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${name} ${definition}`);
}

/** Runs `work` in one IMMEDIATE transaction (the write lock taken at once): committed whole, or rolled back and rethrown. */
export function inTransaction<T>(db: DatabaseSync, work: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = work();
    db.exec('COMMIT');
    return result;
  } catch (err) {
    db.exec('ROLLBACK');
    throw err;
  }
}
