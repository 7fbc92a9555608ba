// The edge's parent directory: static parents first, looked-up parents cached, a failed lookup a 502.

import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { closedPort } from '../test/support/ports.ts';
import { ParentDirectory, type ParentLookup } from './parent-directory.ts';

/** A lookup that answers from a table and counts its calls. */
function tableLookup(table: Record<string, string[]>): ParentLookup & { calls: number } {
  const lookup = Object.assign(async (id: string) => (lookup.calls++, table[id] ?? []), { calls: 0 });
  return lookup;
}

/** A URL nothing listens on. */
const deadUrl = async () => `http://127.0.0.1:${await closedPort()}`;

describe('parent directory', () => {
  it('lists static parents first, then looked-up ones, without itself or duplicates', async () => {
    const lookup = tableLookup({ s1: ['http://a', 'http://self', 'http://b', 'http://static'] });
    const dir = new ParentDirectory({ staticParents: ['http://static'], lookup, self: () => 'http://self' });
    assert.deepEqual(await dir.parentsFor('s1'), ['http://static', 'http://a', 'http://b']);
  });

  it('reuses a lookup within the cache time and asks again after it', async () => {
    let now = 0;
    const lookup = tableLookup({ s1: ['http://a'] });
    const dir = new ParentDirectory({ staticParents: [], lookup, self: () => '', cacheMs: 5_000, now: () => now });
    await dir.parentsFor('s1');
    now = 5_000;
    await dir.parentsFor('s1');
    assert.equal(lookup.calls, 1);
    now = 5_001;
    await dir.parentsFor('s1');
    assert.equal(lookup.calls, 2);
  });

  it('asks once for concurrent misses of one stream', async () => {
    const lookup = tableLookup({ s1: ['http://a'] });
    const dir = new ParentDirectory({ staticParents: [], lookup, self: () => '' });
    const all = await Promise.all([dir.parentsFor('s1'), dir.parentsFor('s1'), dir.parentsFor('s1')]);
    assert.deepEqual(all, [['http://a'], ['http://a'], ['http://a']]);
    assert.equal(lookup.calls, 1);
  });

  it('answers an empty list for a stream the directory does not know', async () => {
    const dir = new ParentDirectory({ staticParents: [], lookup: tableLookup({}), self: () => '' });
    assert.deepEqual(await dir.parentsFor('nope'), []);
  });

  it('rejects with 502 UPSTREAM_FAILED when the directory is unreachable, and does not cache the failure', async () => {
    const url = await deadUrl();
    let calls = 0;
    const lookup: ParentLookup = async (id) => {
      calls++;
      const res = await fetch(`${url}/api/streams/${id}/relays?holding=1`);
      return (await res.json()) as string[];
    };
    const dir = new ParentDirectory({ staticParents: [], lookup, self: () => '' });
    await assert.rejects(dir.parentsFor('s1'), { code: 'UPSTREAM_FAILED', context: { playbackId: 's1' } });
    await assert.rejects(dir.parentsFor('s1'), { code: 'UPSTREAM_FAILED' });
    assert.equal(calls, 2);
  });

  it('falls back to the static parents when the lookup fails', async () => {
    const dir = new ParentDirectory({ staticParents: ['http://static'], lookup: () => Promise.reject(new Error('down')), self: () => '' });
    assert.deepEqual(await dir.parentsFor('s1'), ['http://static']);
  });

  it('needs no lookup when only static parents are configured', async () => {
    const dir = new ParentDirectory({ staticParents: ['http://static'], self: () => '' });
    assert.equal(dir.hasParents, true);
    assert.deepEqual(await dir.parentsFor('s1'), ['http://static']);
    assert.equal(new ParentDirectory({ staticParents: [], self: () => '' }).hasParents, false);
  });
});
