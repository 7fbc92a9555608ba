// The broadcaster role: RTMP ingest with stream keys, one segment cutter per publication, one pipeline per
// stream, and the stream sessions it keeps open with the orchestrator.

import { join } from 'node:path';
import type { Registry } from 'prom-client';
import { createNodeApp, finishNodeApp, listen, type ListeningServer } from '../http/node-app.ts';
import { probeTs } from '../media/ts-probe.ts';
import { CastnetError } from '../protocol/errors.ts';
import { SOURCE_RENDITION } from '../protocol/rendition.ts';
import type { Assignment } from '../protocol/stream-record.ts';
import { createMetricsRegistry } from '../observability/metrics-registry.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { OrchestratorClient } from '../orchestrator/orchestrator-client.ts';
import { FlvWriter } from './flv-writer.ts';
import { createBroadcasterMetrics } from './metrics.ts';
import { RtmpServer } from './rtmp/rtmp-server.ts';
import type { PublishRequest, PublishSink } from './rtmp/rtmp-connection.ts';
import { SegmentCutter } from './segment-cutter.ts';
import { StreamKeyStore } from './stream-keys.ts';
import { StreamPipeline } from './stream-pipeline.ts';
import { PaymentSender } from './payment-sender.ts';
import { loadOrCreateIdentity } from '../protocol/identity.ts';
import { defaultBroadcasterOptions, type BroadcasterOptions } from './options.ts';

export { defaultBroadcasterOptions, type BroadcasterOptions };

