// Turns a live FLV stream into CMAF for low-latency HLS: FFmpeg stream copy writes fragmented MP4 to a pipe
// (`empty_moov+default_base_moof+frag_keyframe`, a fragment every 0.9 × PART-TARGET and at every keyframe),
// media/fmp4.ts splits it into the init segment and fragments, and this groups the fragments into parts and
// segments: each fragment is one part, announced the moment FFmpeg writes it, and a segment closes at the
// first keyframe at or after each multiple of `segmentSeconds` (as the MPEG-TS cutter does, segment-cutter.ts),
// so segments stay whole GOPs that a transcoder or a joining player decodes on their own. Parts never exceed
// PART-TARGET: FFmpeg cuts at 90% of it, so a part is a whole number of frames just under the target; the last
// part before a keyframe is shorter (allowed for the last part of a segment). A keyframe interval that is not a
// multiple of the part duration and shorter than the segment makes short parts inside segments: stream with a
// keyframe interval equal to the segment duration (OBS: 2 s). One FFmpeg process per publication.
// Hot path: per fragment (a few per second).

import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { ffmpegBinaries } from '../media/ffmpeg-binaries.ts';
import { Fmp4Splitter, fragmentTimingOrNull, parseInit, type Fmp4Track } from '../media/fmp4.ts';
import type { Logger } from '../observability/logger.ts';

/** FFmpeg cuts a fragment once it reaches this share of PART-TARGET, so whole frames stay under the target. */
const FRAGMENT_SHARE = 0.9;
/** Parts shorter than this share of PART-TARGET may only end a segment (RFC 8216bis §4.4.4.9). */
const SHORT_PART_SHARE = 0.85;
/** A keyframe this close before a segment boundary counts as on it (timestamps in milliseconds from FLV). */
const BOUNDARY_SLACK_S = 0.01;

export interface CmafPart {
  /** Segment index within this publication, from 0. */
  index: number;
  part: number;
  duration: number;
  independent: boolean;
  bytes: Buffer;
}

export interface CmafSegment {
  index: number;
  /** Seconds from the publication's first frame. */
  start: number;
  duration: number;
  /** The segment's fragments (its parts, concatenated); playable after the init segment. */
  bytes: Buffer;
  init: Buffer;
  /** Wall-clock ms when its last part was complete at ingest. */
  completedAt: number;
}

export interface CmafCutterEvents {
  init: [Buffer];
  part: [CmafPart];
  segment: [CmafSegment];
  error: [Error];
  end: [];
}

export class CmafCutter extends EventEmitter<CmafCutterEvents> {
  readonly input = new PassThrough({ highWaterMark: 4 * 1024 * 1024 });
  private proc: ChildProcess | null = null;
  private readonly segmentSeconds: number;
  private readonly partTarget: number;
  private readonly logger: Logger;
  private tracks: Fmp4Track[] = [];
  private init: Buffer | null = null;
  private firstStart: number | null = null;
  private index = 0;
  private segStart = 0;
  private parts: Array<{ duration: number; bytes: Buffer }> = [];
  /**
   * Fragments FFmpeg wrote with no video samples (audio that arrived before the first video frame, or while
   * video stalls): they ride at the front of the next part, so no part is timed by audio. At the end of the
   * input there is no next part: the few ms of audio after the last frame are dropped.
   */
  private carried: Buffer[] = [];
  closed = false;

  constructor(options: { segmentSeconds: number; partTargetSeconds: number; logger: Logger }) {
    super();
    this.segmentSeconds = options.segmentSeconds;
    this.partTarget = options.partTargetSeconds;
    this.logger = options.logger;
  }

  async start(): Promise<void> {
    const fragmentUs = Math.floor(this.partTarget * FRAGMENT_SHARE * 1_000_000);
    const proc = spawn(ffmpegBinaries().ffmpeg, [
      '-hide_banner', '-loglevel', 'error', '-fflags', '+genpts', '-f', 'flv', '-i', 'pipe:0',
      '-map', '0:v:0', '-map', '0:a:0?', '-c', 'copy',
      '-f', 'mp4', '-movflags', 'empty_moov+default_base_moof+frag_keyframe', '-frag_duration', String(fragmentUs), '-flush_packets', '1',
      'pipe:1',
    ], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc = proc;
    const splitter = new Fmp4Splitter({ init: (init) => this.onInit(init), fragment: (f) => this.onFragment(f) });
    proc.stdout!.on('data', (chunk: Buffer) => {
      try {
        splitter.push(chunk);
      } catch (err) {
        this.fail(err as Error);
      }
    });
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => {
      if (stderr.length < 4_000) stderr += d.toString();
    });
    proc.stdin!.on('error', () => {}); // FFmpeg gone: its exit is reported below
    this.input.pipe(proc.stdin!);
    proc.on('error', (err) => this.fail(err));
    proc.on('close', (code, signal) => {
      if (!this.closed && code !== 0 && signal !== 'SIGKILL') this.fail(new Error(`FFmpeg (CMAF cutter) exited with ${code ?? signal}: ${stderr.trim()}`));
      this.flush();
      this.finish();
    });
  }

  private fail(err: Error): void {
    if (this.closed) return;
    this.logger.warn({ err }, 'CMAF cutter failed');
    this.emit('error', err);
    this.proc?.kill('SIGKILL');
  }

  private onInit(init: Buffer): void {
    this.tracks = parseInit(init);
    this.init = init;
    this.emit('init', init);
  }

  private onFragment(fragment: Buffer): void {
    const timing = fragmentTimingOrNull(fragment, this.tracks);
    if (!timing) {
      this.carried.push(fragment);
      return;
    }
    const bytes = this.carried.length > 0 ? Buffer.concat([...this.carried, fragment]) : fragment;
    this.carried = [];
    this.firstStart ??= timing.start;
    const at = timing.start - this.firstStart;
    if (this.parts.length > 0 && timing.independent && at + BOUNDARY_SLACK_S >= (this.index + 1) * this.segmentSeconds) {
      this.closeSegment();
      this.index++;
      this.segStart = at;
    }
    if (this.parts.length === 0) this.segStart = at;
    // Rounding of the source's timestamps may put a part a hair over its frames' duration; never over the target.
    const duration = Math.min(timing.duration, this.partTarget);
    this.emit('part', { index: this.index, part: this.parts.length, duration, independent: timing.independent, bytes });
    this.parts.push({ duration, bytes });
    // A part cut short was cut by a keyframe: when that keyframe lies on the segment boundary, the segment is
    // complete now, not when the next part arrives a part's duration later; a short part followed by a
    // preload hint would break the 85% rule for players meanwhile.
    if (duration < SHORT_PART_SHARE * this.partTarget && at + timing.duration + BOUNDARY_SLACK_S >= (this.index + 1) * this.segmentSeconds) {
      this.closeSegment();
      this.index++;
    }
  }

  private closeSegment(): void {
    if (this.parts.length === 0 || !this.init) return;
    const duration = this.parts.reduce((sum, p) => sum + p.duration, 0);
    this.emit('segment', { index: this.index, start: this.segStart, duration, bytes: Buffer.concat(this.parts.map((p) => p.bytes)), init: this.init, completedAt: Date.now() });
    this.parts = [];
  }

  private flush(): void {
    if (!this.closed) this.closeSegment();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('end');
  }

  /** Ends the input; FFmpeg writes the last fragment, the last segment closes, and it exits. */
  end(): void {
    this.input.end();
  }

  kill(): void {
    this.closed = true;
    this.proc?.kill('SIGKILL');
  }
}
