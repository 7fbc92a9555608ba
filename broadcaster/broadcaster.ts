// The broadcaster role, as wiring: RTMP ingest authorized by stream keys; per stream, a StreamSession (the
// assignment, with the orchestrator), a StreamPipeline (segments to transcoders and relays) and, per RTMP
// publication, a Publication (cutter and reconnect grace); metrics and logs subscribe to their events.

import { join } from 'node:path';
import type { Registry } from 'prom-client';
import { createNodeApp, finishNodeApp, listen, type ListeningServer } from '../http/node-app.ts';
import { CastnetError } from '../protocol/errors.ts';
import { loadOrCreateIdentity } from '../protocol/identity.ts';
import { defaultLadderRungs, parseLadder } from '../protocol/rendition.ts';
import { createMetricsRegistry } from '../observability/metrics-registry.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { OrchestratorClient } from '../orchestrator/orchestrator-client.ts';
import { createBroadcasterMetrics, meterPipeline } from './metrics.ts';
import { RelayClient, TranscoderClient, type Fetch } from './node-clients.ts';
import { PaymentSender } from './payment-sender.ts';
import { Publication } from './publication.ts';
import { RtmpServer } from './rtmp/rtmp-server.ts';
import type { PublishRequest, PublishSink } from './rtmp/rtmp-connection.ts';
import { logPipeline, logPublication, logSession } from './stream-log.ts';
import { StreamKeyStore } from './stream-keys.ts';
import { StreamPipeline } from './stream-pipeline.ts';
import { StreamSession } from './stream-session.ts';
import { systemTimers, type Timers } from './timers.ts';

export interface BroadcasterOptions {
  host: string;
  rtmpPort: number;
  /** Port of /healthz and /metrics. */
  httpPort: number;
  orchestrator: string;
  dataDir: string;
  /** Dev mode accepts any stream key unless keys are configured. */
  dev: boolean;
  segmentSeconds: number;
  /** Rungs below the source, e.g. `720p30:2800k,480p30:1200k,360p30:700k`; empty for the default ladder. */
  ladder: string;
  maxTranscodeBacklog: number;
  /** How long a stream stays open for its streamer to reconnect before its session closes. */
  reconnectGraceMs: number;
  sessionRefreshMs: number;
  /** The most this broadcaster pays a transcoder, in wei per output pixel. */
  maxPricePerPixel: string;
}

export const defaultBroadcasterOptions: BroadcasterOptions = {
  host: '127.0.0.1',
  rtmpPort: 1935,
  httpPort: 8937,
  orchestrator: 'http://127.0.0.1:8935',
  dataDir: './.castnet',
  dev: false,
  segmentSeconds: 2,
  ladder: '',
  maxTranscodeBacklog: 3,
  reconnectGraceMs: 30_000,
  sessionRefreshMs: 10_000,
  maxPricePerPixel: '10',
};

export interface BroadcasterComponents {
  logger?: Logger;
  registry?: Registry;
  /** The fetch every HTTP call out of the broadcaster uses (orchestrator calls aside). */
  fetch?: Fetch;
  timers?: Timers;
}

