// The CMAF cutter on real FFmpeg output: an FLV made at test time as RTMP publishers send it (AAC audio
// starting a frame before the video, 2 s keyframes, 30 fps) cut into parts and segments. What players and
// the relay rely on: every segment's parts add up to its duration, which is its media span (the next
// segment's start minus its own), no part exceeds PART-TARGET, parts are at least 85% of it except the last
// of a segment, and every segment starts with an independent part.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { beforeAll, describe, it } from 'vitest';
import { ffmpegBinaries } from '../media/ffmpeg-binaries.ts';
import { silentLogger } from '../observability/logger.ts';
import { CmafCutter, type CmafPart, type CmafSegment } from './cmaf-cutter.ts';

const run = promisify(execFile);
const PART_TARGET = 0.334;
const FRAME_S = 1 / 30;

/** An FLV of `seconds` s as a live encoder sends it; `videoDelay` s delays the video track against the audio. */
async function flv(seconds: number, videoDelay = 0): Promise<Buffer> {
  const { stdout } = await run(ffmpegBinaries().ffmpeg, [
    '-hide_banner', '-loglevel', 'error', ...(videoDelay ? ['-itsoffset', String(videoDelay)] : []), '-f', 'lavfi', '-i', 'testsrc=size=320x180:rate=30',
    '-f', 'lavfi', '-i', 'sine=sample_rate=48000', '-t', String(seconds), '-map', '0:v', '-map', '1:a',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p', '-g', '60', '-keyint_min', '60', '-sc_threshold', '0',
    '-c:a', 'aac', '-b:a', '64k', '-f', 'flv', 'pipe:1',
  ], { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

async function cut(input: Buffer): Promise<{ parts: CmafPart[]; segments: CmafSegment[] }> {
  const cutter = new CmafCutter({ segmentSeconds: 2, partTargetSeconds: PART_TARGET, logger: silentLogger });
  const parts: CmafPart[] = [];
  const segments: CmafSegment[] = [];
  cutter.on('part', (p) => parts.push(p));
  cutter.on('segment', (s) => segments.push(s));
  const ended = new Promise<void>((resolve) => cutter.on('end', () => resolve()));
  await cutter.start();
  cutter.input.end(input);
  await ended;
  return { parts, segments };
}

function checkCut({ parts, segments }: { parts: CmafPart[]; segments: CmafSegment[] }): void {
  assert.ok(segments.length >= 4, `${segments.length} segments`);
  for (const [i, s] of segments.entries()) {
    const own = parts.filter((p) => p.index === s.index);
    assert.deepEqual(own.map((p) => p.part), own.map((_, j) => j), `segment ${s.index}: parts numbered from 0 without a hole`);
    const sum = own.reduce((t, p) => t + p.duration, 0);
    assert.ok(Math.abs(sum - s.duration) < 1e-6, `segment ${s.index}: parts sum to ${sum}, duration ${s.duration}`);
    assert.equal(own[0]!.independent, true, `segment ${s.index} starts with an independent part`);
    for (const [j, p] of own.entries()) {
      assert.ok(p.duration <= PART_TARGET, `part ${s.index}.${j} lasts ${p.duration} s, above PART-TARGET`);
      if (j < own.length - 1) assert.ok(p.duration >= 0.85 * PART_TARGET, `part ${s.index}.${j} lasts ${p.duration} s, under 85% of PART-TARGET`);
    }
    const next = segments[i + 1];
    // Its duration is its span on the media timeline, to within one frame (the EXTINF players check against).
    if (next) assert.ok(Math.abs(next.start - s.start - s.duration) < FRAME_S / 2, `segment ${s.index}: lasts ${s.duration} s, but the next starts ${next.start - s.start} s later`);
    if (next && i > 0) assert.ok(Math.abs(s.duration - 2) < FRAME_S / 2, `segment ${s.index} lasts ${s.duration} s, not one 2 s GOP`);
  }
}

describe('CMAF cutter', () => {
  let audioFirst: Buffer;
  let videoLate: Buffer;
  beforeAll(async () => {
    [audioFirst, videoLate] = await Promise.all([flv(9), flv(9, 0.1)]);
  });

  it('cuts parts that add up to each segment, within PART-TARGET, from the first segment on', async () => {
    checkCut(await cut(audioFirst));
  });

  it('keeps the first segment whole when the video starts after the audio (its first frame covers the gap)', async () => {
    const result = await cut(videoLate);
    checkCut(result);
    assert.ok(result.parts[0]!.duration <= PART_TARGET);
  });
});
