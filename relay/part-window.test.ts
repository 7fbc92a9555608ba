// A CMAF rendition's parts at the relay, with real parts cut by the broadcaster's CMAF cutter from an FLV
// that FFmpeg makes at test time: a segment whose parts all arrived is listed with them; one that lost a part
// (skipped behind a slow relay at stream start, or refused) is listed whole, never with parts that add up to
// less than its EXTINF (a player would see a hole in the part timeline).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import HLS from 'hls-parser';
import type { MediaPlaylist } from 'hls-parser/types.js';
import { beforeAll, describe, it } from 'vitest';
import { CmafCutter, type CmafPart, type CmafSegment } from '../broadcaster/cmaf-cutter.ts';
import { ffmpegBinaries } from '../media/ffmpeg-binaries.ts';
import { silentLogger } from '../observability/logger.ts';
import { StreamStore } from './stream-store.ts';
import { RENDITION_LAG_SEGMENTS } from '../protocol/segment-metadata.ts';

const run = promisify(execFile);
const PART_TARGET = 0.334;

let init: Buffer;
let parts: CmafPart[] = [];
let segments: CmafSegment[] = [];

beforeAll(async () => {
  const { stdout } = await run(ffmpegBinaries().ffmpeg, [
    '-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=320x180:rate=30', '-f', 'lavfi', '-i', 'sine=sample_rate=48000', '-t', '7',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p', '-g', '60', '-keyint_min', '60', '-sc_threshold', '0', '-c:a', 'aac', '-f', 'flv', 'pipe:1',
  ], { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 });
  const cutter = new CmafCutter({ segmentSeconds: 2, partTargetSeconds: PART_TARGET, logger: silentLogger });
  cutter.on('init', (b) => (init = b));
  cutter.on('part', (p) => parts.push(p));
  cutter.on('segment', (s) => segments.push(s));
  const ended = new Promise<void>((resolve) => cutter.on('end', () => resolve()));
  await cutter.start();
  cutter.input.end(stdout);
  await ended;
});

const signature = `0x${'11'.repeat(65)}`;
const pdt = (i: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, i * 2)).toISOString();

function playlistAfter(skip: (p: CmafPart) => boolean): MediaPlaylist {
  const store = new StreamStore({ playlistSegments: 6, extraSegments: 1, idleMs: 10_000, now: () => 0 });
  store.putInit('p1', 'source', 0, PART_TARGET, init, {});
  for (const s of segments.slice(0, 3)) {
    let hole = false;
    for (const p of parts.filter((q) => q.index === s.index)) {
      // The broadcaster sends no part after a missing one (the relay takes parts in order).
      if (hole || skip(p)) {
        hole = true;
        continue;
      }
      store.putPart('p1', 'source', s.index, p.part, { duration: p.duration, independent: p.independent }, p.bytes, {});
    }
    store.putSegment('p1', 'source', s.index, { duration: s.duration, programDateTime: pdt(s.index), discontinuity: false, signature }, s.bytes);
  }
  return HLS.parse(store.mediaPlaylist('p1', 'source')) as MediaPlaylist;
}

describe('relay part window', () => {
  it('lists a complete segment with its parts when they add up to its EXTINF', () => {
    const playlist = playlistAfter(() => false);
    const listed = playlist.segments.filter((s) => s.uri && s.parts?.length);
    assert.ok(listed.length >= 2);
    for (const s of listed) assert.ok(Math.abs(s.parts.reduce((t, p) => t + p.duration!, 0) - s.duration) < 0.002, `segment ${s.mediaSequenceNumber}`);
  });

  it('lists a segment that lost its last part whole, without parts that fall short of its EXTINF', () => {
    const lastOf = (seq: number) => parts.filter((p) => p.index === seq).length - 1;
    const playlist = playlistAfter((p) => p.index === 2 && p.part === lastOf(2));
    const lost = playlist.segments.find((s) => s.mediaSequenceNumber === 2)!;
    assert.ok(lost.uri, 'the segment itself is listed');
    assert.equal(lost.parts?.length ?? 0, 0, `segment 2 is listed without parts: ${JSON.stringify(lost.parts?.map((p) => p.duration))}`);
    assert.ok(playlist.segments.find((s) => s.mediaSequenceNumber === 1)!.parts.length > 0, 'the segment before it keeps its parts');
  });

  it('lists a segment that lost a part in its middle whole as well', () => {
    const playlist = playlistAfter((p) => p.index === 1 && p.part === 2);
    assert.equal(playlist.segments.find((s) => s.mediaSequenceNumber === 1)!.parts?.length ?? 0, 0);
  });

  it('gives up a lagging rendition\'s open segment as a gap: its parts go, late ones are dropped, its waiters wake', async () => {
    const store = new StreamStore({ playlistSegments: 6, extraSegments: 4, idleMs: 10_000, now: () => 0 });
    for (const r of ['source', '360p']) store.putInit('p1', r, 0, PART_TARGET, init, {});
    const push = (rendition: string, seq: number, from: CmafSegment, partsToo: number) => {
      parts.filter((p) => p.index === from.index).slice(0, partsToo).forEach((p) => store.putPart('p1', rendition, seq, p.part, { duration: p.duration, independent: p.independent }, p.bytes, {}));
    };
    const complete = (rendition: string, seq: number, from: CmafSegment) => store.putSegment('p1', rendition, seq, { duration: from.duration, programDateTime: pdt(seq), discontinuity: false, signature }, from.bytes);
    const first = segments[0]!;
    push('360p', 0, first, Infinity);
    complete('360p', 0, first);
    push('360p', 1, first, 2); // segment 1 of 360p stops after two parts (its transcoder is stuck)
    const waiting = store.waitForPart('p1', '360p', 1, 2, 5_000);
    const held = store.bytesHeld();
    for (let seq = 0; seq <= RENDITION_LAG_SEGMENTS + 1; seq++) {
      push('source', seq, first, Infinity);
      complete('source', seq, first);
    }
    await waiting; // answered with the playlist that lists segment 1 as a gap
    const text = store.mediaPlaylist('p1', '360p');
    HLS.parse(text);
    assert.deepEqual(text.match(/^\d+\.m4s$/gm), ['0.m4s', '1.m4s']);
    assert.match(text, /#EXT-X-GAP\n1\.m4s\n/);
    assert.doesNotMatch(text, /URI="1\.\d+\.m4s"/, 'no part of the given-up segment is listed');
    assert.match(text, /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="2\.0\.m4s"/, 'the hint moves past it');
    const partBytes = (n: number) => parts.filter((p) => p.index === first.index).slice(0, n).reduce((t, p) => t + p.bytes.length, 0);
    const sourceBytes = (RENDITION_LAG_SEGMENTS + 2) * (partBytes(Infinity) + first.bytes.length);
    assert.equal(store.bytesHeld(), held + sourceBytes - partBytes(2), 'its parts\' bytes were given back');
    const lateParts = parts.filter((p) => p.index === first.index);
    assert.equal(store.putPart('p1', '360p', 1, 2, { duration: lateParts[2]!.duration, independent: lateParts[2]!.independent }, lateParts[2]!.bytes, {}), null, 'a late part is dropped');
    assert.equal(complete('360p', 1, first), null, 'and so is the late segment');
    assert.equal(store.mediaPlaylist('p1', '360p'), text, 'the playlist is as it was');
    push('360p', 2, first, 1);
    assert.match(store.mediaPlaylist('p1', '360p'), /URI="2\.0\.m4s"/, 'the next segment\'s parts are taken');
  });
});
