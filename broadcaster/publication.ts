// One RTMP publication of a stream: the FLV it receives, the segment cutter that turns it into MPEG-TS
// segments, the ordered chain that hands them to the stream's pipeline (the first one probed before anything
// is published), and, once it ends, the grace period in which its streamer may reconnect before the stream
// closes. Hot path: the sink runs per RTMP message, the chain per segment.

import { EventEmitter } from 'node:events';
import type { Logger } from '../observability/logger.ts';
import { probeTs } from '../media/ts-probe.ts';
import { FlvWriter } from './flv-writer.ts';
import type { PublishSink } from './rtmp/rtmp-connection.ts';
import { SegmentCutter } from './segment-cutter.ts';
import { CmafCutter } from './cmaf-cutter.ts';
import { remuxCmafToTs } from '../media/cmaf-remux.ts';
import type { StreamPipeline } from './stream-pipeline.ts';
import { systemTimers, type TimerHandle, type Timers } from './timers.ts';

export interface PublicationOptions {
  /** Where the cutter writes its segments (emptied first). */
  dir: string;
  segmentSeconds: number;
  reconnectGraceMs: number;
  /** Low-latency HLS: the source is cut into CMAF parts of this PART-TARGET (cmaf-cutter.ts); null cuts MPEG-TS. */
  partTargetSeconds?: number | null;
}

export interface PublicationComponents {
  pipeline: StreamPipeline;
  /** The cutter's logger (FFmpeg failures). */
  logger: Logger;
  timers?: Timers;
  /** Closes the streamer's connection; called when the cutter dies while the streamer is still sending. */
  disconnect?: (reason: string) => void;
}

export interface PublicationEvents {
  segmentFailed: [{ file: string; err: unknown }];
  cutterFailed: [{ err: unknown }];
  /** The cutter exited while the streamer was still sending: the streamer is disconnected. */
  cutterDied: [];
  /** The streamer stopped and every segment is through the pipeline; the reconnect grace period begins. */
  ended: [{ segments: number }];
  /** Nobody reconnected within the grace period: the stream is over. */
  expired: [];
}

export class Publication extends EventEmitter<PublicationEvents> {
  readonly playbackId: string;
  readonly startedAtWall: number;
  readonly sink: PublishSink;
  private readonly cutter: SegmentCutter | CmafCutter;
  /** The sequence number of this publication's first segment (low latency numbers parts before segments complete). */
  private firstSeq = 0;
  private readonly pipeline: StreamPipeline;
  private readonly timers: Timers;
  private readonly options: PublicationOptions;
  private chain: Promise<void> = Promise.resolve();
  private graceTimer: TimerHandle | null = null;
  private live = true;
  /** Superseded by a newer publication or stopped: its end starts no grace period. */
  private detached = false;
  /** The streamer ended its publish (or its connection closed). */
  private streamerEnded = false;

  constructor(options: PublicationOptions, components: PublicationComponents) {
    super();
    this.options = options;
    this.pipeline = components.pipeline;
    this.playbackId = components.pipeline.playbackId;
    this.timers = components.timers ?? systemTimers;
    this.startedAtWall = this.timers.now();
    if (options.partTargetSeconds) this.cutter = this.cmafCutter(options.partTargetSeconds, components.logger);
    else this.cutter = this.tsCutter(options, components.logger);
    this.cutter.on('error', (err) => this.emit('cutterFailed', { err }));
    this.cutter.on('end', () => {
      // The cutter is gone while the streamer still sends (killed, a full disk): nothing would be cut from
      // here on. The streamer is disconnected, so its encoder reconnects into a fresh publication (marked by
      // a discontinuity) rather than streaming into a playlist that stays frozen.
      if (!this.streamerEnded && !this.detached) {
        this.emit('cutterDied');
        components.disconnect?.('segment cutter exited');
      }
      void this.chain.then(() => this.pipeline.drain()).then(() => this.onCutterEnd());
    });
    const flv = new FlvWriter((chunk) => {
      if (!this.cutter.closed) this.cutter.input.write(chunk);
    });
    this.sink = {
      onMetadata: (data) => flv.metadata(data),
      onAudio: (ts, payload) => flv.audio(ts, payload),
      onVideo: (ts, payload) => flv.video(ts, payload),
      onEnd: () => {
        this.streamerEnded = true;
        this.cutter.end();
      },
    };
  }

