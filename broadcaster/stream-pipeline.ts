// Everything that happens to one stream's segments after ingest: probe the source once per publication,
// fit the ladder, publish the source rendition to the relay at once, send the segment to the transcoder,
// check what comes back, and publish the renditions. Lives across reconnects with the same stream key, so
// sequence numbers continue and the first segment after a reconnect is marked as a discontinuity.

import { avcCodecString, avcLevelFor } from '../media/codec-string.ts';
import { SOURCE_RENDITION, fitLadder, type RenditionSpec } from '../protocol/rendition.ts';
import type { SegmentMetadata } from '../protocol/segment-metadata.ts';
import type { Assignment, StreamDescriptor, Variant } from '../protocol/stream-record.ts';
import type { Logger } from '../observability/logger.ts';
import type { BroadcasterMetrics } from './metrics.ts';
import { pushDescriptor, pushSegment, requestTranscode } from './node-clients.ts';
import type { PaymentSender } from './payment-sender.ts';
import { probeTs, type MediaInfo } from '../media/ts-probe.ts';
import { checkRendition } from './rendition-check.ts';
import { CastnetError } from '../protocol/errors.ts';
import { outputPixels } from '../protocol/pricing.ts';

/** 402 reasons that fresh ticket parameters cure. */
const STALE_PARAMS = new Set(['expired', 'invalid_params', 'params_revealed', 'replayed_nonce', 'wrong_recipient']);

export interface PipelineSegment {
  bytes: Buffer;
  duration: number;
  programDateTime: string;
  /** Wall-clock ms when the segment was complete at ingest. */
  completedAt: number;
}

export interface StreamPipelineOptions {
  playbackId: string;
  segmentSeconds: number;
  ladderRungs: ReadonlyArray<{ height: number; fps: number; videoBitrate: number; audioBitrate: number }>;
  /** Transcodes waiting beyond this are skipped (their renditions show as gaps) so the stream stays live. */
  maxTranscodeBacklog: number;
  /** Asks the orchestrator for a (new) assignment; `avoid` lists nodes that just failed. */
  reassign: (avoid: string[]) => Promise<Assignment>;
  /** Pays transcoders with tickets; null sends no payment. */
  payments: PaymentSender | null;
  metrics: BroadcasterMetrics;
  logger: Logger;
}

export class StreamPipeline {
  readonly playbackId: string;
  assignment: Assignment | null = null;
  source: MediaInfo | null = null;
  ladder: RenditionSpec[] = [];
  private nextSeq = 0;
  private discontinuityPending = false;
  private sourceChain: Promise<void> = Promise.resolve();
  private transcodeChain: Promise<void> = Promise.resolve();
  private transcodeBacklog = 0;
  private descriptorPushedTo: string | null = null;
  private reassigning: Promise<void> | null = null;
  private readonly options: StreamPipelineOptions;
  private readonly logger: Logger;

  constructor(options: StreamPipelineOptions) {
    this.options = options;
    this.playbackId = options.playbackId;
    this.logger = options.logger.child({ playbackId: options.playbackId });
  }

  get segmentsPublished(): number {
    return this.nextSeq;
  }

  /** A new publication began (first, or after a reconnect). */
  beginPublication(): void {
    this.discontinuityPending = this.nextSeq > 0;
    this.source = null;
  }

  /** The first segment's probe of each publication fixes the ladder and the relay's descriptor. */
  setSource(info: MediaInfo): void {
    this.source = info;
    this.ladder = fitLadder(info, this.options.ladderRungs);
    this.descriptorPushedTo = null;
    this.logger.info({ width: info.width, height: info.height, fps: +info.fps.toFixed(2), codecs: info.codecs, ladder: this.ladder.map((r) => r.name) }, 'source probed');
  }

