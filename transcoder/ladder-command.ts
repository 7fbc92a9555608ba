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

type EncodeSettings = Pick<LadderJob, 'encoder' | 'copyAudio' | 'sourceFps'>;

/**
 * Progressive transcoding's encoder: no frame held back. x264's defaults (veryfast: a 10-frame rate-control
 * lookahead, 3 B-frames, frame threads) hold about 20 frames before the first comes out, which made every
 * rendition part about 0.65 s later than its source part (measured, stop 23); -tune zerolatency turns all
 * three off (sliced threads instead). NVENC's equivalents: no B-frames, no lookahead, zero output delay.
 */
function lowDelayArgs(job: EncodeSettings): string[] {
  if (job.encoder === 'h264_nvenc') return ['-bf', '0', '-rc-lookahead', '0', '-delay', '0', '-zerolatency', '1'];
  return ['-tune', 'zerolatency'];
}

/** NTSC rates as FFmpeg's exact rationals (the source probe snaps to 29.97, not 30000/1001). */
const NTSC_RATES: ReadonlyMap<number, string> = new Map([[23.976, '24000/1001'], [29.97, '30000/1001'], [59.94, '60000/1001']]);

/**
 * A rendition's frame rate as an FFmpeg -r value: its own when the fps filter brings the source down to it,
 * the source's otherwise. With -vsync passthrough frames are neither repeated nor dropped.
 */
export function outputRate(r: RenditionSpec, job: EncodeSettings): string {
  const rate = job.sourceFps > r.fps + 0.01 || !job.sourceFps ? r.fps : job.sourceFps;
  return NTSC_RATES.get(rate) ?? String(rate);
}

function videoArgs(r: RenditionSpec, job: EncodeSettings): string[] {
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

function audioArgs(r: RenditionSpec, job: EncodeSettings): string[] {
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

/** Progressive transcoding (live-transcode.ts): the source arrives as CMAF on stdin while it is ingested. */
export interface LiveLadderJob extends EncodeSettings {
  renditions: ReadonlyArray<RenditionSpec>;
  /** Input beyond this many seconds is not read: the sender paid for this much. */
  maxSeconds: number;
  /** Each rendition is fragmented at 90% of this (as the broadcaster's CMAF cutter fragments the source). */
  partTargetSeconds: number;
  /**
   * A stand-in continuing parts another transcoder began: rendition i gets an IDR at its frame keyframesAt[i]
   * (0: none), which starts a fragment (frag_keyframe) exactly where the other's last part ended: both
   * number the segment's frames alike and write the same decode times (-vsync passthrough, same input).
   */
  keyframesAt?: ReadonlyArray<number>;
}

/**
 * The same encodes as ladderArgs, from fragmented MP4 on stdin (`pipe:0`) to fragmented MP4 on pipes 3, 4, …
 * (one per rendition, in ladder order), a fragment at every keyframe and every 0.9 × part target, each
 * written as soon as it is complete. FFmpeg restarts the output timeline at 0 in every process (an mp4
 * muxer does, -copyts or not): the transcoder places each fragment on the input's timeline (media/fmp4.ts
 * rebaseFragment), so renditions from any transcoder line up.
 */
export function liveLadderArgs(job: LiveLadderJob): string[] {
  // -fpsprobesize 0: FFmpeg's stream probe otherwise reads 20 video frames to guess the frame rate (an empty
  // moov has no sample table to read it from) before it encodes any, and each segment's first rendition part
  // came out ~0.3 s later than the others (measured, stop 25). Without the probe FFmpeg guesses the rate from
  // the first frames (29.97 for RTMP's millisecond timestamps at 30 fps) and rounded every timestamp to it, so
  // a rendition's parts no longer added up to its segment and the relay listed it without them. So the
  // encoder's time base is 1/90000 (-enc_time_base: every source timestamp, whole milliseconds, passes
  // exactly) and its frame rate is given (-r: what x264 writes in the SPS, the same for every segment of a
  // publication, so inits keep their identity); only a fragment's last sample takes its length from that rate.
  const args = ['-hide_banner', '-loglevel', 'error', '-f', 'mp4', '-fpsprobesize', '0', '-t', job.maxSeconds.toFixed(3), '-i', 'pipe:0'];
  const fragmentUs = String(Math.round(job.partTargetSeconds * 0.9 * 1e6));
  job.renditions.forEach((r, i) => {
    // Frames keep their timestamps (-vsync passthrough; -fps_mode is FFmpeg 5.1+): a constant-rate output
    // would repeat the first frame to fill the B-frame delay before it, making the segment longer than its source.
    args.push('-map', '0:v:0', '-map', '0:a:0?', ...videoArgs(r, job), ...lowDelayArgs(job), ...audioArgs(r, job), '-vsync', 'passthrough', '-enc_time_base:v', '1:90000', '-r', outputRate(r, job));
    const resumeAt = job.keyframesAt?.[i] ?? 0;
    if (resumeAt > 0) args.push('-force_key_frames', `expr:eq(n,${resumeAt})`, '-forced-idr', '1');
    args.push('-f', 'mp4', '-movflags', 'empty_moov+default_base_moof+frag_keyframe', '-frag_duration', fragmentUs, '-flush_packets', '1', `pipe:${3 + i}`);
  });
  return args;
}
