// Reads a file's streams with ffprobe. Tests and benchmarks use it as the outside reference that checks
// what Castnet produces; nodes themselves use ts-probe.ts and spawn nothing.

import { fluent } from './ffmpeg-binaries.ts';
import { codecString } from './codec-string.ts';
import type { MediaInfo } from './ts-probe.ts';


function parseRate(rate: string | undefined): number {
  if (!rate) return 0;
  const [num, den] = rate.split('/').map(Number);
  return den ? num! / den : num!;
}

export function ffprobe(path: string): Promise<MediaInfo> {
  return new Promise((resolve, reject) => {
    // '-v error': the static ffprobe of @ffprobe-installer crashes while printing its stream summary.
    fluent().ffprobe(path, ['-v', 'error', '-count_packets'], (err, data) => {
      if (err) return reject(err);
      const video = data.streams.find((s) => s.codec_type === 'video');
      const audio = data.streams.find((s) => s.codec_type === 'audio');
      if (!video) return reject(new Error(`no video stream in ${path}`));
      const duration = Number(data.format.duration ?? 0);
      const size = Number(data.format.size ?? 0);
      resolve({
        width: video.width ?? 0,
        height: video.height ?? 0,
        fps: parseRate(video.avg_frame_rate) || parseRate(video.r_frame_rate),
        videoCodec: video.codec_name ?? 'unknown',
        audioCodec: audio?.codec_name ?? null,
        codecs: codecString(video, audio),
        duration,
        bitrate: duration > 0 ? Math.round((size * 8) / duration) : 0,
        frames: Number((video as { nb_read_packets?: string }).nb_read_packets ?? 0),
      });
    });
  });
}