  descriptor(): StreamDescriptor {
    const info = this.source!;
    const audioCodecs = info.codecs.split(',').filter((c) => c.startsWith('mp4a') || c === 'ac-3');
    const renditionAudio = info.audioCodec === 'aac' ? audioCodecs : info.audioCodec ? ['mp4a.40.2'] : [];
    const variants: Variant[] = [
      { name: SOURCE_RENDITION, width: info.width, height: info.height, bandwidth: Math.max(1, Math.round(info.bitrate * 1.2)), codecs: info.codecs, frameRate: info.fps },
      ...this.ladder.map((r) => {
        const fps = Math.min(r.fps, info.fps || r.fps);
        return {
          name: r.name,
          width: r.width,
          height: r.height,
          bandwidth: Math.round(r.videoBitrate * 1.1 + r.audioBitrate),
          codecs: [avcCodecString('High', avcLevelFor(r.width, r.height, fps)), ...renditionAudio].join(','),
          frameRate: fps,
        };
      }),
    ];
    return { playbackId: this.playbackId, variants, targetDuration: this.options.segmentSeconds };
  }

  /** Takes one ingested segment; returns its sequence number. Never throws: failures are logged and counted. */
  push(segment: PipelineSegment): number {
    const seq = this.nextSeq++;
    const meta: SegmentMetadata = { duration: segment.duration, programDateTime: segment.programDateTime, discontinuity: this.discontinuityPending };
    this.discontinuityPending = false;
    this.options.metrics.segmentsIngested.inc();
    this.sourceChain = this.sourceChain.then(() => this.publish(SOURCE_RENDITION, seq, meta, segment));
    if (this.ladder.length > 0) {
      if (this.transcodeBacklog >= this.options.maxTranscodeBacklog) {
        this.options.metrics.transcodeFailures.inc({ reason: 'backlog' });
        this.logger.warn({ seq, backlog: this.transcodeBacklog }, 'transcode backlog full: segment published as source only');
      } else {
        this.transcodeBacklog++;
        this.transcodeChain = this.transcodeChain.then(() => this.transcode(seq, meta, segment)).finally(() => this.transcodeBacklog--);
      }
    }
    return seq;
  }

  /** Resolves once every segment pushed so far has been published or given up on. */
  async drain(): Promise<void> {
    await Promise.all([this.sourceChain, this.transcodeChain]);
  }

  private async ensureDescriptor(relayUrl: string): Promise<void> {
    if (this.descriptorPushedTo === relayUrl || !this.source) return;
    await pushDescriptor(relayUrl, this.descriptor());
    this.descriptorPushedTo = relayUrl;
  }

  private async publish(rendition: string, seq: number, meta: SegmentMetadata, segment: Pick<PipelineSegment, 'bytes' | 'completedAt'>): Promise<void> {
    const relay = this.assignment?.relay;
    if (!relay) {
      this.options.metrics.publishFailures.inc();
      this.logger.warn({ seq, rendition }, 'no relay assigned: segment dropped');
      return;
    }
    try {
      await this.ensureDescriptor(relay.url);
      await pushSegment(relay.url, this.playbackId, rendition, seq, meta, segment.bytes);
      this.options.metrics.segmentLatency.observe({ rendition }, (Date.now() - segment.completedAt) / 1000);
      this.logger.debug({ seq, rendition, bytes: segment.bytes.length }, 'segment published');
    } catch (err) {
      this.options.metrics.publishFailures.inc();
      this.logger.warn({ seq, rendition, relay: relay.url, err: (err as Error).message }, 'relay push failed');
      this.requestReassignment([relay.url]);
    }
  }

