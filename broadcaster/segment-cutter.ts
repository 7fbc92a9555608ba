// Cuts a live FLV stream into MPEG-TS segments at keyframes with FFmpeg stream copy (no re-encode), and
// reports each finished segment with its timing. One FFmpeg process per publication. The segment muxer
// cuts at the first keyframe at or after each multiple of `segmentSeconds`, so segments follow the source's
// keyframes: with OBS's default keyint of 250 frames at 30 fps, every segment lasts 8.33 s. It never cuts
// between keyframes: a segment not starting at a keyframe cannot be decoded on its own (by a transcoder or a
// player joining), so a 20 s keyframe interval makes 20 s segments, every deadline downstream scales with
// the segment's duration, and the pipeline warns the streamer. Relays take segments up to 60 s
// (MAX_TARGET_DURATION_SECONDS): a source needs a keyframe at least once a minute.

import { EventEmitter } from 'node:events';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createInterface } from 'node:readline';
import type { FfmpegCommand } from 'fluent-ffmpeg';
import { fluent } from '../media/ffmpeg-binaries.ts';
import type { Logger } from '../observability/logger.ts';

export interface CutSegment {
  /** Index within this publication, from 0. */
  index: number;
  path: string;
  /** Seconds on the cutter's output timeline. */
  start: number;
  duration: number;
  /** Wall-clock ms when FFmpeg closed the segment: the moment it was complete at ingest. */
  completedAt: number;
}

export interface SegmentCutterEvents {
  segment: [CutSegment];
  error: [Error];
  end: [];
}

export class SegmentCutter extends EventEmitter<SegmentCutterEvents> {
  readonly input = new PassThrough({ highWaterMark: 4 * 1024 * 1024 });
  private command: FfmpegCommand | null = null;
  private readonly dir: string;
  private readonly segmentSeconds: number;
  private readonly logger: Logger;
  closed = false;

  constructor(options: { dir: string; segmentSeconds: number; logger: Logger }) {
    super();
    this.dir = options.dir;
    this.segmentSeconds = options.segmentSeconds;
    this.logger = options.logger;
  }

  async start(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
    await mkdir(this.dir, { recursive: true });
    const command = fluent()(this.input)
      .inputFormat('flv')
      .inputOptions(['-hide_banner', '-loglevel', 'error', '-fflags', '+genpts'])
      .outputOptions([
        '-map', '0:v:0', '-map', '0:a:0?',
        '-c', 'copy',
        '-f', 'segment',
        '-segment_time', String(this.segmentSeconds),
        '-segment_format', 'mpegts',
        '-reset_timestamps', '0',
        '-segment_list', 'pipe:1',
        '-segment_list_type', 'csv',
        '-segment_list_flags', 'live',
      ])
      .output(join(this.dir, '%d.ts'));
    command.on('start', () => {
      const proc = (command as unknown as { ffmpegProc: import('node:child_process').ChildProcess }).ffmpegProc;
      const lines = createInterface({ input: proc.stdout! });
      lines.on('line', (line) => this.onListLine(line));
    });
    command.on('error', (err: Error) => {
      if (!this.closed) {
        this.logger.warn({ err }, 'segment cutter failed');
        this.emit('error', err);
      }
      this.finish();
    });
    command.on('end', () => this.finish());
    this.command = command;
    command.run();
  }

  private onListLine(line: string): void {
    // csv segment list: "<file>,<start>,<end>", written when FFmpeg closes each segment.
    const [file, start, end] = line.split(',');
    if (!file || start === undefined || end === undefined) return;
    const index = Number(file.replace(/\.ts$/, ''));
    const startS = Number(start);
    this.emit('segment', { index, path: join(this.dir, file), start: startS, duration: Number(end) - startS, completedAt: Date.now() });
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('end');
  }

  /** Ends the input; FFmpeg closes the last segment and exits. */
  end(): void {
    this.input.end();
  }

  kill(): void {
    this.closed = true;
    this.command?.kill('SIGKILL');
  }

  static async take(segment: CutSegment): Promise<Buffer> {
    const bytes = await readFile(segment.path);
    await rm(segment.path, { force: true });
    return bytes;
  }
}