export interface Broadcaster {
  readonly rtmpUrl: string;
  readonly httpUrl: string;
  readonly keys: StreamKeyStore;
  /** The address tickets are signed by: fund it with `castnet deposit`. */
  readonly paymentAddress: string;
  readonly pipelines: ReadonlyMap<string, StreamPipeline>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** One stream (one playback id): lives from its first publish until its reconnect grace runs out. */
interface Stream {
  session: StreamSession;
  pipeline: StreamPipeline;
  publication: Publication | null;
}

export async function createBroadcaster(init: Partial<BroadcasterOptions> = {}, components: BroadcasterComponents = {}): Promise<Broadcaster> {
  const options = { ...defaultBroadcasterOptions, ...init };
  const logger = (components.logger ?? createLogger()).child({ component: 'broadcaster' });
  const registry = components.registry ?? createMetricsRegistry('broadcaster');
  const metrics = createBroadcasterMetrics(registry);
  const timers = components.timers ?? systemTimers;
  const keys = new StreamKeyStore({ dataDir: options.dataDir, devMode: options.dev });
  const orchestrator = new OrchestratorClient(options.orchestrator);
  const identity = loadOrCreateIdentity(options.dataDir, 'broadcaster');
  const payments = new PaymentSender({ identity, maxPricePerPixel: BigInt(options.maxPricePerPixel), fetch: components.fetch });
  const transcoders = new TranscoderClient({ fetch: components.fetch });
  const relays = new RelayClient({ fetch: components.fetch });
  const ladderRungs = options.ladder ? parseLadder(options.ladder) : defaultLadderRungs;
  const streams = new Map<string, Stream>();
  const livePublications = () => [...streams.values()].filter((s) => s.publication?.isLive).length;
  const countLive = () => metrics.activeStreams.set(livePublications());

  function newStream(playbackId: string): Stream {
    const log = logger.child({ playbackId });
    const session = new StreamSession(
      { playbackId, broadcaster: `rtmp://${options.host}:${options.rtmpPort}`, maxPricePerPixel: options.maxPricePerPixel, refreshMs: options.sessionRefreshMs },
      { orchestrator, timers },
    );
    const pipeline = new StreamPipeline(
      { playbackId, segmentSeconds: options.segmentSeconds, ladderRungs, maxTranscodeBacklog: options.maxTranscodeBacklog },
      { session, payments, transcoders, relays, timers },
    );
    logSession(session, log);
    logPipeline(pipeline, log);
    meterPipeline(pipeline, metrics);
    return { session, pipeline, publication: null };
  }

  /** The grace period ran out: the stream is over at the orchestrator and at its relay. */
  async function endStream(stream: Stream, log: Logger): Promise<void> {
    streams.delete(stream.pipeline.playbackId);
    countLive();
    const relay = stream.session.assignment?.relay.url;
    await Promise.all([
      stream.session.close(),
      relay ? relays.endStream(relay, stream.pipeline.playbackId).catch((err: unknown) => log.warn({ err, relay }, 'could not tell the relay the stream ended')) : undefined,
    ]);
    log.info('stream closed');
  }

  async function authorize(request: PublishRequest): Promise<PublishSink> {
    let playbackId: string;
    try {
      if (request.app !== 'live') throw new CastnetError('STREAM_KEY_REFUSED', `unknown application "${request.app}": publish to rtmp://<host>/live/<stream key>`);
      playbackId = keys.resolve(request.streamKey);
    } catch (err) {
      metrics.publishRefused.inc({ reason: 'stream_key' });
      throw err;
    }
    const log = logger.child({ playbackId });
    const stream = streams.get(playbackId) ?? newStream(playbackId);
    try {
      // Opened before the publish is accepted: a stream with nowhere to go is refused, not silently dropped.
      await stream.session.open();
    } catch (err) {
      metrics.publishRefused.inc({ reason: 'no_session' });
      throw new CastnetError('NO_NODE_AVAILABLE', `cannot open a session: ${(err as Error).message}`, { playbackId }, { cause: err });
    }
    streams.set(playbackId, stream);
    if (stream.publication?.isLive) log.warn('stream key published again while live: the new connection takes over');
    stream.publication?.supersede();
    const publication = new Publication(
      { dir: join(options.dataDir, 'segments', `${playbackId}-${timers.now()}`), segmentSeconds: options.segmentSeconds, reconnectGraceMs: options.reconnectGraceMs },
      { pipeline: stream.pipeline, logger: log, timers },
    );
    stream.publication = publication;
    logPublication(publication, log);
    publication.on('ended', countLive);
    publication.on('expired', () => void endStream(stream, log));
    await publication.start();
    stream.session.describe({ startedAt: publication.startedAtWall });
    countLive();
    const assignment = stream.session.assignment;
    log.info({ remote: request.remoteAddress, relay: assignment?.relay.url, transcoder: assignment?.transcoder?.url ?? null }, 'publish started');
    return publication.sink;
  }

  const rtmp = new RtmpServer({ host: options.host, port: options.rtmpPort, authorize, logger });
  const app = createNodeApp({ role: 'broadcaster', registry, health: () => ({ publications: livePublications() }) });
  finishNodeApp(app, logger);
  let http: ListeningServer | null = null;

  const broadcaster: Broadcaster = {
    get rtmpUrl() {
      return `rtmp://${options.host}:${rtmp.port || options.rtmpPort}/live`;
    },
    get httpUrl() {
      return http?.url ?? `http://${options.host}:${options.httpPort}`;
    },
    get pipelines() {
      return new Map([...streams].map(([id, s]) => [id, s.pipeline]));
    },
    keys,
    paymentAddress: identity.address,
    async start() {
      await rtmp.listen();
      http = await listen(app, options.host, options.httpPort);
      logger.info({ rtmp: broadcaster.rtmpUrl, http: http.url }, 'broadcaster listening');
    },
    async stop() {
      for (const stream of streams.values()) {
        stream.publication?.kill();
        stream.session.abandon();
      }
      await rtmp.close();
      await http?.close();
    },
  };
  return broadcaster;
}
