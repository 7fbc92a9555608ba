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
});
