import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, it } from 'vitest';
import { parse, types } from 'hls-parser';
import { signedSegmentHeaders } from '../protocol/segment-metadata.ts';
import { signPlaybackPolicy } from '../protocol/playback-policy.ts';
import { randomIdentity } from '../protocol/identity.ts';
import { Recordings } from './recordings.ts';
import type { StoredSegment } from './stream-store.ts';

const variants = [
  { name: 'source', width: 640, height: 360, bandwidth: 1_000_000, codecs: 'avc1.64001e,mp4a.40.2' },
  { name: '240p', width: 426, height: 240, bandwidth: 400_000, codecs: 'avc1.64001e,mp4a.40.2' },
];

function segment(seq: number, size = 1_000, discontinuity = false): StoredSegment {
  const meta = { duration: 2, programDateTime: new Date(Date.UTC(2026, 0, 1, 0, 0, seq * 2)).toISOString(), discontinuity, signature: `0x${'ab'.repeat(65)}` };
  return { ...meta, seq, bytes: Buffer.alloc(size, seq % 256), etag: `"${seq}"`, headers: signedSegmentHeaders(meta) };
}

describe('Recordings', () => {
  const dirs: string[] = [];
  const open: Recordings[] = [];
  afterEach(async () => {
    for (const r of open.splice(0)) await r.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function make(options: { maxBytes?: number; maxRecordings?: number; dvrSeconds?: number; dir?: string } = {}) {
    const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'castnet-recordings-'));
    if (!options.dir) dirs.push(dir);
    const lines: Array<{ msg: string; recordingId?: string; reason?: string; seq?: number }> = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as { msg: string }) });
    const r = new Recordings({ dir, maxBytes: options.maxBytes ?? 1e9, logger, ...(options.maxRecordings ? { maxRecordings: options.maxRecordings } : {}), ...(options.dvrSeconds ? { dvrSeconds: options.dvrSeconds } : {}) });
    open.push(r);
    return { r, dir, lines };
  }

  it('keeps every segment of every rendition and plays them back as a VOD playlist with ENDLIST once ended, with the signature headers they were pushed with', async () => {
    const { r } = make();
    const ready: string[] = [];
    r.on('ready', (s) => ready.push(s.recordingId));
    for (let seq = 0; seq < 5; seq++) for (const v of variants) if (!(v.name === '240p' && seq === 3)) r.add('stream1', v.name, segment(seq), variants, 2);
    await r.idle();
    const [rec] = r.list();
    assert.ok(rec);
    assert.equal(rec.state, 'recording');
    assert.equal(rec.segments, 9);
    assert.equal(rec.bytes, 9_000);
    assert.deepEqual(rec.renditions.sort(), ['240p', 'source']);
    // While it records, the playlist has no ENDLIST and no VOD type.
    assert.doesNotMatch(r.vodMedia(rec.recordingId, 'source').toString(), /ENDLIST|PLAYLIST-TYPE/);

    r.end('stream1');
    await r.idle();
    assert.deepEqual(ready, [rec.recordingId]);
    const master = parse(r.vodMaster(rec.recordingId).toString());
    assert.ok(master.isMasterPlaylist);
    assert.deepEqual((master as types.MasterPlaylist).variants.map((v) => v.uri), ['source/index.m3u8', '240p/index.m3u8']);
    const text = r.vodMedia(rec.recordingId, '240p').toString();
    assert.match(text, /#EXT-X-PLAYLIST-TYPE:VOD/);
    assert.match(text, /#EXT-X-ENDLIST/);
    const media = parse(text) as types.MediaPlaylist;
    assert.equal(media.playlistType, 'VOD');
    assert.equal(media.endlist, true);
    assert.equal(media.segments.length, 5);
    assert.equal(media.segments[3]!.gap, true, 'a seq the rendition lacks is a gap, so numbering stays');
    assert.equal(media.segments[0]!.uri, `/vod/${rec.recordingId}/hls/stream1/240p/0.ts`);
    const got = await r.segment(rec.recordingId, 'stream1', 'source', 2);
    assert.deepEqual(got.bytes, segment(2).bytes);
    assert.deepEqual(got.headers, segment(2).headers);
  });

  it('deletes the oldest ended recording first, whole, when over --recording-bytes, and logs each deletion', async () => {
    const { r, dir, lines } = make({ maxBytes: 10_000 });
    for (let seq = 0; seq < 4; seq++) r.add('old', 'source', segment(seq, 2_000), variants, 2);
    r.end('old');
    await r.idle();
    const oldId = r.list('old')[0]!.recordingId;
    for (let seq = 0; seq < 4; seq++) r.add('new', 'source', segment(seq, 2_000), variants, 2);
    await r.idle();
    assert.deepEqual(r.list().map((x) => x.playbackId), ['new']);
    assert.ok(r.bytes <= 10_000);
    assert.ok(!existsSync(join(dir, oldId)), 'its files are gone');
    const deletion = lines.find((l) => l.recordingId === oldId && /recording deleted/.test(l.msg));
    assert.ok(deletion, 'a log line names the deleted recording');
    assert.match(deletion.msg, /--recording-bytes 10000/);
    assert.throws(() => r.vodMaster(oldId), { code: 'NOT_FOUND' });
  });

  it('with only a live recording left, trims its oldest segments to stay within --recording-bytes', async () => {
    const { r, lines } = make({ maxBytes: 5_000 });
    for (let seq = 0; seq < 5; seq++) r.add('live', 'source', segment(seq, 2_000), variants, 2);
    await r.idle();
    const rec = r.list()[0]!;
    assert.equal(rec.bytes, 4_000);
    const media = parse(r.vodMedia(rec.recordingId, 'source').toString()) as types.MediaPlaylist;
    assert.equal(media.mediaSequenceBase, 3);
    assert.equal(lines.filter((l) => /recording segment deleted/.test(l.msg)).length, 3);
  });

  it('keeps at most --max-recordings, deleting the oldest ended one', async () => {
    const { r } = make({ maxRecordings: 2 });
    for (const id of ['a', 'b', 'c']) {
      r.add(id, 'source', segment(0), variants, 2);
      r.end(id);
      await r.idle();
    }
    assert.deepEqual(r.list().map((x) => x.playbackId), ['c', 'b']);
  });

  it('serves the rewind window as a live playlist of the newest --dvr-seconds, without ENDLIST while live', async () => {
    const { r } = make({ dvrSeconds: 6 });
    for (let seq = 0; seq < 10; seq++) r.add('live', 'source', segment(seq, 100, seq === 5), variants, 2);
    await r.idle();
    const text = r.dvrMedia('live', 'source').toString();
    const media = parse(text) as types.MediaPlaylist;
    assert.equal(media.endlist, false);
    assert.equal(media.playlistType, undefined);
    assert.deepEqual(media.segments.map((s) => s.mediaSequenceNumber), [7, 8, 9]);
    assert.match(text, /#EXT-X-DISCONTINUITY-SEQUENCE:1/);
    r.end('live');
    await r.idle();
    assert.match(r.dvrMedia('live', 'source').toString(), /#EXT-X-ENDLIST/);
    assert.throws(() => r.dvrMedia('unknown', 'source'), { code: 'STREAM_NOT_FOUND' });
  });

  it('survives a restart: an open recording is ended at its last segment and still plays', async () => {
    const first = make();
    for (let seq = 0; seq < 3; seq++) first.r.add('s', 'source', segment(seq), variants, 2);
    await first.r.idle();
    await first.r.close();
    const second = make({ dir: first.dir });
    const [rec] = second.r.list();
    assert.equal(rec?.state, 'ended');
    assert.equal(rec.segments, 3);
    assert.match(second.r.vodMedia(rec.recordingId, 'source').toString(), /#EXT-X-ENDLIST/);
    assert.deepEqual((await second.r.segment(rec.recordingId, 's', 'source', 1)).bytes, segment(1).bytes);
  });

  it("keeps the newest publisher-signed playback policy with the recording, across a restart, so a signed stream's recording stays signed after the stream is gone", async () => {
    const publisher = randomIdentity();
    const older = signPlaybackPolicy({ playbackId: 's', mode: 'public', keys: [], issuedAt: 1 }, publisher.privateKey);
    const newer = signPlaybackPolicy({ playbackId: 's', mode: 'signed', keys: [], issuedAt: 2 }, publisher.privateKey);
    const first = make();
    first.r.add('s', 'source', segment(0), variants, 2, newer);
    first.r.add('s', 'source', segment(1), variants, 2, older); // an older document never replaces a newer one
    await first.r.idle();
    const id = first.r.list()[0]!.recordingId;
    assert.equal(first.r.access(id).policy?.policy.mode, 'signed');
    await first.r.close();
    const second = make({ dir: first.dir });
    assert.deepEqual(second.r.access(id), { playbackId: 's', policy: newer });
    assert.equal(second.r.accessOfStream('s').policy?.policy.mode, 'signed');
  });

  it("records a low-latency (CMAF) rendition's whole segments with the init segments they need: EXT-X-MAP where the init changes, .m4s segments, the init's signature headers, across a restart", async () => {
    const { r, dir } = make();
    const initA = { seq: 0, bytes: Buffer.from('init-a'), headers: { 'castnet-init-signature': '0xaa' } };
    const initB = { seq: 3, bytes: Buffer.from('init-bb'), headers: { 'castnet-init-signature': '0xbb' } };
    for (let seq = 0; seq < 5; seq++) {
      r.add('ll', 'source', segment(seq, 1_000, seq === 3), variants, 2, null, seq < 3 ? initA : initB);
      r.add('ll', '240p', segment(seq, 500, seq === 3), variants, 2);
    }
    r.end('ll');
    await r.idle();
    const rec = r.list()[0]!;
    // Two inits (6 + 7 bytes) count in the recording's bytes.
    assert.equal(rec.bytes, 5 * 1_000 + 5 * 500 + 13);
    const text = r.vodMedia(rec.recordingId, 'source').toString();
    const prefix = `/vod/${rec.recordingId}/hls/ll/source/`;
    assert.deepEqual(text.match(/^#EXT-X-MAP:.*$/gm), [`#EXT-X-MAP:URI="${prefix}init-0.mp4"`, `#EXT-X-MAP:URI="${prefix}init-3.mp4"`]);
    assert.deepEqual(text.match(/^\/vod\/.*$/gm)!.map((l) => l.slice(prefix.length)), ['0.m4s', '1.m4s', '2.m4s', '3.m4s', '4.m4s']);
    const media = parse(text) as InstanceType<typeof types.MediaPlaylist>;
    assert.equal(media.segments[3]!.map?.uri, `${prefix}init-3.mp4`);
    // The MPEG-TS rendition beside it is unchanged.
    assert.doesNotMatch(r.vodMedia(rec.recordingId, '240p').toString(), /EXT-X-MAP|\.m4s/);

    const seg = await r.segment(rec.recordingId, 'll', 'source', 1, true);
    assert.equal(seg.bytes.length, 1_000);
    // Asked under the other kind's name, it is not there.
    await assert.rejects(r.segment(rec.recordingId, 'll', 'source', 1, false), { code: 'SEGMENT_NOT_FOUND' });
    await assert.rejects(r.segment(rec.recordingId, 'll', '240p', 1, true), { code: 'SEGMENT_NOT_FOUND' });
    const init = await r.initSegment(rec.recordingId, 'll', 'source', 3);
    assert.equal(init.bytes.toString(), 'init-bb');
    assert.deepEqual(init.headers, initB.headers);
    await assert.rejects(r.initSegment(rec.recordingId, 'll', 'source', 1), { code: 'SEGMENT_NOT_FOUND' });

    // After a restart, the same.
    await r.close();
    const again = make({ dir }).r;
    assert.equal(again.get(rec.recordingId).bytes, rec.bytes);
    assert.equal(again.vodMedia(rec.recordingId, 'source').toString(), text);
    assert.equal((await again.initSegment(rec.recordingId, 'll', 'source', 0)).bytes.toString(), 'init-a');
  });

  it('refuses ids that are not recording ids, traversal and another stream\'s name, never reading outside its directory', async () => {
    const { r, dir } = make();
    r.add('s', 'source', segment(0), variants, 2);
    await r.idle();
    const id = r.list()[0]!.recordingId;
    assert.throws(() => r.vodMaster('..'), { code: 'NOT_FOUND' });
    assert.throws(() => r.vodMaster('../../etc'), { code: 'NOT_FOUND' });
    assert.throws(() => r.vodMedia(id, '../x'), { code: 'NOT_FOUND' });
    await assert.rejects(r.segment(id, 'other', 'source', 0), { code: 'NOT_FOUND' });
    await assert.rejects(r.segment(id, 's', 'source', 2 ** 60), { code: 'SEGMENT_NOT_FOUND' });
    await assert.rejects(r.thumbnail(id), { code: 'NOT_FOUND' });
    assert.deepEqual(readdirSync(dir).sort(), [id, 'recordings.sqlite', 'recordings.sqlite-shm', 'recordings.sqlite-wal'].sort());
  });
});
