import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { parseLlPlaylist, writeLlPlaylist, type LlPlaylist } from './ll-playlist.ts';

const part = (independent = false) => ({ duration: 0.334, independent });
const segment = (seq: number, initSeq = 0) => ({ seq, duration: 2.004, programDateTime: `2026-12-02T14:00:${String(10 + seq * 2).padStart(2, '0')}.000Z`, discontinuity: seq === 4, gap: false, initSeq, parts: [part(true), part(), part(), part(), part(), part()] });

const live: LlPlaylist = {
  targetDuration: 2,
  partTarget: 0.334,
  discontinuitySequence: 1,
  segments: [0, 1, 2, 3, 4, 5].map((s) => segment(s, s >= 4 ? 4 : 0)),
  open: { seq: 6, initSeq: 4, parts: [part(true), part()] },
  ended: false,
  reports: [{ rendition: '360p', lastMsn: 5, lastPart: null }, { rendition: '720p', lastMsn: 6, lastPart: 1 }],
};

describe('parseLlPlaylist', () => {
  it('reads back what writeLlPlaylist wrote, line for line', () => {
    const text = writeLlPlaylist(live);
    const parsed = parseLlPlaylist(text);
    assert.equal(writeLlPlaylist(parsed), text);
    assert.deepEqual(parsed.hint, { seq: 6, part: 2 });
    assert.equal(writeLlPlaylist({ ...parsed, skip: true }), writeLlPlaylist({ ...live, skip: true }));
  });

  it('reads an ended playlist and one whose open segment has no part yet', () => {
    for (const p of [{ ...live, ended: true }, { ...live, open: { seq: 6, initSeq: 4, parts: [] } }]) {
      const text = writeLlPlaylist(p);
      assert.equal(writeLlPlaylist(parseLlPlaylist(text)), text);
    }
  });

  it('refuses a delta update, a hole in the numbering, an unknown tag and a hint that is not the next part', () => {
    const text = writeLlPlaylist(live);
    assert.throws(() => parseLlPlaylist(writeLlPlaylist({ ...live, skip: true })), /delta update/);
    assert.throws(() => parseLlPlaylist(text.replace('\n3.m4s\n', '\n9.m4s\n')), /is not segment 3/);
    assert.throws(() => parseLlPlaylist(text.replace('#EXT-X-GAP', '').replace('#EXTM3U\n', '#EXTM3U\n#EXT-X-KEY:METHOD=NONE\n')), /tag this playlist form does not have/);
    assert.throws(() => parseLlPlaylist(text.replace('URI="6.2.m4s"', 'URI="6.7.m4s"')), /preload hint/);
    assert.throws(() => parseLlPlaylist(text.replace('URI="5.1.m4s"', 'URI="5.3.m4s"')), /not the next part/);
    assert.throws(() => parseLlPlaylist(text.replace(/PROGRAM-DATE-TIME:[^\n]+/, 'PROGRAM-DATE-TIME:yesterday')), /date-time/);
  });
});
