import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { openDatabase } from './sqlite.ts';

describe('sqlite files', () => {
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
});
