import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { SegmentCache } from './segment-cache.ts';

const entry = (window: string, seq: number, size = 100) => ({ bytes: Buffer.alloc(size), etag: `"${seq}"`, window, seq, headers: {} });

describe('segment cache', () => {
  it('drops segments that fell behind their live window, so a steady audience holds steady memory', () => {
    const cache = new SegmentCache(1_000_000, 2);
    for (let seq = 0; seq < 20; seq++) {
      cache.set(`/hls/a/source/${seq}.ts`, entry('a/source', seq));
      cache.setLiveWindow('a/source', Math.max(0, seq - 5));
    }
    // Window 14..19 plus two behind it.
    assert.equal(cache.size, 8);
    assert.equal(cache.get('/hls/a/source/11.ts'), undefined);
    assert.ok(cache.get('/hls/a/source/12.ts'));
  });

  it('stays within its byte budget, evicting segments outside any live window before live ones', () => {
    const cache = new SegmentCache(300, 10);
    cache.setLiveWindow('a/source', 5);
    cache.set('/old', entry('a/source', 1));
    cache.set('/live1', entry('a/source', 5));
    cache.set('/live2', entry('a/source', 6));
    cache.get('/old'); // recently used, but out of the window: still the first to go
    cache.set('/live3', entry('a/source', 7));
    assert.equal(cache.bytesHeld, 300);
    assert.equal(cache.get('/old'), undefined);
    assert.ok(cache.get('/live1') && cache.get('/live2') && cache.get('/live3'));
  });

  it('forgets every segment of a stream nobody watches any more', () => {
    const cache = new SegmentCache(10_000);
    cache.set('/x', entry('a/source', 1));
    cache.set('/y', entry('b/source', 1));
    cache.retainStreams(new Set(['b']));
    assert.deepEqual([cache.get('/x'), !!cache.get('/y')], [undefined, true]);
    assert.equal(cache.bytesHeld, 100);
  });
});
