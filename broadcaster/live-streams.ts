// The streams this broadcaster carries, by playback id. A stream lives from its first publish until its
// reconnect grace runs out: one StreamSession (its assignment), one StreamPipeline (its segments), and the
// Publication of whoever streams to it now; a new publish of a live stream takes over from the old one.

import { EventEmitter } from 'node:events';
import { signPlaybackPolicy } from '../protocol/playback-policy.ts';
import { join } from 'node:path';
import type { Logger } from '../observability/logger.ts';
import { CastnetError } from '../protocol/errors.ts';
import { meterPipeline, type BroadcasterMetrics } from './metrics.ts';
import type { RelayClient, TranscoderClient } from './node-clients.ts';
import type { PaymentSender } from './payment-sender.ts';
import { Publication } from './publication.ts';
import { SequenceReservations } from './sequence-reservations.ts';
import type { PublishSink } from './rtmp/rtmp-connection.ts';
import { logPipeline, logPublication, logSession } from './stream-log.ts';
import { StreamPipeline } from './stream-pipeline.ts';
import { DEFAULT_VERIFY_RATE, OutputVerifier, VERIFY_FIRST_SEGMENTS } from './output-verifier.ts';
import { StreamSession, type SessionOrchestrator } from './stream-session.ts';
import type { Timers } from './timers.ts';
import type { Identity } from '../protocol/identity.ts';
import type { DeliveryTerms } from '../protocol/stream-record.ts';
import type { StreamSettings } from './stream-keys.ts';

export interface LiveStreamsOptions {
  /** How the orchestrator lists this broadcaster (its RTMP address). */
  broadcaster: string;
  /** Publications cut their segments under `<dataDir>/segments/`. */
  dataDir: string;
  segmentSeconds: number;
  /** Low-latency HLS (CMAF parts of `partTarget` seconds) rather than MPEG-TS segments only. */
  lowLatency?: boolean;
  partTarget?: number;
  /** With lowLatency: CMAF renditions, transcoded progressively (stream-pipeline.ts); default true. */
  progressiveTranscode?: boolean;
  ladderRungs: ReadonlyArray<{ height: number; fps: number; videoBitrate: number; audioBitrate: number }>;
  maxTranscodeBacklog: number;
  reconnectGraceMs: number;
  sessionRefreshMs: number;
  maxPricePerPixel: bigint;
  /** Transcoders with one of these encoders only; empty: any. */
  transcoderEncoders?: ReadonlyArray<string>;
  /** Output verification (output-verifier.ts): first segments per new transcoder, then this share. */
  verifyFirst?: number;
  verifyRate?: number;
  /** Paid delivery terms of every stream; null: relays are not paid. */
  delivery?: () => DeliveryTerms | null;
  /** Where sequence numbers are reserved across stream ends and restarts; null: in memory only. */
  sequencesFile?: string | null;
}

export interface LiveStreamsComponents {
  orchestrator: SessionOrchestrator;
  /** Each stream's publisher key (protocol/content-signature.ts publisherPrivateKey). */
  publisherOf: (playbackId: string) => Identity;
  /** What the stream's key says (webhooks), read when its session is made; defaults when not given. */
  settingsOf?: (playbackId: string) => StreamSettings;
  payments: PaymentSender | null;
  transcoders: TranscoderClient;
  relays: RelayClient;
  timers: Timers;
  metrics: BroadcasterMetrics;
  logger: Logger;
}

interface Stream {
  session: StreamSession;
  pipeline: StreamPipeline;
  publication: Publication | null;
  log: Logger;
}

export interface LiveStreamsEvents {
  /** A stream's first publish: its pipeline and session exist from now until `closed` (consoles subscribe here). */
  opened: [{ playbackId: string; pipeline: StreamPipeline; session: StreamSession }];
  /** A streamer stopped and its segments are through: the reconnect grace begins. */
  waiting: [{ playbackId: string }];
  /** The grace ran out: the stream is over at the orchestrator and its relay has been told. */
  closed: [{ playbackId: string }];
}

export class LiveStreams extends EventEmitter<LiveStreamsEvents> {
  private readonly streams = new Map<string, Stream>();
  private readonly sequences: SequenceReservations;
  private readonly options: LiveStreamsOptions;
  private readonly components: LiveStreamsComponents;

  constructor(options: LiveStreamsOptions, components: LiveStreamsComponents) {
    super();
    this.options = options;
    this.components = components;
    this.sequences = new SequenceReservations(options.sequencesFile === undefined ? join(options.dataDir, 'sequences.json') : options.sequencesFile);
  }

  get pipelines(): ReadonlyMap<string, StreamPipeline> {
    return new Map([...this.streams].map(([id, s]) => [id, s.pipeline]));
  }

  /** Publications receiving from their streamer now. */
  get livePublications(): number {
    return [...this.streams.values()].filter((s) => s.publication?.isLive).length;
  }

