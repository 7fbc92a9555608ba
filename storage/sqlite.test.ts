import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

  it('creates the database and its journals 0600 (they hold money and unrevealed secrets), and narrows an old 0644 one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'castnet-sqlite-'));
    try {
      const path = join(dir, 'data', 'ledger.sqlite');
      const db = openDatabase(path, 'CREATE TABLE IF NOT EXISTS t (v TEXT)');
      db.prepare('INSERT INTO t VALUES (?)').run('secret');
      for (const f of [path, `${path}-wal`, `${path}-shm`]) assert.equal(statSync(f).mode & 0o777, 0o600, f);
      db.close();
      const old = join(dir, 'old.sqlite');
      writeFileSync(old, '', { mode: 0o644 });
      openDatabase(old, 'CREATE TABLE IF NOT EXISTS t (v TEXT)').close();
      assert.equal(statSync(old).mode & 0o777, 0o600);
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
