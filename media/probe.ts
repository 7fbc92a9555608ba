// Reads a segment's streams with ffprobe: dimensions, frame rate and the RFC 6381 codec strings HLS needs.

import { fluent } from './ffmpeg-binaries.ts';
import { codecString } from './codec-string.ts';

export interface MediaInfo {
  width: number;
  height: number;
  fps: number;
  videoCodec: string;
  audioCodec: string | null;
  /** RFC 6381, e.g. `avc1.64001f,mp4a.40.2`. */
  codecs: string;
  duration: number;
  /** Bits per second over the whole file. */
  bitrate: number;
  frames: number;
}

function parseRate(rate: string | undefined): number {
  if (!rate) return 0;
  const [num, den] = rate.split('/').map(Number);
  return den ? num! / den : num!;
}

export function probe(path: string): Promise<MediaInfo> {
  return new Promise((resolve, reject) => {
    fluent().ffprobe(path, ['-count_packets'], (err, data) => {
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
