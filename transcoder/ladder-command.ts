// The FFmpeg arguments that turn one source segment into every rendition of a ladder in one process
// (one decode, several encodes). Timestamps are kept (-copyts, -mpegts_copyts) so renditions made from
// consecutive segments, on any transcoder, line up with the source and with each other.

import type { RenditionSpec } from '../protocol/rendition.ts';
import { avcLevelFor } from '../media/codec-string.ts';

export type VideoEncoder = 'libx264' | 'h264_nvenc';

export interface LadderJob {
  input: string;
  renditions: ReadonlyArray<RenditionSpec>;
  /** Output path for each rendition, by name. */
  outputs: Record<string, string>;
  encoder: VideoEncoder;
  /** AAC source audio is copied: no CPU, and no encoder priming gap at every segment boundary. */
  copyAudio: boolean;
  /** Source frame rate; a rendition above it keeps the source's rate. */
  sourceFps: number;
}

function videoArgs(r: RenditionSpec, job: LadderJob): string[] {
  const filters = [`scale=${r.width}:${r.height}`];
  if (job.sourceFps > r.fps + 0.01) filters.push(`fps=${r.fps}`);
  const fps = Math.min(r.fps, job.sourceFps || r.fps);
  const level = avcLevelFor(r.width, r.height, fps);
  const common = [
    '-vf', filters.join(','),
    '-b:v', String(r.videoBitrate),
    '-maxrate', String(Math.round(r.videoBitrate * 1.1)),
    '-bufsize', String(r.videoBitrate * 2),
    '-g', String(Math.round(fps * 2)),
    '-pix_fmt', 'yuv420p',
    '-profile:v', 'high',
    '-level:v', (level / 10).toFixed(1),
  ];
  if (job.encoder === 'h264_nvenc') return ['-c:v', 'h264_nvenc', '-preset', 'p4', ...common];
  return ['-c:v', 'libx264', '-preset', 'veryfast', '-sc_threshold', '0', ...common];
}

function audioArgs(r: RenditionSpec, job: LadderJob): string[] {
  if (job.copyAudio) return ['-c:a', 'copy'];
  return ['-c:a', 'aac', '-b:a', String(r.audioBitrate), '-ac', '2'];
}

export function ladderInputArgs(): string[] {
  return ['-hide_banner', '-loglevel', 'error', '-copyts', '-f', 'mpegts'];
}

export function ladderOutputArgs(job: LadderJob, r: RenditionSpec): string[] {
  return ['-map', '0:v:0', '-map', '0:a:0?', ...videoArgs(r, job), ...audioArgs(r, job), '-f', 'mpegts', '-mpegts_copyts', '1'];
}

/** The whole command line as bare FFmpeg would take it (used by the benchmark's baseline and by logs). */
export function ladderArgs(job: LadderJob): string[] {
  const args = ['-y', ...ladderInputArgs(), '-i', job.input];
  for (const r of job.renditions) args.push(...ladderOutputArgs(job, r), job.outputs[r.name]!);
  return args;
}
