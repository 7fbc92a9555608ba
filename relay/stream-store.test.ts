import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { ByteBudget } from './byte-budget.ts';
import { SegmentCache } from './segment-cache.ts';
import { StreamStore, type RefusalReason } from './stream-store.ts';
import { RENDITION_LAG_SEGMENTS } from '../protocol/segment-metadata.ts';

const ts = (n = 1) => Buffer.alloc(188 * n, 0x47);
// The store keeps what the push route checked; the signature is only carried here.
const meta = (i: number, discontinuity = false) => ({ duration: 2, programDateTime: new Date(Date.UTC(2026, 0, 1, 0, 0, i * 2)).toISOString(), discontinuity, signature: `0x${'11'.repeat(65)}` });
const descriptor = {
  playbackId: 'p1',
  targetDuration: 2,
  variants: [
    { name: 'source', width: 1280, height: 720, bandwidth: 3_000_000, codecs: 'avc1.64001f,mp4a.40.2' },
    { name: '360p', width: 640, height: 360, bandwidth: 800_000, codecs: 'avc1.64001e,mp4a.40.2' },
  ],
};

function store(now = () => 0) {
  return new StreamStore({ playlistSegments: 3, extraSegments: 1, idleMs: 10_000, now });
}

describe('relay stream store', () => {
  it('lists the newest segments in a live window and drops the oldest', () => {
    const s = store();
    s.setDescriptor(descriptor);
    for (let i = 0; i < 6; i++) s.putSegment('p1', 'source', i, meta(i), ts());
    const playlist = s.mediaPlaylist('p1', 'source');
    assert.match(playlist, /#EXT-X-MEDIA-SEQUENCE:3\n/);
    assert.deepEqual(playlist.match(/^\d+\.ts$/gm), ['3.ts', '4.ts', '5.ts']);
    assert.ok(s.segment('p1', 'source', 2), 'one extra segment stays for late players');
    assert.throws(() => s.segment('p1', 'source', 1), { code: 'SEGMENT_NOT_FOUND' });
  });

  it('marks a rendition segment that never arrived with EXT-X-GAP so sequence numbers stay right', () => {
    const s = store();
    s.setDescriptor(descriptor);
    for (let i = 0; i < 3; i++) s.putSegment('p1', 'source', i, meta(i), ts());
    s.putSegment('p1', '360p', 0, meta(0), ts());
    s.putSegment('p1', '360p', 2, meta(2), ts());
    assert.match(s.mediaPlaylist('p1', '360p'), /#EXTINF:2\.000,\n#EXT-X-GAP\n1\.ts\n/);
  });

  it('lists a lagging rendition\'s missing segments as gaps once the stream is RENDITION_LAG_SEGMENTS ahead, and drops them if they come later', async () => {
    const s = new StreamStore({ playlistSegments: 6, extraSegments: 4, idleMs: 10_000, now: () => 0 });
    s.setDescriptor(descriptor);
    s.putSegment('p1', '360p', 0, meta(0), ts());
    for (let i = 0; i <= RENDITION_LAG_SEGMENTS + 1; i++) s.putSegment('p1', 'source', i, meta(i), ts());
    // The source at 1 + the lag: 360p lists 1 as a gap, not a playlist stuck at 0.
    assert.deepEqual(s.mediaPlaylist('p1', '360p').match(/^\d+\.ts$/gm), ['0.ts', '1.ts']);
    assert.match(s.mediaPlaylist('p1', '360p'), /#EXT-X-GAP\n1\.ts\n/);
    // A blocking reload for the next seq is answered as soon as it is listed, gap or not.
    const reload = s.waitForSequence('p1', '360p', 2, 1_000);
    s.putSegment('p1', 'source', RENDITION_LAG_SEGMENTS + 2, meta(RENDITION_LAG_SEGMENTS + 2), ts());
    await reload;
    const before = s.mediaPlaylist('p1', '360p');
    assert.equal(s.putSegment('p1', '360p', 2, meta(2), ts()), null, 'a segment listed as a gap already is dropped');
    assert.equal(s.mediaPlaylist('p1', '360p'), before, 'and the playlist does not change under its players');
    assert.throws(() => s.segment('p1', '360p', 2), { code: 'SEGMENT_NOT_FOUND' });
    assert.ok(s.putSegment('p1', '360p', 3, meta(3), ts()), 'one not listed yet is taken');
    assert.deepEqual(s.mediaPlaylist('p1', '360p').match(/#EXT-X-GAP\n\d+\.ts/g), ['#EXT-X-GAP\n1.ts', '#EXT-X-GAP\n2.ts']);
    assert.doesNotMatch(s.mediaPlaylist('p1', 'source'), /GAP/, 'the source is never behind itself');
  });

  it('counts discontinuities that left the window in EXT-X-DISCONTINUITY-SEQUENCE', () => {
    const s = store();
    s.setDescriptor(descriptor);
    for (let i = 0; i < 8; i++) s.putSegment('p1', 'source', i, meta(i, i === 2 || i === 6), ts());
    const playlist = s.mediaPlaylist('p1', 'source');
    assert.match(playlist, /#EXT-X-MEDIA-SEQUENCE:5\n#EXT-X-DISCONTINUITY-SEQUENCE:1\n/);
    assert.equal(playlist.match(/#EXT-X-DISCONTINUITY\n/g)?.length, 1);
  });

  it('lists only variants that have segments, with the measured peak bandwidth when higher', () => {
    const s = store();
    s.setDescriptor(descriptor);
    s.putSegment('p1', 'source', 0, meta(0), ts(5000)); // 940,000 bytes in 2 s = 3.76 Mb/s
    const master = s.multivariantPlaylist('p1');
    assert.match(master, /BANDWIDTH=3760000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2"/);
    assert.doesNotMatch(master, /360p/);
  });

  it('answers STREAM_NOT_FOUND for an unknown stream or a stream with no segments', () => {
    const s = store();
    assert.throws(() => s.mediaPlaylist('nope', 'source'), { code: 'STREAM_NOT_FOUND' });
    s.setDescriptor(descriptor);
    assert.throws(() => s.multivariantPlaylist('p1'), { code: 'STREAM_NOT_FOUND' });
  });

  it('expires streams nobody pushed to within the idle limit', () => {
    let now = 0;
    const s = store(() => now);
    s.putSegment('p1', 'source', 0, meta(0), ts());
    now = 5_000;
    assert.deepEqual(s.expire(), []);
    now = 10_001;
    assert.deepEqual(s.expire(), ['p1']);
    assert.equal(s.bytesHeld(), 0);
  });

  it('wakes a blocking reload when its segment arrives', async () => {
    const s = store();
    s.putSegment('p1', 'source', 0, meta(0), ts());
    const waiting = s.waitForSequence('p1', 'source', 1, 60_000);
    s.putSegment('p1', 'source', 1, meta(1), ts());
    await waiting;
    assert.match(s.mediaPlaylist('p1', 'source'), /1\.ts\n$/);
  });

  it('ends the playlist with EXT-X-ENDLIST and answers blocking reloads waiting on it at once', async () => {
    const s = store();
    s.setDescriptor(descriptor);
    s.putSegment('p1', 'source', 0, meta(0), ts());
    const ended: string[] = [];
    s.on('streamEnded', (id) => ended.push(id));
    const waiting = s.waitForSequence('p1', 'source', 1, 60_000);
    assert.doesNotMatch(s.mediaPlaylistBytes('p1', 'source').toString(), /ENDLIST/);
    s.end('p1');
    await waiting;
    assert.deepEqual(ended, ['p1']);
    assert.match(s.mediaPlaylistBytes('p1', 'source').toString(), /0\.ts\n#EXT-X-ENDLIST\n$/);
    await s.waitForSequence('p1', 'source', 5, 60_000);
    assert.ok(s.segment('p1', 'source', 0), 'an ended stream stays served until it expires');
  });

  it('reopens an ended stream when the broadcaster pushes again', () => {
    const s = store();
    s.putSegment('p1', 'source', 0, meta(0), ts());
    s.end('p1');
    s.putSegment('p1', 'source', 1, meta(1), ts());
    assert.doesNotMatch(s.mediaPlaylistBytes('p1', 'source').toString(), /ENDLIST/);
  });

  it('refuses to end a stream it does not hold', () => {
    assert.throws(() => store().end('nope'), { code: 'STREAM_NOT_FOUND' });
  });
});

describe('relay stream store limits', () => {
  /** A store whose refusals are recorded, and a snapshot of everything a refused push must leave alone. */
  function limited(options: { maxStreams?: number; maxRenditions?: number; budget?: number | ByteBudget; now?: () => number } = {}) {
    const s = new StreamStore({ playlistSegments: 3, extraSegments: 1, idleMs: 10_000, now: () => 0, ...options });
    const refused: RefusalReason[] = [];
    s.on('refused', (reason) => refused.push(reason));
    const state = () => JSON.stringify({ ids: s.ids(), bytes: s.bytesHeld(), playlists: s.ids().map((id) => { try { return s.mediaPlaylist(id, 'source'); } catch { return null; } }) });
    return { s, refused, state };
  }

  it('refuses a stream past the stream limit with RELAY_FULL, and creates nothing', () => {
    const { s, refused, state } = limited({ maxStreams: 2 });
    s.putSegment('a', 'source', 0, meta(0), ts());
    s.setDescriptor({ ...descriptor, playbackId: 'b' });
    const before = state();
    assert.throws(() => s.putSegment('c', 'source', 0, meta(0), ts()), { code: 'RELAY_FULL', message: /limit of 2 streams/ });
    assert.throws(() => s.setDescriptor({ ...descriptor, playbackId: 'c' }), { code: 'RELAY_FULL' });
    assert.equal(state(), before);
    assert.deepEqual(refused, ['streams', 'streams']);
    s.putSegment('a', 'source', 1, meta(1), ts()); // streams it holds keep taking pushes
  });

  it('refuses a rendition past the rendition limit, in a segment or a descriptor', () => {
    const { s, refused, state } = limited({ maxRenditions: 1 });
    s.putSegment('p1', 'source', 0, meta(0), ts());
    const before = state();
    assert.throws(() => s.putSegment('p1', '360p', 0, meta(0), ts()), { code: 'RELAY_FULL', message: /at most 1 renditions/ });
    assert.throws(() => s.setDescriptor(descriptor), { code: 'RELAY_FULL', message: /lists 2/ });
    assert.equal(state(), before);
    assert.deepEqual(refused, ['renditions', 'renditions']);
  });

  it('refuses a segment that does not fit the byte budget, counting the bytes the moving window frees', () => {
    const { s, refused, state } = limited({ budget: 188 * 10 });
    // keep = 4 segments of 2 packets: 8 packets held at steady state, whatever the number of pushes.
    for (let i = 0; i < 20; i++) s.putSegment('p1', 'source', i, meta(i), ts(2));
    assert.equal(s.bytesHeld(), 188 * 8);
    const before = state();
    assert.throws(() => s.putSegment('p1', '360p', 19, meta(19), ts(3)), { code: 'RELAY_FULL', message: /bytes of segments/ });
    assert.equal(state(), before);
    assert.deepEqual(refused, ['bytes']);
  });

  it('shares one byte budget with the pull cache, which gives bytes back to pushes and never takes them', () => {
    const budget = new ByteBudget(1_000);
    const cache = new SegmentCache(budget);
    const { s, refused } = limited({ budget });
    for (let seq = 0; seq < 6; seq++) cache.set(`/hls/e/source/${seq}.ts`, { bytes: Buffer.alloc(150), etag: '"e"', window: 'e/source', seq, headers: {} });
    assert.equal(budget.used, 900);
    s.putSegment('p1', 'source', 0, meta(0), ts(4)); // 752 bytes: the cache evicts to make room
    assert.equal(s.bytesHeld(), 752);
    assert.ok(budget.used <= 1_000 && cache.bytesHeld <= 248, `cache holds ${cache.bytesHeld}`);
    cache.set('/hls/e/source/9.ts', { bytes: Buffer.alloc(400), etag: '"e"', window: 'e/source', seq: 9, headers: {} });
    assert.equal(s.bytesHeld(), 752, 'a pull never pushes out a pushed segment');
    assert.ok(budget.used <= 1_000);
    assert.throws(() => s.putSegment('p1', 'source', 1, meta(1), ts(2)), { code: 'RELAY_FULL' });
    assert.deepEqual(refused, ['bytes']);
  });

  it('refuses a sequence number far ahead of the window instead of freezing the stream', () => {
    const { s, refused, state } = limited();
    s.setDescriptor(descriptor);
    for (let i = 0; i < 5; i++) s.putSegment('p1', 'source', i, meta(i), ts());
    const before = state();
    assert.throws(() => s.putSegment('p1', 'source', 999_999_999_999, { ...meta(5), duration: 30 }, ts()), { code: 'BAD_REQUEST', message: /too far ahead of the newest segment 4/ });
    assert.equal(state(), before);
    assert.equal(s.targetDurationOf('p1'), 2);
    assert.deepEqual(refused, ['seq_ahead']);
    s.putSegment('p1', 'source', 5, meta(5), ts());
    assert.match(s.mediaPlaylist('p1', 'source'), /5\.ts\n$/, 'the stream goes on');
  });

  it('accepts a larger jump after a pause long enough to explain it', () => {
    let now = 0;
    const { s } = limited({ now: () => now });
    s.putSegment('p1', 'source', 0, meta(0), ts());
    assert.throws(() => s.putSegment('p1', 'source', 150, meta(150), ts()), { code: 'BAD_REQUEST' });
    now = 60_000; // a minute away: up to 120 more segments
    s.putSegment('p1', 'source', 150, meta(150), ts());
  });

  it('takes TARGETDURATION from the segments in the window, so a long one raises it only while listed', () => {
    const { s } = limited();
    s.setDescriptor(descriptor);
    s.putSegment('p1', 'source', 0, { ...meta(0), duration: 30 }, ts());
    assert.match(s.mediaPlaylist('p1', 'source'), /#EXT-X-TARGETDURATION:30\n/);
    for (let i = 1; i <= 4; i++) s.putSegment('p1', 'source', i, meta(i), ts());
    assert.match(s.mediaPlaylist('p1', 'source'), /#EXT-X-TARGETDURATION:2\n/);
  });

  it('drops a segment already behind the kept window without touching the stream', () => {
    const { s, state } = limited();
    for (let i = 0; i < 10; i++) s.putSegment('p1', 'source', i, meta(i), ts());
    const before = state();
    assert.equal(s.putSegment('p1', 'source', 2, { ...meta(2), duration: 30 }, ts()), null);
    assert.equal(state(), before);
    assert.equal(s.targetDurationOf('p1'), 2);
  });
});
