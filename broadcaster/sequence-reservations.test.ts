import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { SEQUENCE_BLOCK, SEQUENCE_MIN_SKIP, SequenceReservations } from './sequence-reservations.ts';

describe('sequence reservations', () => {
  it('starts a stream that was live before past every number it used, across a restart, without a write per segment', () => {
    const dir = mkdtempSync(join(tmpdir(), 'castnet-seq-'));
    try {
      const file = join(dir, 'sequences.json');
      const first = new SequenceReservations(file);
      assert.equal(first.begin('abc'), 0);
      let writes = 0;
      let last = readFileSync(file, 'utf8');
      for (let seq = 0; seq < 120; seq++) {
        first.used('abc', seq);
        const now = readFileSync(file, 'utf8');
        if (now !== last) writes++;
        last = now;
      }
      assert.ok(writes <= Math.ceil(120 / (SEQUENCE_BLOCK - SEQUENCE_MIN_SKIP)) + 1, `${writes} writes for 120 segments`);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      // The stream ends (or the process dies) after segment 119: the next start skips more than a relay's
      // window (so the old one is trimmed whole) and less than a relay's far-ahead bound.
      const after = new SequenceReservations(file).begin('abc');
      assert.ok(after >= 120 + SEQUENCE_MIN_SKIP && after <= 120 + SEQUENCE_BLOCK, `starts at ${after}`);
      assert.equal(new SequenceReservations(file).begin('other'), 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads a torn or foreign file as no reservations instead of failing to start', () => {
    const dir = mkdtempSync(join(tmpdir(), 'castnet-seq-'));
    try {
      const file = join(dir, 'sequences.json');
      writeFileSync(file, '{"abc": 5');
      assert.equal(new SequenceReservations(file).begin('abc'), 0);
      writeFileSync(file, '{"__proto__": 7, "x": -1, "y": "9"}');
      const r = new SequenceReservations(file);
      assert.equal(r.begin('x'), 0);
      assert.equal(r.begin('y'), 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
