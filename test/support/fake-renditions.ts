// Test support for output verification: sources of varied content cut into segments as the broadcaster
// cuts them (timestamps kept), honest renditions from the transcoder's own code, and every kind of fake a
// malicious transcoder could return at the right resolution and duration — other content, black frames,
// a solid colour, a frozen frame, the honest rendition of another segment of the stream, and absurdly low
// quality. Used by broadcaster/output-verifier.test.ts, the fake-output attack and bench/verify.

import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ffmpegBinaries } from '../../media/ffmpeg-binaries.ts';
import type { RenditionSpec } from '../../protocol/rendition.ts';
import { transcodeSegment } from '../../transcoder/segment-transcoder.ts';

const exec = promisify(execFile);

/** Content with different difficulty for an encoder: motion, detail, noise, flat areas, a static picture. */
export const CONTENT: Record<string, string> = {
  testsrc2: 'testsrc2=size=1280x720:rate=30',
  mandelbrot: 'mandelbrot=size=1280x720:rate=30',
  life: 'life=size=1280x720:rate=30:mold=10:ratio=0.3:death_color=#202020:life_color=#e0e0e0',
  cellauto: 'cellauto=size=1280x720:rate=30:rule=110',
  bars: 'smptehdbars=size=1280x720:rate=30',
  noisy: 'testsrc2=size=1280x720:rate=30,noise=alls=30:allf=t+u',
  pan: 'testsrc=size=2560x720:rate=30,crop=1280:720:x=mod(t*400\\,1280):y=0',
};

export const FAKE_KINDS = ['other-content', 'black', 'solid', 'frozen', 'another-time', 'low-quality'] as const;
export type FakeKind = (typeof FAKE_KINDS)[number];

/** `seconds` of `content` (a lavfi graph) as 2 s H.264/AAC MPEG-TS segments starting at 10 s, in order. */
export async function sourceSegments(content: string, seconds = 6, segmentSeconds = 2): Promise<Buffer[]> {
  const dir = await mkdtemp(join(tmpdir(), 'castnet-corpus-'));
  try {
    const { ffmpeg } = ffmpegBinaries();
    await exec(ffmpeg, ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', content, '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', String(seconds), '-c:v', 'libx264', '-preset', 'veryfast', '-b:v', '6M', '-g', String(30 * segmentSeconds), '-sc_threshold', '0', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-f', 'mpegts', '-output_ts_offset', '10', join(dir, 'long.ts')]);
    await exec(ffmpeg, ['-hide_banner', '-loglevel', 'error', '-y', '-i', join(dir, 'long.ts'), '-c', 'copy', '-f', 'segment', '-segment_time', String(segmentSeconds), '-segment_format', 'mpegts', '-reset_timestamps', '0', join(dir, 'seg%03d.ts')]);
    const names = (await readdir(dir)).filter((n) => n.startsWith('seg')).sort();
    return await Promise.all(names.map((n) => readFile(join(dir, n))));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The transcoder's own output for `spec` (libx264, as an honest CPU node makes it). */
export async function honestRendition(segment: Buffer, spec: RenditionSpec): Promise<Buffer> {
  const [out] = await transcodeSegment({ segment, renditions: [spec], copyAudio: true, sourceFps: 30, context: {} }, 'libx264');
  return out!.bytes;
}

/** The video filter that makes each fake from the source's own frames (so timestamps and duration stay right). */
function fakeFilter(kind: Exclude<FakeKind, 'another-time' | 'other-content'>, spec: RenditionSpec): string {
  const size = `scale=${spec.width}:${spec.height}`;
  switch (kind) {
    case 'black':
      return `${size},drawbox=c=black:t=fill`;
    case 'solid':
      return `${size},drawbox=c=red:t=fill`;
    case 'frozen':
      return `${size},split[a][b];[a][b]freezeframes=first=1:last=100000:replace=0`;
    case 'low-quality':
      return `scale=${Math.max(16, Math.round(spec.width / 16) * 2)}:${Math.max(16, Math.round(spec.height / 16) * 2)},${size}`;
  }
}

/**
 * A fake rendition of `segment` for `spec`: right resolution, duration and timestamps, wrong pictures.
 * `another-time` is the honest rendition of `earlier` (another segment of the stream); `other-content` the
 * honest rendition of `other`, a segment of another stream with the same timestamps.
 */
export async function fakeRendition(kind: FakeKind, segment: Buffer, spec: RenditionSpec, from: { earlier: Buffer; other?: Buffer }): Promise<Buffer> {
  if (kind === 'another-time') return honestRendition(from.earlier, spec);
  if (kind === 'other-content') return from.other ? honestRendition(from.other, spec) : otherContent(segment, spec);
  const dir = await mkdtemp(join(tmpdir(), 'castnet-fake-'));
  try {
    const { ffmpeg } = ffmpegBinaries();
    await writeFile(join(dir, 'in.ts'), segment);
    const bitrate = kind === 'low-quality' ? '40k' : String(spec.videoBitrate);
    const video = ['-filter_complex', `[0:v]${fakeFilter(kind, spec)}[v]`, '-map', '[v]'];
    const args = ['-hide_banner', '-loglevel', 'error', '-y', '-copyts', '-f', 'mpegts', '-i', join(dir, 'in.ts'), ...video, '-map', '0:a:0?', '-c:v', 'libx264', '-preset', 'veryfast', '-b:v', bitrate, '-pix_fmt', 'yuv420p', '-c:a', 'copy', '-f', 'mpegts', '-mpegts_copyts', '1', join(dir, 'out.ts')];
    await exec(ffmpeg, args);
    return await readFile(join(dir, 'out.ts'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Another picture (a Mandelbrot zoom) with the segment's timestamps and duration, read with ffprobe. */
async function otherContent(segment: Buffer, spec: RenditionSpec): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'castnet-fake-'));
  try {
    const { ffmpeg, ffprobe } = ffmpegBinaries();
    await writeFile(join(dir, 'in.ts'), segment);
    const { stdout } = await exec(ffprobe, ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=start_time,duration', '-of', 'csv=p=0', join(dir, 'in.ts')]);
    const [start, duration] = stdout.trim().split(',').map(Number);
    await exec(ffmpeg, ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `mandelbrot=size=${spec.width}x${spec.height}:rate=30`, '-t', String(duration || 2), '-c:v', 'libx264', '-preset', 'veryfast', '-b:v', String(spec.videoBitrate), '-pix_fmt', 'yuv420p', '-f', 'mpegts', '-output_ts_offset', String(start || 0), join(dir, 'out.ts')]);
    return await readFile(join(dir, 'out.ts'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
