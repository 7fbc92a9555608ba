// The broadcaster role, as wiring: RTMP ingest authorized by stream keys, handing each publish to the live
// streams (live-streams.ts: per stream a StreamSession, a StreamPipeline and the current Publication), and
// /healthz and /metrics over HTTP. At start it checks what it depends on (the orchestrator answers, FFmpeg
// runs, its deposit at the ledger or on chain is funded) and says what is wrong; it starts anyway, since a
// broadcaster may well start before its orchestrator.

import { join } from 'node:path';
import { execFile } from 'node:child_process';
import type { Registry } from 'prom-client';
import { createNodeApp, finishNodeApp, guardOf, listen, type ListeningServer } from '../http/node-app.ts';
import { HttpGuard } from '../http/http-limits.ts';
import { RateLimiter } from '../http/rate-limiter.ts';
import { outboundFetch } from '../http/outbound-fetch.ts';
import { CastnetError } from '../protocol/errors.ts';
import { identityFromPrivateKey, loadOrCreateIdentity } from '../protocol/identity.ts';
import { publisherPrivateKey } from '../protocol/content-signature.ts';
import { createMetricsRegistry } from '../observability/metrics-registry.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { OrchestratorClient } from '../protocol/orchestrator-client.ts';
import { LiveStreams } from './live-streams.ts';
import { createBroadcasterMetrics } from './metrics.ts';
import { RelayClient, TranscoderClient, type Fetch } from './node-clients.ts';
import { PaymentSender } from './payment-sender.ts';
import { RtmpServer } from './rtmp/rtmp-server.ts';
import type { PublishRequest, PublishSink } from './rtmp/rtmp-connection.ts';
import { StreamKeyStore } from './stream-keys.ts';
import type { StreamPipeline } from './stream-pipeline.ts';
import { systemTimers, type Timers } from './timers.ts';
import { defaultBroadcasterOptions, type BroadcasterOptions } from './options.ts';
import { ffmpegBinaries } from '../media/ffmpeg-binaries.ts';
import { createSettlement } from '../settlement/options.ts';
import type { Settlement } from '../settlement/settlement.ts';
import { FundsMonitor } from './funds-monitor.ts';
import { DeliveryPayer } from './delivery-payer.ts';
import { attachDelivery } from './delivery-wiring.ts';
import { DeliveryStore } from './delivery-store.ts';
import { deliveryRoutes } from './delivery-routes.ts';
import { PlaybackTokenVerifier, requestToken } from '../protocol/playback-token.ts';
import { AdminTokenGate, loadOrCreateAdminToken } from '../http/admin-token.ts';
import { keyAdminRoutes } from './key-admin-routes.ts';
import { storeKeyIssuer } from './key-issuer.ts';

/** `ffmpeg -version` answers in milliseconds; a hung binary must not hold the start. */
const FFMPEG_CHECK_TIMEOUT_MS = 10_000;

/** Null when FFmpeg runs, else what is wrong. */
function checkFfmpeg(): Promise<string | null> {
  let path: string;
  try {
    path = ffmpegBinaries().ffmpeg;
  } catch (err) {
    return Promise.resolve((err as Error).message);
  }
  return new Promise((resolve) => {
    execFile(path, ['-hide_banner', '-version'], { timeout: FFMPEG_CHECK_TIMEOUT_MS }, (err) => resolve(err ? `FFmpeg at ${path} does not run (${err.message.split('\n')[0]})` : null));
  });
}

export { defaultBroadcasterOptions, type BroadcasterOptions };

/** Node listings are re-read at most this often when checking that an edge's key is a registered relay. */
const RELAY_LIST_MAX_AGE_MS = 10_000;

/** Whether an address is a relay the orchestrator lists: edges' receipts must come from one. */
function relayCheck(orchestrator: OrchestratorClient): (address: string) => Promise<boolean> {
  let cached: { at: number; relays: Promise<Set<string>> } | null = null;
  return async (address) => {
    if (!cached || Date.now() - cached.at > RELAY_LIST_MAX_AGE_MS) {
      const relays = orchestrator.nodes().then((nodes) => new Set(nodes.filter((n) => n.role === 'relay' && n.state === 'active').map((n) => (n.paymentAddress ?? n.id).toLowerCase())));
      cached = { at: Date.now(), relays };
      relays.catch(() => (cached = null));
    }
    return (await cached.relays.catch(() => new Set<string>())).has(address);
  };
}

export interface BroadcasterComponents {
  logger?: Logger;
  registry?: Registry;
  /** The fetch every HTTP call out of the broadcaster uses (orchestrator calls aside). */
  fetch?: Fetch;
  timers?: Timers;
  /** Where its deposit lives; defaults to what the options name. */
  settlement?: Settlement;
}

