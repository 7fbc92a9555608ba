import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { addMissingColumns, openDatabase } from './sqlite.ts';

describe('sqlite', () => {
  it('opens a database in a directory it creates, in WAL mode, with the schema', () => {
    const dir = mkdtempSync(join(tmpdir(), 'castnet-sqlite-'));
    try {
      const db = openDatabase(join(dir, 'nested', 'x.sqlite'), 'CREATE TABLE IF NOT EXISTS t (a TEXT PRIMARY KEY);');
      assert.equal((db.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode, 'wal');
      db.prepare('INSERT INTO t (a) VALUES (?)').run('x');
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('adds the columns an older table lacks, keeps its rows, and leaves present columns alone', () => {
    const db = openDatabase(':memory:', "CREATE TABLE t (a TEXT PRIMARY KEY, b TEXT NOT NULL DEFAULT 'b');");
    db.prepare('INSERT INTO t (a) VALUES (?)').run('old');
    const added = [['b', "TEXT NOT NULL DEFAULT 'other'"], ['c', "TEXT NOT NULL DEFAULT '0'"], ['d', 'INTEGER']] as const;
    addMissingColumns(db, 't', added);
    addMissingColumns(db, 't', added); // a second start changes nothing
    assert.deepEqual({ ...(db.prepare('SELECT * FROM t').get() as object) }, { a: 'old', b: 'b', c: '0', d: null });
    db.close();
  });
});