  /**
   * Starts a publication of `playbackId` (a first publish, a reconnect, or a takeover). The session is
   * opened before the publish is accepted: a stream with nowhere to go is refused, not silently dropped.
   */
  async publish(playbackId: string, remote: string | undefined, disconnect?: (reason: string) => void): Promise<PublishSink> {
    const { metrics, timers } = this.components;
    const existing = this.streams.get(playbackId);
    const stream = existing ?? this.create(playbackId);
    try {
      await stream.session.open();
    } catch (err) {
      metrics.publishRefused.inc({ reason: 'no_session' });
      throw new CastnetError('NO_NODE_AVAILABLE', `cannot open a session: ${(err as Error).message}`, { playbackId }, { cause: err });
    }
    this.streams.set(playbackId, stream);
    if (!existing) this.emit('opened', { playbackId, pipeline: stream.pipeline, session: stream.session });
    if (stream.publication?.isLive) stream.log.warn('stream key published again while live: the new connection takes over');
    stream.publication?.supersede();
    const publication = new Publication(
      { dir: join(this.options.dataDir, 'segments', `${playbackId}-${timers.now()}`), segmentSeconds: this.options.segmentSeconds, reconnectGraceMs: this.options.reconnectGraceMs, partTargetSeconds: this.options.lowLatency ? (this.options.partTarget ?? 0.334) : null },
      { pipeline: stream.pipeline, logger: stream.log, timers, ...(disconnect ? { disconnect } : {}) },
    );
    stream.publication = publication;
    logPublication(publication, stream.log);
    publication.on('cutterDied', () => metrics.cutterDied.inc());
    publication.on('ended', () => {
      this.countLive();
      this.emit('waiting', { playbackId });
    });
    publication.on('expired', () => void this.end(stream));
    await publication.start();
    stream.session.describe({ startedAt: publication.startedAtWall });
    this.countLive();
    const assignment = stream.session.assignment;
    stream.log.info({ remote, relay: assignment?.relay.url, transcoder: assignment?.transcoder?.url ?? null }, 'publish started');
    return publication.sink;
  }

  /** The broadcaster stops: cutters are killed and sessions left to lapse at the orchestrator. */
  stop(): void {
    for (const stream of this.streams.values()) {
      stream.publication?.kill();
      stream.session.abandon();
    }
  }

  private create(playbackId: string): Stream {
    const { orchestrator, payments, transcoders, relays, timers, metrics, logger } = this.components;
    const o = this.options;
    const log = logger.child({ playbackId });
    const publisher = this.components.publisherOf(playbackId);
    const settings = this.components.settingsOf?.(playbackId);
    // Always a signed document, public ones too: an edge that sees the publisher's `public` knows no relay removed a `signed`.
    const playbackPolicy = signPlaybackPolicy({ playbackId, mode: settings?.playback.mode ?? 'public', keys: settings?.playback.keys ?? [], issuedAt: Date.now() }, publisher.privateKey);
    const session = new StreamSession({ playbackPolicy, playbackId, broadcaster: o.broadcaster, maxPricePerPixel: o.maxPricePerPixel, encoders: o.transcoderEncoders ?? [], refreshMs: o.sessionRefreshMs, publisher: publisher.address, ...(o.delivery ? { delivery: o.delivery } : {}), ...(settings?.webhooks.length ? { webhooks: settings.webhooks } : {}) }, { orchestrator, timers });
    const pipeline = new StreamPipeline(
      { playbackId, segmentSeconds: o.segmentSeconds, ladderRungs: o.ladderRungs, maxTranscodeBacklog: o.maxTranscodeBacklog, firstSeq: this.sequences.begin(playbackId), playbackPolicy, record: settings?.record ?? true, cmafRenditions: (o.lowLatency ?? false) && (o.progressiveTranscode ?? true) },
      { session, payments, transcoders, relays, timers, publisher, verifier: new OutputVerifier({ verifyRate: o.verifyRate ?? DEFAULT_VERIFY_RATE, verifyFirst: o.verifyFirst ?? VERIFY_FIRST_SEGMENTS }), onSequence: (seq) => this.sequences.used(playbackId, seq) },
    );
    logSession(session, log);
    logPipeline(pipeline, log);
    meterPipeline(pipeline, metrics);
    return { session, pipeline, publication: null, log };
  }

  /** Nobody reconnected in time: the stream is over at the orchestrator and at its relay (whose playlists end). */
  private async end(stream: Stream): Promise<void> {
    const playbackId = stream.pipeline.playbackId;
    this.streams.delete(playbackId);
    this.countLive();
    const relay = stream.session.assignment?.relay.url;
    const told = relay
      ? this.components.relays.endStream(relay, playbackId, stream.pipeline.publisher).catch((err: unknown) => stream.log.warn({ err, relay }, 'could not tell the relay the stream ended'))
      : undefined;
    await Promise.all([stream.session.close(), told]);
    stream.log.info('stream closed');
    this.emit('closed', { playbackId });
  }

  private countLive(): void {
    this.components.metrics.activeStreams.set(this.livePublications);
  }
}
