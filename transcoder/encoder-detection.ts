// Picks the H.264 encoder a transcoder advertises: h264_nvenc when FFmpeg lists it and a one-frame test
// encode succeeds (a GPU answers), else libx264.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ffmpegBinaries } from '../media/ffmpeg-binaries.ts';
import type { VideoEncoder } from './ladder-command.ts';

const run = promisify(execFile);

export interface EncoderDetection {
  encoder: VideoEncoder;
  reason: string;
}

export async function detectEncoder(preferred: 'auto' | VideoEncoder = 'auto'): Promise<EncoderDetection> {
  if (preferred === 'libx264') return { encoder: 'libx264', reason: 'configured' };
  const ffmpeg = ffmpegBinaries().ffmpeg;
  const { stdout } = await run(ffmpeg, ['-hide_banner', '-encoders']);
  if (!/\bh264_nvenc\b/.test(stdout)) return { encoder: 'libx264', reason: 'ffmpeg has no h264_nvenc' };
  try {
    await run(ffmpeg, ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'color=size=256x256:duration=0.1', '-frames:v', '1', '-c:v', 'h264_nvenc', '-f', 'null', '-'], { timeout: 15_000 });
    return { encoder: 'h264_nvenc', reason: 'test encode succeeded' };
  } catch (err) {
    const detail = String((err as { stderr?: string }).stderr ?? (err as Error).message).trim().split('\n').pop();
    return { encoder: 'libx264', reason: `h264_nvenc test encode failed: ${detail}` };
  }
}
