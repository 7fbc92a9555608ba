// Finds the FFmpeg and FFprobe binaries: FFMPEG_PATH/FFPROBE_PATH first, then the system's, then the
// static builds from @ffmpeg-installer/@ffprobe-installer so a fresh `npm install` works without a system FFmpeg.

import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import ffmpeg from 'fluent-ffmpeg';

const require = createRequire(import.meta.url);

function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return null;
}

function fromInstaller(pkg: string): string | null {
  try {
    return (require(pkg) as { path: string }).path;
  } catch {
    return null;
  }
}

export interface FfmpegBinaries {
  ffmpeg: string;
  ffprobe: string;
}

let cached: FfmpegBinaries | undefined;

export function ffmpegBinaries(): FfmpegBinaries {
  if (cached) return cached;
  const ffmpegPath = process.env.FFMPEG_PATH || onPath('ffmpeg') || fromInstaller('@ffmpeg-installer/ffmpeg');
  const ffprobePath = process.env.FFPROBE_PATH || onPath('ffprobe') || fromInstaller('@ffprobe-installer/ffprobe');
  if (!ffmpegPath || !ffprobePath) {
    throw new Error('FFmpeg not found: set FFMPEG_PATH/FFPROBE_PATH, install ffmpeg, or run npm install');
  }
  cached = { ffmpeg: ffmpegPath, ffprobe: ffprobePath };
  ffmpeg.setFfmpegPath(cached.ffmpeg);
  ffmpeg.setFfprobePath(cached.ffprobe);
  return cached;
}

/** fluent-ffmpeg with the binaries above configured. */
export function fluent(): typeof ffmpeg {
  ffmpegBinaries();
  return ffmpeg;
}
