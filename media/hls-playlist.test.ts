// The playlist writer: what a player reads from a live or ended media playlist.

import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { lastMediaSequence, writeMediaPlaylist, type PlaylistEntry } from './hls-playlist.ts';

const entry = (seq: number, extra: Partial<PlaylistEntry> = {}): PlaylistEntry => ({
  seq,
  duration: 2,
  programDateTime: new Date(Date.UTC(2026, 0, 1, 0, 0, seq * 2)).toISOString(),
  discontinuity: false,
  gap: false,
  ...extra,
});

describe('media playlist writer', () => {
  it('writes EXTINF with three decimals and a PROGRAM-DATE-TIME before each segment', () => {
    const text = writeMediaPlaylist({ targetDuration: 2, discontinuitySequence: 0, entries: [entry(7, { duration: 1.9333 }), entry(8)], ended: false });
    assert.equal(
      text,
      [
        '#EXTM3U',
        '#EXT-X-VERSION:6',
        '#EXT-X-TARGETDURATION:2',
        '#EXT-X-MEDIA-SEQUENCE:7',
        '#EXT-X-DISCONTINUITY-SEQUENCE:0',
        '#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:14.000Z',
        '#EXTINF:1.933,',
        '7.ts',
        '#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:16.000Z',
        '#EXTINF:2.000,',
        '8.ts',
        '',
      ].join('\n'),
    );
  });

  it('marks a discontinuity before its segment and carries the discontinuity sequence', () => {
    const text = writeMediaPlaylist({ targetDuration: 2, discontinuitySequence: 3, entries: [entry(1), entry(2, { discontinuity: true })], ended: false });
    assert.match(text, /#EXT-X-DISCONTINUITY-SEQUENCE:3\n/);
    assert.match(text, /1\.ts\n#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:[^\n]+\n#EXTINF:2\.000,\n2\.ts\n/);
  });

  it('lists a missing segment with EXT-X-GAP after its EXTINF', () => {
    assert.match(writeMediaPlaylist({ targetDuration: 2, discontinuitySequence: 0, entries: [entry(4, { gap: true })], ended: false }), /#EXTINF:2\.000,\n#EXT-X-GAP\n4\.ts\n$/);
  });

  it('ends an ended playlist with EXT-X-ENDLIST, and a live one without', () => {
    const live = writeMediaPlaylist({ targetDuration: 2, discontinuitySequence: 0, entries: [entry(0)], ended: false });
    const ended = writeMediaPlaylist({ targetDuration: 2, discontinuitySequence: 0, entries: [entry(0)], ended: true });
    assert.doesNotMatch(live, /ENDLIST/);
    assert.match(ended, /0\.ts\n#EXT-X-ENDLIST\n$/);
  });

  it('advertises blocking reload only when asked', () => {
    assert.match(writeMediaPlaylist({ targetDuration: 2, canBlockReload: true, discontinuitySequence: 0, entries: [], ended: false }), /#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES\n/);
    assert.doesNotMatch(writeMediaPlaylist({ targetDuration: 2, discontinuitySequence: 0, entries: [], ended: false }), /SERVER-CONTROL/);
  });

  it('reads back the first and last sequence, the target duration and the end of a written playlist', () => {
    const entries = [entry(5), entry(6, { gap: true }), entry(7, { discontinuity: true })];
    assert.deepEqual(lastMediaSequence(writeMediaPlaylist({ targetDuration: 4, discontinuitySequence: 1, entries, ended: false })), { first: 5, last: 7, targetDuration: 4, ended: false });
    assert.deepEqual(lastMediaSequence(writeMediaPlaylist({ targetDuration: 4, discontinuitySequence: 1, entries, ended: true })), { first: 5, last: 7, targetDuration: 4, ended: true });
  });
});