export interface Broadcaster {
  readonly rtmpUrl: string;
  readonly httpUrl: string;
  readonly keys: StreamKeyStore;
  /** The bearer token of /admin/stream-keys (`<data-dir>/keys/admin-token`, 0600; castnet keys admin-token prints it). */
  readonly adminToken: string;
  /** The address tickets are signed by: fund it with `castnet deposit`. */
  readonly paymentAddress: string;
  readonly pipelines: ReadonlyMap<string, StreamPipeline>;
  /** The streams it carries; their events (opened, waiting, closed) are how consoles follow them. */
  readonly streams: LiveStreams;
  readonly settlement: Settlement;
  /** Its deposit and reserve as last read from the settlement. */
  readonly funds: FundsMonitor;
  /** Pays relays for the bytes viewers' and edges' receipts prove (paid delivery). */
  readonly delivery: DeliveryPayer;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function createBroadcaster(init: Partial<BroadcasterOptions> = {}, components: BroadcasterComponents = {}): Promise<Broadcaster> {
  const options = { ...defaultBroadcasterOptions, ...init };
  const logger = (components.logger ?? createLogger()).child({ component: 'broadcaster' });
  const registry = components.registry ?? createMetricsRegistry('broadcaster');
  const metrics = createBroadcasterMetrics(registry);
  const keys = new StreamKeyStore({ dataDir: options.dataDir, devMode: options.dev });
  const identity = loadOrCreateIdentity(options.dataDir, 'broadcaster');
  // Sessions are signed by the same key that signs tickets: a stream belongs to it.
  const orchestrator = new OrchestratorClient(options.orchestrator, { identity });
  // Transcoders and relays are the orchestrator's choice, not the operator's: reached under the outbound policy.
  const nodeFetch = outboundFetch({ allowPrivate: options.allowPrivateNodes, onRefused: (reason) => metrics.outboundRefused.inc({ reason }) }, components.fetch);
  // Viewer sessions and what relays were paid survive a restart (the players keep their certificates).
  const deliveryStore = options.dataDir && options.maxPricePerByte > 0n ? new DeliveryStore(join(options.dataDir, 'delivery.sqlite')) : undefined;
  const delivery = new DeliveryPayer({
    identity,
    ...(deliveryStore ? { store: deliveryStore } : {}),
    maxPricePerByte: options.maxPricePerByte,
    maxFaceValue: options.deliveryMaxFaceValue,
    sessionTtlMs: options.viewerSessionTtlMs,
    sessionBytes: options.viewerSessionBytes,
    isRelay: relayCheck(orchestrator),
  });
  // Signed playback at the payer: it holds the stream key's HS256 secrets too (it is the streamer's own node).
  const tokens = new PlaybackTokenVerifier();
  async function admitViewer(playbackId: string, req: { headers: { authorization?: string | undefined }; url?: string }): Promise<void> {
    const { playback } = keys.settingsOf(playbackId);
    if (playback.mode !== 'signed') return;
    const url = req.url ?? '';
    const q = url.indexOf('?');
    await tokens.verify(requestToken(req.headers.authorization, q < 0 ? '' : url.slice(q + 1)), playbackId, { es256: playback.keys, hs256: playback.hs256Secrets, version: playback.keys.map((k) => k.kid).join(',') + '|' + String(playback.hs256Secrets.length) });
  }
  let http: ListeningServer | null = null;
  const publicUrl = () => options.publicUrl ?? http?.url ?? `http://${options.host}:${options.httpPort}`;
  const streams = new LiveStreams(
    {
      ...options,
      // Relays are paid only when the broadcaster says how much it pays them.
      delivery: () => (options.maxPricePerByte > 0n ? { payer: identity.address, url: publicUrl(), maxPricePerByte: options.maxPricePerByte.toString() } : null),
      broadcaster: `rtmp://${options.host}:${options.rtmpPort}`, ladderRungs: options.ladder },
    {
      orchestrator,
      // One publisher key per stream, derived from this broadcaster's key: the directory names it, never the payment address.
      publisherOf: (playbackId) => identityFromPrivateKey(publisherPrivateKey(identity.privateKey, playbackId)),
      settingsOf: (playbackId) => keys.settingsOf(playbackId),
      payments: new PaymentSender({ identity, maxPricePerPixel: options.maxPricePerPixel, fetch: nodeFetch }),
      transcoders: new TranscoderClient({ fetch: nodeFetch }),
      relays: new RelayClient({ fetch: nodeFetch }),
      timers: components.timers ?? systemTimers,
      metrics,
      logger,
    },
  );

  // Every publish starts a cutter (an FFmpeg) and supersedes the stream's last one: a leaked key replayed in a
  // loop would churn them, so each stream starts at most `publishesPerKeyPerMinute` publications a minute.
  const publishRate = new RateLimiter({ ratePerSecond: options.publishesPerKeyPerMinute / 60, burst: options.publishesPerKeyPerMinute, now: () => (components.timers ?? systemTimers).now() });
  async function authorize(request: PublishRequest): Promise<PublishSink> {
    let playbackId: string;
    try {
      if (request.app !== 'live') throw new CastnetError('STREAM_KEY_REFUSED', `unknown application "${request.app}": publish to rtmp://<host>/live/<stream key>`);
      playbackId = keys.resolve(request.streamKey);
    } catch (err) {
      metrics.publishRefused.inc({ reason: 'stream_key' });
      throw err;
    }
    if (!publishRate.take(playbackId)) {
      metrics.publishRefused.inc({ reason: 'publish_rate' });
      throw new CastnetError('RATE_LIMITED', `this stream key started ${options.publishesPerKeyPerMinute} publishes in the last minute: wait before publishing again`, { playbackId });
    }
    const sink = await streams.publish(playbackId, request.remoteAddress, request.disconnect);
    metrics.publishes.inc();
    return sink;
  }

  const rtmp = new RtmpServer({ host: options.host, port: options.rtmpPort, authorize, logger, limits: options, onRefused: (reason) => metrics.rtmpRefused.inc({ reason }) });
  const settlement = components.settlement ?? createSettlement(options, () => options.orchestrator);
  const funds = new FundsMonitor({
    settlement,
    address: identity.address,
    logger,
    onFunds: (f) => {
      metrics.deposit.set(Number(f.deposit));
      metrics.reserve.set(Number(f.reserve));
    },
  });
  const app = createNodeApp({
    role: 'broadcaster',
    registry,
    guard: new HttpGuard({ role: 'broadcaster', registry, limits: options }),
    health: () => ({
      publications: streams.livePublications,
      paymentAddress: identity.address,
      settlement: settlement.mode,
      ...(funds.last ? { deposit: funds.last.funds.deposit.toString(), reserve: funds.last.funds.reserve.toString() } : {}),
    }),
  });
  if (options.maxPricePerByte > 0n) attachDelivery(streams, delivery);
  app.use(
    deliveryRoutes({
      payer: delivery,
      guard: guardOf(app),
      sessionsPerSecond: 1,
      sessionsBurst: 20,
      onSession: () => metrics.deliverySessions.inc(),
      admitViewer: (playbackId, req) => admitViewer(playbackId, req),
      onClaim: ({ credited, refused }) => {
        metrics.deliveryCredited.inc(credited);
        for (const [reason, n] of Object.entries(refused)) metrics.deliveryRefused.inc({ reason }, n);
      },
    }),
  );
  // An orchestrator's dashboard makes keys here when this broadcaster runs on its own (--key-issuer-url there).
  const adminToken = loadOrCreateAdminToken(options.dataDir);
  app.use(
    keyAdminRoutes({
      // Every admin request counts, right or wrong: guessing is bounded to about one a second per address.
      gate: new AdminTokenGate(adminToken, new RateLimiter({ ratePerSecond: 1, burst: 10 })),
      guard: guardOf(app),
      issuer: storeKeyIssuer({
        keys,
        rtmpServer: () => options.rtmpPublicUrl ?? broadcaster.rtmpUrl,
        watchUrl: (id) => (options.watchBaseUrl ? `${options.watchBaseUrl}/watch/${id}` : null),
        // In dev mode a configured key would close the open door (any key publishes until one is configured).
        origin: options.dev ? 'dev' : 'configured',
      }),
      enabled: options.keyAdmin,
    }),
  );
  finishNodeApp(app, logger);

  /** Says what is wrong with what the broadcaster depends on; starts anyway (the orchestrator may come later). */
  async function checkDependencies(): Promise<void> {
    const [orchestratorErr, ffmpegProblem] = await Promise.all([orchestrator.health().then(() => null, (err: Error) => err), checkFfmpeg()]);
    if (orchestratorErr) {
      logger.warn({ err: orchestratorErr, orchestrator: orchestrator.baseUrl }, `the orchestrator at ${orchestrator.baseUrl} does not answer (${orchestratorErr.message}): publishes are refused until it does`);
    }
    if (ffmpegProblem) logger.error({ ffmpeg: ffmpegProblem }, `${ffmpegProblem}: publishes cannot be cut into segments; set FFMPEG_PATH or install FFmpeg`);
  }

  const broadcaster: Broadcaster = {
    get rtmpUrl() {
      return `rtmp://${options.host}:${rtmp.port || options.rtmpPort}/live`;
    },
    get httpUrl() {
      return http?.url ?? `http://${options.host}:${options.httpPort}`;
    },
    get pipelines() {
      return streams.pipelines;
    },
    streams,
    keys,
    adminToken,
    paymentAddress: identity.address,
    settlement,
    funds,
    delivery,
    async start() {
      await rtmp.listen();
      http = await listen(app, options.host, options.httpPort);
      logger.info({ rtmp: broadcaster.rtmpUrl, http: http.url }, 'broadcaster listening');
      await Promise.all([checkDependencies(), funds.check()]);
      funds.start();
    },
    async stop() {
      funds.stop();
      streams.stop();
      await rtmp.close();
      await http?.close();
      deliveryStore?.close();
    },
  };
  return broadcaster;
}