export interface BroadcasterComponents {
  logger?: Logger;
  registry?: Registry;
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

interface Publication {
  cutter: SegmentCutter;
  startedAtWall: number;
  ended: boolean;
}

export async function createBroadcaster(init: Partial<BroadcasterOptions> = {}, components: BroadcasterComponents = {}): Promise<Broadcaster> {
  const options = { ...defaultBroadcasterOptions, ...init };
  const logger = (components.logger ?? createLogger()).child({ component: 'broadcaster' });
  const registry = components.registry ?? createMetricsRegistry('broadcaster');
  const metrics = createBroadcasterMetrics(registry);
  const keys = new StreamKeyStore({ dataDir: options.dataDir, devMode: options.dev });
  const orchestrator = new OrchestratorClient(options.orchestrator);
  const ladderRungs = options.ladder;
  const pipelines = new Map<string, StreamPipeline>();
  const identity = loadOrCreateIdentity(options.dataDir, 'broadcaster');
  const payments = new PaymentSender({ identity, maxPricePerPixel: options.maxPricePerPixel });
  const publications = new Map<string, Publication>();
  const closeTimers = new Map<string, NodeJS.Timeout>();
  let stopped = false;
  const livePublications = () => [...publications.values()].filter((p) => !p.ended).length;

  function openSession(pipeline: StreamPipeline, avoid: string[] = []): Promise<Assignment> {
    const renditions = pipeline.source
      ? [{ name: SOURCE_RENDITION, width: pipeline.source.width, height: pipeline.source.height }, ...pipeline.ladder.map((r) => ({ name: r.name, width: r.width, height: r.height }))]
      : [];
    return orchestrator.openSession({
      playbackId: pipeline.playbackId,
      broadcaster: `rtmp://${options.host}:${options.rtmpPort}`,
      renditions,
      startedAt: new Date(publications.get(pipeline.playbackId)?.startedAtWall ?? Date.now()).toISOString(),
      avoid,
      maxPricePerPixel: options.maxPricePerPixel.toString(),
      ...(pipeline.assignment ? { preferRelay: pipeline.assignment.relay.url } : {}),
    });
  }

  async function pipelineFor(playbackId: string): Promise<StreamPipeline> {
    let pipeline = pipelines.get(playbackId);
    if (!pipeline) {
      const created: StreamPipeline = new StreamPipeline({
        playbackId,
        segmentSeconds: options.segmentSeconds,
        ladderRungs,
        maxTranscodeBacklog: options.maxTranscodeBacklog,
        reassign: (avoid) => openSession(created, avoid),
        payments,
        metrics,
        logger,
      });
      pipeline = created;
    }
    // Opened before the publish is accepted: a stream with nowhere to go is refused, not silently dropped.
    pipeline.assignment = await openSession(pipeline);
    pipelines.set(playbackId, pipeline);
    return pipeline;
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
    const previous = publications.get(playbackId);
    if (previous && !previous.ended) {
      log.warn('stream key published again while live: the new connection takes over');
      previous.ended = true;
      previous.cutter.end();
    }
    clearTimeout(closeTimers.get(playbackId));
    closeTimers.delete(playbackId);
    let pipeline: StreamPipeline;
    try {
      pipeline = await pipelineFor(playbackId);
    } catch (err) {
      metrics.publishRefused.inc({ reason: 'no_session' });
      throw new CastnetError('NO_NODE_AVAILABLE', `cannot open a session: ${(err as Error).message}`, { playbackId });
    }
    pipeline.beginPublication();
    const cutter = new SegmentCutter({ dir: join(options.dataDir, 'segments', `${playbackId}-${Date.now()}`), segmentSeconds: options.segmentSeconds, logger: log });
    await cutter.start();
    const publication: Publication = { cutter, startedAtWall: Date.now(), ended: false };
    publications.set(playbackId, publication);
    metrics.activeStreams.set(livePublications());
    log.info({ remote: request.remoteAddress, relay: pipeline.assignment?.relay.url, transcoder: pipeline.assignment?.transcoder?.url ?? null }, 'publish started');

    // Segments are handled in order: the first one of each publication is probed before anything is published.
    let chain = Promise.resolve();
    cutter.on('segment', (cut) => {
      chain = chain.then(async () => {
        try {
          const bytes = await SegmentCutter.take(cut);
          if (!pipeline.source) {
            pipeline.setSource(probeTs(bytes));
            void openSession(pipeline).then((a) => (pipeline.assignment = a)).catch(() => {});
          }
          const seq = pipeline.push({
            bytes,
            duration: cut.duration,
            programDateTime: new Date(publication.startedAtWall + cut.start * 1000).toISOString(),
            completedAt: cut.completedAt,
          });
          log.debug({ seq, duration: cut.duration, bytes: bytes.length }, 'segment ingested');
        } catch (err) {
          log.error({ err: (err as Error).message, file: cut.path }, 'segment could not be ingested');
        }
      });
    });
    cutter.on('error', (err) => log.error({ err: err.message }, 'segment cutter failed; the publication ends'));
    cutter.on('end', () => {
      void chain.then(() => pipeline.drain()).then(() => {
        publication.ended = true;
        if (stopped || publications.get(playbackId) !== publication) return;
        metrics.activeStreams.set(livePublications());
        log.info({ segments: pipeline.segmentsPublished }, 'publish ended; waiting for a reconnect');
        const timer = setTimeout(() => {
          closeTimers.delete(playbackId);
          publications.delete(playbackId);
          pipelines.delete(playbackId);
          metrics.activeStreams.set(livePublications());
          orchestrator.closeSession(playbackId).catch((err) => log.warn({ err: (err as Error).message }, 'could not close the session'));
          log.info('stream closed');
        }, options.reconnectGraceMs);
        timer.unref();
        closeTimers.set(playbackId, timer);
      });
    });

    const flv = new FlvWriter((chunk) => {
      if (!cutter.closed) cutter.input.write(chunk);
    });
    return {
      onMetadata: (data) => flv.metadata(data),
      onAudio: (ts, payload) => flv.audio(ts, payload),
      onVideo: (ts, payload) => flv.video(ts, payload),
      onEnd: () => cutter.end(),
    };
  }

  const rtmp = new RtmpServer({ host: options.host, port: options.rtmpPort, authorize, logger });
  const app = createNodeApp({ role: 'broadcaster', registry, health: () => ({ publications: livePublications() }) });
  finishNodeApp(app, logger);
  let http: ListeningServer | null = null;
  let refresher: NodeJS.Timeout | null = null;

  const broadcaster: Broadcaster = {
    get rtmpUrl() {
      return `rtmp://${options.host}:${rtmp.port || options.rtmpPort}/live`;
    },
    get httpUrl() {
      return http?.url ?? `http://${options.host}:${options.httpPort}`;
    },
    keys,
    pipelines,
    paymentAddress: identity.address,
    async start() {
      await rtmp.listen();
      http = await listen(app, options.host, options.httpPort);
      refresher = setInterval(() => {
        for (const pipeline of pipelines.values()) {
          openSession(pipeline)
            .then((a) => (pipeline.assignment = a))
            .catch((err) => logger.warn({ playbackId: pipeline.playbackId, err: (err as Error).message }, 'session refresh failed'));
        }
      }, options.sessionRefreshMs);
      refresher.unref();
      logger.info({ rtmp: broadcaster.rtmpUrl, http: http.url }, 'broadcaster listening');
    },
    async stop() {
      stopped = true;
      if (refresher) clearInterval(refresher);
      for (const timer of closeTimers.values()) clearTimeout(timer);
      for (const p of publications.values()) p.cutter.kill();
      await rtmp.close();
      await http?.close();
    },
  };
  return broadcaster;
}
