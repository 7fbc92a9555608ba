// bench/latency: the publisher. It paints each frame itself (frame-painter.ts), writes it as raw video to
// FFmpeg's stdin at 30 fps with 1/30 s of audio on a second pipe, and records the wall-clock time each frame
// number was handed over: that is the frame's capture time, as a camera's would be. FFmpeg encodes as OBS
// does with its low-latency settings (x264 veryfast or a faster preset, zerolatency, 2 s keyframes, CBR) and pushes FLV over
// RTMP, so every server sees the same stream and every frame's glass-to-glass time includes the encoder.
// Runs once a frame: the pictures are painted into one reused buffer, the audio is a precomputed tone.

import { spawn, type ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';
import { ffmpegBinaries } from '../../media/ffmpeg-binaries.ts';
import { createFramePainter } from './frame-painter.ts';

export const PUBLISH_FPS = 30;
const AUDIO_RATE = 48_000;
const AUDIO_SAMPLES_PER_FRAME = AUDIO_RATE / PUBLISH_FPS;
/** Frames FFmpeg may lag behind the clock before the publisher counts itself as failing to keep up. */
const MAX_BACKLOG_FRAMES = 15;
/** How long FFmpeg may take to start (open its inputs, connect over RTMP) and catch up with the frames sent meanwhile. */
const STARTUP_MS = 10_000;
/**
 * Frames written out of a ring of buffers: a queued write keeps a reference to its buffer, and a fresh 1.4 MB
 * buffer a frame costs more than painting it. More than MAX_BACKLOG_FRAMES, so no queued frame is overwritten.
 */
const RING_FRAMES = MAX_BACKLOG_FRAMES + 8;
const STOP_MS = 5_000;

export interface FramePublisherOptions {
  url: string;
  width?: number;
  height?: number;
  videoBitrate?: string;
  /** x264 preset: veryfast as OBS's low-latency profile; ultrafast where the machine must keep real time with little CPU. */
  preset?: 'ultrafast' | 'superfast' | 'veryfast';
}

export interface FramePublisherStats {
  framesSent: number;
  /** How long FFmpeg took to start reading and catch up; -1 until it has. */
  startupMs: number;
  /** Frame slots left out while FFmpeg started (the ring was full); none once it has. */
  startupSkipped: number;
  /** Once caught up, the most frames that were written but not yet read by FFmpeg at once. */
  maxBacklogFrames: number;
  /** Frames written later than their slot by more than one frame interval (the publisher's own event loop was busy). */
  lateFrames: number;
}

export class FramePublisher {
  /** Wall-clock time (Date.now(), ms) at which frame n was handed to the encoder. */
  readonly sentAt: number[] = [];
  readonly stats: FramePublisherStats = { framesSent: 0, startupMs: -1, startupSkipped: 0, maxBacklogFrames: 0, lateFrames: 0 };
  private child: ChildProcess | null = null;
  private timer: NodeJS.Timeout | undefined;
  private stderr = '';
  private exited: Promise<number | null> = Promise.resolve(null);
  private failure: string | null = null;
  private readonly painter;
  private readonly tone: Buffer[];
  private readonly ring: Buffer[];
  private startedAt = 0;
  private readonly options: FramePublisherOptions;

  constructor(options: FramePublisherOptions) {
    this.options = options;
    this.painter = createFramePainter(options.width ?? 1280, options.height ?? 720);
    this.ring = Array.from({ length: RING_FRAMES }, () => Buffer.alloc(this.painter.frameBytes));
    // A 440 Hz tone at -20 dBFS, one buffer per frame slot of a 1 s cycle (48 000 samples hold whole periods).
    this.tone = Array.from({ length: PUBLISH_FPS }, (_, f) => {
      const b = Buffer.alloc(AUDIO_SAMPLES_PER_FRAME * 4);
      for (let i = 0; i < AUDIO_SAMPLES_PER_FRAME; i++) {
        const s = Math.round(3_277 * Math.sin((2 * Math.PI * 440 * (f * AUDIO_SAMPLES_PER_FRAME + i)) / AUDIO_RATE));
        b.writeInt16LE(s, i * 4);
        b.writeInt16LE(s, i * 4 + 2);
      }
      return b;
    });
  }

  /** Why the publisher failed (FFmpeg exited, or could not keep up), or null. */
  get failed(): string | null {
    return this.failure;
  }

  ffmpegArgs(): string[] {
    const { width, height } = this.painter;
    const bitrate = this.options.videoBitrate ?? '3000k';
    return [
      '-hide_banner', '-loglevel', 'error', '-nostdin',
      // Raw inputs need no probing; probing the audio pipe for FFmpeg's default 5 s would hold the video pipe still.
      '-f', 'rawvideo', '-probesize', '32', '-analyzeduration', '0', '-pix_fmt', 'yuv420p', '-video_size', `${width}x${height}`, '-framerate', String(PUBLISH_FPS), '-thread_queue_size', '64', '-i', 'pipe:0',
      '-f', 's16le', '-probesize', '32', '-analyzeduration', '0', '-ar', String(AUDIO_RATE), '-ac', '2', '-thread_queue_size', '64', '-i', 'pipe:3',
      '-map', '0:v', '-map', '1:a',
      '-c:v', 'libx264', '-preset', this.options.preset ?? 'veryfast', '-tune', 'zerolatency', '-profile:v', 'high', '-pix_fmt', 'yuv420p',
      '-g', String(PUBLISH_FPS * 2), '-keyint_min', String(PUBLISH_FPS * 2), '-sc_threshold', '0',
      '-b:v', bitrate, '-maxrate', bitrate, '-bufsize', bitrate,
      '-c:a', 'aac', '-b:a', '128k',
      // Each packet goes out as soon as it is muxed, not when an I/O buffer fills.
      '-flush_packets', '1', '-f', 'flv', this.options.url,
    ];
  }

  start(): void {
    if (this.child) throw new Error('publisher already started');
    const child = spawn(ffmpegBinaries().ffmpeg, this.ffmpegArgs(), { stdio: ['pipe', 'ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4_000)));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    void this.exited.then((code) => {
      if (this.timer !== undefined) this.fail(`ffmpeg exited with ${code}: ${this.stderr.trim().slice(-500)}`);
    });
    // A closed pipe surfaces as EPIPE here; the exit above says why.
    for (const pipe of [child.stdin!, child.stdio[3] as Writable]) pipe.on('error', () => {});
    const startedAt = Date.now();
    this.startedAt = startedAt;
    const interval = 1_000 / PUBLISH_FPS;
    let slot = 0;
    const tick = () => {
      const due = startedAt + slot * interval;
      const now = Date.now();
      if (now - due > interval) this.stats.lateFrames++;
      this.writeFrame(now);
      if (this.failure) return;
      slot++;
      this.timer = setTimeout(tick, Math.max(0, startedAt + slot * interval - Date.now()));
    };
    tick();
  }

  /** Writes the next frame number (the frames written count up with no gap; FFmpeg times them by count). */
  private writeFrame(now: number): void {
    const child = this.child!;
    const video = child.stdin!;
    const audio = child.stdio[3] as Writable;
    const n = this.sentAt.length;
    const backlog = Math.ceil(video.writableLength / this.painter.frameBytes);
    if (this.stats.startupMs < 0) {
      if (backlog === 0 && n > 0) this.stats.startupMs = now - this.startedAt;
      else if (now - this.startedAt > STARTUP_MS) return this.fail(`ffmpeg did not start reading within ${STARTUP_MS} ms: ${this.stderr.trim().slice(-300)}`);
      else if (backlog >= RING_FRAMES - 1) {
        this.stats.startupSkipped++;
        return;
      }
    } else {
      this.stats.maxBacklogFrames = Math.max(this.stats.maxBacklogFrames, backlog);
      if (backlog > MAX_BACKLOG_FRAMES) return this.fail(`ffmpeg fell ${backlog} frames behind real time (the encoder is too slow for this machine now)`);
    }
    const buffer = this.ring[n % RING_FRAMES]!;
    this.painter.paint(n).copy(buffer);
    video.write(buffer);
    audio.write(this.tone[n % PUBLISH_FPS]!);
    this.sentAt.push(now);
    this.stats.framesSent++;
  }

  private fail(reason: string): void {
    this.failure ??= reason;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Stops sending, lets FFmpeg flush and exit (SIGKILL after 5 s). */
  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const child = this.child;
    if (!child) return;
    child.stdin!.end();
    (child.stdio[3] as Writable).end();
    const kill = setTimeout(() => child.kill('SIGKILL'), STOP_MS);
    await this.exited;
    clearTimeout(kill);
  }
}