  /** One attempt at one transcoder, with the payment its price needs. */
  private async attempt(transcoderUrl: string, seq: number, meta: SegmentMetadata, segment: PipelineSegment, pixels: bigint, signal: AbortSignal): Promise<Map<string, Buffer>> {
    const payment = this.options.payments ? await this.options.payments.pay(transcoderUrl, pixels) : null;
    // A segment must come back well within a few of its durations or the stream falls behind live.
    const timeoutMs = Math.max(10_000, meta.duration * 4_000);
    const answer = await requestTranscode(
      transcoderUrl,
      segment.bytes,
      { playbackId: this.playbackId, seq, renditions: this.ladder, sourceFps: this.source?.fps || 30, sourceAudio: this.source?.audioCodec ?? 'none' },
      timeoutMs,
      payment?.header,
      signal,
    );
    if (payment) {
      this.options.metrics.ticketsSent.inc(payment.tickets);
      this.options.metrics.expectedValueSent.inc(Number(payment.expectedValue));
    }
    if (answer.paramsSpent) this.options.payments?.invalidate(transcoderUrl);
    return answer.renditions;
  }

  /** One transcoder, retried there once with fresh ticket parameters if it refused stale ones. */
  private async attemptWithFreshParams(url: string, seq: number, meta: SegmentMetadata, segment: PipelineSegment, pixels: bigint, signal: AbortSignal): Promise<Map<string, Buffer>> {
    try {
      return await this.attempt(url, seq, meta, segment, pixels, signal);
    } catch (err) {
      const reason = err instanceof CastnetError && err.code === 'PAYMENT_REQUIRED' ? String(err.context.reason) : null;
      if (!reason) throw err;
      this.options.metrics.paymentsRefused.inc({ reason });
      this.options.payments?.invalidate(url);
      if (!STALE_PARAMS.has(reason)) throw err;
      this.logger.info({ seq, transcoder: url, reason }, 'payment refused for stale ticket parameters: retrying with new ones');
      return await this.attempt(url, seq, meta, segment, pixels, signal);
    }
  }

  /**
   * Sends a segment to the first of `candidates`; when it fails, to the next at once, and when it has not
   * answered by the deadline (twice the segment's duration), to the next as well, keeping whichever
   * answers first. Failed transcoders are reported to the orchestrator.
   */
  private hedged(candidates: string[], seq: number, meta: SegmentMetadata, segment: PipelineSegment, pixels: bigint, failed: Set<string>): Promise<{ renditions: Map<string, Buffer>; transcoder: string } | null> {
    const deadlineMs = Math.max(1_000, meta.duration * 2_000);
    return new Promise((resolve) => {
      let next = 0;
      let running = 0;
      let done = false;
      const controllers: AbortController[] = [];
      const launch = (): void => {
        if (done) return;
        if (next >= candidates.length) {
          if (running === 0) {
            done = true;
            resolve(null);
          }
          return;
        }
        const url = candidates[next++]!;
        const controller = new AbortController();
        controllers.push(controller);
        running++;
        const hedge = setTimeout(() => {
          this.logger.info({ seq, transcoder: url, deadlineMs }, 'transcoder past its deadline: sending the segment to another as well');
          launch();
        }, deadlineMs);
        this.attemptWithFreshParams(url, seq, meta, segment, pixels, controller.signal).then(
          (renditions) => {
            clearTimeout(hedge);
            running--;
            if (done) return;
            done = true;
            for (const c of controllers) if (c !== controller) c.abort();
            resolve({ renditions, transcoder: url });
          },
          (err: Error) => {
            clearTimeout(hedge);
            running--;
            if (done) return;
            const payment = err instanceof CastnetError && err.code === 'PAYMENT_REQUIRED';
            this.options.metrics.transcodeFailures.inc({ reason: payment ? 'payment_refused' : 'transcoder_error' });
            this.logger.warn({ seq, transcoder: url, reason: payment ? err.context.reason : undefined, err: err.message }, 'transcode failed');
            failed.add(url);
            this.requestReassignment([url]);
            launch();
          },
        );
      };
      launch();
    });
  }

