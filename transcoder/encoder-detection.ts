// Picks the H.264 encoder a transcoder advertises: h264_nvenc when FFmpeg lists it and a one-frame test
// encode succeeds (a GPU answers), else libx264. It runs at start, so it is also the transcoder's check
// that FFmpeg runs at all: a node that cannot encode refuses to start and says why.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ffmpegBinaries } from '../media/ffmpeg-binaries.ts';
import { CastnetError } from '../protocol/errors.ts';
import type { VideoEncoder } from './ladder-command.ts';

const run = promisify(execFile);

/** `ffmpeg -encoders` answers in well under a second; a hung binary must not hold the start. */
const LIST_TIMEOUT_MS = 10_000;

export interface EncoderDetection {
  encoder: VideoEncoder;
  reason: string;
}

export async function detectEncoder(preferred: 'auto' | VideoEncoder = 'auto', ffmpeg = ffmpegBinaries().ffmpeg): Promise<EncoderDetection> {
  let encoders: string;
  try {
    encoders = (await run(ffmpeg, ['-hide_banner', '-encoders'], { timeout: LIST_TIMEOUT_MS })).stdout;
  } catch (err) {
    const detail = String((err as { stderr?: string }).stderr || (err as Error).message).trim().split('\n')[0];
    throw new CastnetError('UNAVAILABLE', `FFmpeg at ${ffmpeg} does not run (${detail}): set FFMPEG_PATH or install FFmpeg`);
  }
  const libx264 = /\blibx264\b/.test(encoders);
  const noX264 = () => new CastnetError('UNAVAILABLE', `FFmpeg at ${ffmpeg} has no libx264 encoder: install an FFmpeg built with it (Debian's ffmpeg is), or set FFMPEG_PATH`);
  if (preferred === 'libx264') {
    if (!libx264) throw noX264();
    return { encoder: 'libx264', reason: 'configured' };
  }
  if (!/\bh264_nvenc\b/.test(encoders)) {
    if (!libx264) throw noX264();
    return { encoder: 'libx264', reason: 'ffmpeg has no h264_nvenc' };
  }
  try {
    await run(ffmpeg, ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'color=size=256x256:duration=0.1', '-frames:v', '1', '-c:v', 'h264_nvenc', '-f', 'null', '-'], { timeout: 15_000 });
    return { encoder: 'h264_nvenc', reason: 'test encode succeeded' };
  } catch (err) {
    const detail = String((err as { stderr?: string }).stderr ?? (err as Error).message).trim().split('\n').pop();
    if (!libx264) throw noX264();
    return { encoder: 'libx264', reason: `h264_nvenc test encode failed: ${detail}` };
  }
}