  /**
   * Low latency: each CMAF part goes to the pipeline as FFmpeg writes it; each complete segment is remuxed to
   * MPEG-TS (what transcoders and the probe take) and pushed like a cut segment, with its CMAF bytes.
   */
  private cmafCutter(partTargetSeconds: number, logger: Logger): CmafCutter {
    const cutter = new CmafCutter({ segmentSeconds: this.options.segmentSeconds, partTargetSeconds, logger });
    cutter.on('init', (init) => this.pipeline.publishInit(this.firstSeq, init, partTargetSeconds));
    cutter.on('part', (p) => this.pipeline.publishPart(this.firstSeq + p.index, p.part, { duration: p.duration, independent: p.independent }, p.bytes));
    cutter.on('segment', (segment) => {
      const seq = this.firstSeq + segment.index;
      const programDateTime = new Date(this.startedAtWall + segment.start * 1000).toISOString();
      this.pipeline.closeCmafSegment(seq, { duration: segment.duration, programDateTime, completedAt: segment.completedAt }, segment.bytes);
      const ts = remuxCmafToTs(segment.init, segment.bytes);
      ts.catch(() => {}); // reported in order below
      this.chain = this.chain.then(async () => {
        try {
          const bytes = await ts;
          if (!this.pipeline.source) this.pipeline.setSource(probeTs(bytes));
          this.pipeline.push({ bytes, duration: segment.duration, programDateTime, completedAt: segment.completedAt, cmaf: segment.bytes, cmafInit: segment.init }, seq);
        } catch (err) {
          this.emit('segmentFailed', { file: `${seq}.m4s`, err });
        }
      });
    });
    return cutter;
  }

  private tsCutter(options: PublicationOptions, logger: Logger): SegmentCutter {
    const cutter = new SegmentCutter({ dir: options.dir, segmentSeconds: options.segmentSeconds, logger });
    cutter.on('segment', (cut) => {
      // Segments are handled in order: the first one of each publication is probed before anything is published.
      this.chain = this.chain.then(async () => {
        try {
          const bytes = await SegmentCutter.take(cut);
          if (!this.pipeline.source) this.pipeline.setSource(probeTs(bytes));
          this.pipeline.push({
            bytes,
            duration: cut.duration,
            programDateTime: new Date(this.startedAtWall + cut.start * 1000).toISOString(),
            completedAt: cut.completedAt,
          });
        } catch (err) {
          this.emit('segmentFailed', { file: cut.path, err });
        }
      });
    });
    return cutter;
  }

  /** Still receiving from its streamer. */
  get isLive(): boolean {
    return this.live;
  }

  async start(): Promise<void> {
    this.firstSeq = this.pipeline.beginPublication();
    await this.cutter.start();
  }

  /** A new publication of the same stream takes over: this one ends quietly, and its grace period (if running) is cancelled. */
  supersede(): void {
    const wasLive = this.live;
    this.detached = true;
    this.live = false;
    this.timers.clearTimeout(this.graceTimer);
    this.graceTimer = null;
    if (wasLive) this.cutter.end();
  }

  /** The broadcaster stops: FFmpeg is killed, no grace period runs. */
  kill(): void {
    this.detached = true;
    this.live = false;
    this.timers.clearTimeout(this.graceTimer);
    this.graceTimer = null;
    this.cutter.kill();
  }

  private onCutterEnd(): void {
    this.live = false;
    if (this.detached) return;
    this.emit('ended', { segments: this.pipeline.segmentsPublished });
    this.graceTimer = this.timers.setTimeout(() => {
      this.graceTimer = null;
      if (!this.detached) this.emit('expired');
    }, this.options.reconnectGraceMs);
  }
}
