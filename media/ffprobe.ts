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

const PROFILE_IDC: Readonly<Record<string, number>> = { 'Constrained Baseline': 66, Baseline: 66, Main: 77, Extended: 88, High: 100, 'High 10': 110, 'High 4:2:2': 122, 'High 4:4:4 Predictive': 244 };

/** Chroma format (chroma_format_idc) and bit depth from an FFmpeg pixel format name, e.g. yuv444p10le → [3, 10]. */
function pixelFormat(pixFmt: string): [chroma: number, bitDepth: number] {
  const chroma = pixFmt.startsWith('gray') ? 0 : pixFmt.includes('444') ? 3 : pixFmt.includes('422') ? 2 : 1;
  return [chroma, Number(/p(\d+)(le|be)$/.exec(pixFmt)?.[1] ?? 8)];
}

export function ffprobe(path: string): Promise<MediaInfo & { pixFmt: string }> {
  return new Promise((resolve, reject) => {
    // '-v error': the static ffprobe of @ffprobe-installer crashes while printing its stream summary.
    fluent().ffprobe(path, ['-v', 'error', '-count_packets'], (err, data) => {
      if (err) return reject(err);
      const video = data.streams.find((s) => s.codec_type === 'video');
      const audio = data.streams.find((s) => s.codec_type === 'audio');
      if (!video) return reject(new Error(`no video stream in ${path}`));
      const duration = Number(data.format.duration ?? 0);
      const size = Number(data.format.size ?? 0);
      const pixFmt = String(video.pix_fmt ?? '');
      const [chromaFormat, bitDepth] = pixelFormat(pixFmt);
      resolve({
        pixFmt,
        profileIdc: PROFILE_IDC[String(video.profile)] ?? 0,
        chromaFormat,
        bitDepth,
        width: video.width ?? 0,
        height: video.height ?? 0,
        fps: parseRate(video.avg_frame_rate) || parseRate(video.r_frame_rate),
        videoCodec: video.codec_name ?? 'unknown',
        audioCodec: audio?.codec_name ?? null,
        codecs: codecString(video, audio),
        duration,
        bitrate: duration > 0 ? Math.round((size * 8) / duration) : 0,
        frames: Number((video as { nb_read_packets?: string }).nb_read_packets ?? 0),
        firstPts: video.start_pts === undefined ? null : Number(video.start_pts),
      });
    });
  });
}