  /**
   * Transcodes a segment on the stream's transcoders, rotating which goes first from segment to segment so
   * the work spreads; if every one fails, asks the orchestrator for others and tries once more.
   */
  private async transcodeWithRetry(seq: number, meta: SegmentMetadata, segment: PipelineSegment): Promise<{ renditions: Map<string, Buffer>; transcoder: string; source: MediaInfo } | null> {
    if (!this.assignment?.transcoders.length) {
      this.options.metrics.transcodeFailures.inc({ reason: 'no_transcoder' });
      this.logger.warn({ seq }, 'no transcoder assigned: segment published as source only');
      this.requestReassignment([]);
      return null;
    }
    const info = probeTs(segment.bytes);
    const pixels = outputPixels(this.ladder, info);
    const failed = new Set<string>();
    for (let round = 0; round < 2; round++) {
      const urls = (this.assignment?.transcoders ?? []).map((t) => t.url).filter((u) => !failed.has(u));
      const start = urls.length ? seq % urls.length : 0;
      const rotated = [...urls.slice(start), ...urls.slice(0, start)];
      const result = rotated.length ? await this.hedged(rotated, seq, meta, segment, pixels, failed) : null;
      if (result) return { ...result, source: info };
      if (round === 0) {
        await this.reassignNow([...failed]);
        if ((this.assignment?.transcoders ?? []).every((t) => failed.has(t.url))) break;
      }
    }
    this.logger.warn({ seq }, 'no transcoder could take the segment: published as source only');
    return null;
  }

  private async transcode(seq: number, meta: SegmentMetadata, segment: PipelineSegment): Promise<void> {
    let result;
    try {
      result = await this.transcodeWithRetry(seq, meta, segment);
    } catch (err) {
      this.options.metrics.transcodeFailures.inc({ reason: 'unprobeable' });
      this.logger.warn({ seq, err: (err as Error).message }, 'segment could not be priced: published as source only');
      return;
    }
    if (!result) return;
    const { renditions, transcoder, source } = result;
    const accepted: Array<[string, Buffer]> = [];
    for (const spec of this.ladder) {
      const bytes = renditions.get(spec.name);
      try {
        if (!bytes) throw new Error('rendition missing from the answer');
        checkRendition(bytes, spec, source, { playbackId: this.playbackId, seq, rendition: spec.name });
        accepted.push([spec.name, bytes]);
      } catch (err) {
        this.options.metrics.transcodeFailures.inc({ reason: 'bad_output' });
        this.logger.warn({ seq, rendition: spec.name, transcoder, err: (err as Error).message }, 'transcoder output rejected');
      }
    }
    // A transcoder that returns bad output is reported: the orchestrator counts it against the node, moves
    // this stream elsewhere, and stops assigning it work while its failures are recent.
    if (accepted.length < this.ladder.length) this.requestReassignment([transcoder]);
    for (const [name, bytes] of accepted) await this.publish(name, seq, meta, { bytes, completedAt: segment.completedAt });
  }

  /** Asks for a new assignment at once; returns the transcoder URL it names, if any. */
  private async reassignNow(avoid: string[]): Promise<string | null> {
    try {
      this.assignment = await this.options.reassign(avoid);
      return this.assignment.transcoder?.url ?? null;
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'reassignment failed');
      return null;
    }
  }

  private requestReassignment(avoid: string[]): void {
    if (this.reassigning) return;
    this.reassigning = this.options
      .reassign(avoid)
      .then((assignment) => {
        const changed = assignment.transcoder?.url !== this.assignment?.transcoder?.url || assignment.relay.url !== this.assignment?.relay.url;
        this.assignment = assignment;
        if (changed) this.logger.info({ relay: assignment.relay.url, transcoder: assignment.transcoder?.url ?? null }, 'stream reassigned');
      })
      .catch((err) => this.logger.warn({ err: (err as Error).message }, 'reassignment failed'))
      .finally(() => {
        // At most one reassignment a second, however many segments fail.
        setTimeout(() => (this.reassigning = null), 1_000).unref();
      });
  }
}
