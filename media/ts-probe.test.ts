// ts-probe against ffprobe (the outside reference) on segments FFmpeg makes at test time.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, it } from 'vitest';
import { ffmpegBinaries } from './ffmpeg-binaries.ts';
import { ffprobe } from './ffprobe.ts';
import { probeTs } from './ts-probe.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'castnet-ts-probe-'));

async function segment(name: string, video: string, extra: string[]): Promise<string> {
  const file = join(dir, `${name}.ts`);
  await run(ffmpegBinaries().ffmpeg, ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', video, '-f', 'lavfi', '-i', 'sine=sample_rate=48000', '-t', '2', ...extra, '-f', 'mpegts', file]);
  return file;
}

describe('MPEG-TS probe', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const [name, video, extra] of [
    ['high-720p30', 'testsrc=size=1280x720:rate=30', ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-profile:v', 'high', '-c:a', 'aac']],
    ['main-854x480-cropped-25fps', 'testsrc=size=854x480:rate=25', ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-profile:v', 'main', '-c:a', 'aac']],
    ['baseline-no-audio', 'testsrc=size=640x360:rate=30', ['-map', '0:v', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-profile:v', 'baseline']],
  ] as const) {
    it(`agrees with ffprobe on ${name}`, async () => {
      const file = await segment(name, video, [...extra]);
      const ours = probeTs(readFileSync(file));
      const theirs = await ffprobe(file);
      assert.deepEqual([ours.width, ours.height, ours.fps, ours.audioCodec, ours.frames], [theirs.width, theirs.height, theirs.fps, theirs.audioCodec, theirs.frames]);
      // ffprobe's profile names lose the constraint flags; ours come from the SPS bytes themselves.
      assert.equal(ours.codecs.split(',')[0]!.slice(0, 7), theirs.codecs.split(',')[0]!.slice(0, 7));
      assert.equal(ours.codecs.split(',')[0]!.slice(-2), theirs.codecs.split(',')[0]!.slice(-2));
      assert.equal(ours.codecs.split(',')[1], theirs.codecs.split(',')[1]);
    });
  }

  for (const [name, pixFmt, profile, expected] of [
    ['high444', 'yuv444p', 'high444', [244, 3, 8]],
    ['high422', 'yuv422p', 'high422', [122, 2, 8]],
    ['high10', 'yuv420p10le', 'high10', [110, 1, 10]],
  ] as const) {
    it(`reads profile, chroma format and bit depth from the SPS of ${name}, as ffprobe does`, async () => {
      const file = await segment(name, 'testsrc=size=320x240:rate=30', ['-map', '0:v', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', pixFmt, '-profile:v', profile]);
      const ours = probeTs(readFileSync(file));
      const theirs = await ffprobe(file);
      assert.deepEqual([ours.profileIdc, ours.chromaFormat, ours.bitDepth], expected);
      assert.deepEqual([theirs.profileIdc, theirs.chromaFormat, theirs.bitDepth], expected);
      assert.deepEqual([ours.width, ours.height], [320, 240]);
    });
  }

  it('reads 30 fps from a 30 fps segment with a frame dropped (an odd interval does not move the rate)', async () => {
    const file = await segment('dropped-frame', 'testsrc=size=320x240:rate=30', ['-map', '0:v', '-vf', 'select=not(eq(n\\,10))', '-fps_mode', 'passthrough', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p']);
    const ours = probeTs(readFileSync(file));
    const theirs = await ffprobe(file);
    assert.equal(theirs.frames, 59, 'the segment lacks one of its 60 frames');
    assert.equal(ours.frames, 59);
    assert.equal(ours.fps, 30);
    assert.ok(Math.abs(ours.duration - 2) < 0.001, `lasts ${ours.duration} s`);
  });

  it('prices crafted timestamps at no fewer frames than the segment has: odd intervals cannot lower the rate', async () => {
    // 31 frames 50 ms apart, then 29 frames 1 ms apart: the median interval alone would say 20 fps.
    const file = await segment('crafted-intervals', 'testsrc=size=320x240:rate=30', ['-map', '0:v', '-vf', "setpts='if(lt(N,31),N*0.05,1.5+(N-30)*0.001)/TB'", '-fps_mode', 'passthrough', '-frames:v', '60', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p']);
    const ours = probeTs(readFileSync(file));
    assert.equal(ours.frames, 60);
    assert.ok(ours.fps * ours.duration >= 59.5, `${ours.fps} fps × ${ours.duration} s is under the 60 frames sent`);
  });

  it('refuses a segment without H.264 video', () => {
    const pat = Buffer.alloc(188, 0xff);
    pat[0] = 0x47;
    assert.throws(() => probeTs(pat), { code: 'INVALID_SEGMENT', message: 'segment has no H.264 video stream' });
  });
});
