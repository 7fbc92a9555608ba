// The relay role: HLS origin for streams pushed by broadcasters (PUT), edge for streams pulled from parent
// relays, serving playlists, segments, the player bundle, the watch page and the embed page. This file is
// wiring: options, components, routes (push-routes.ts, page-routes.ts, hls-handler.ts) and the lifecycle.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { createNodeApp, finishNodeApp, listen, type ListeningServer } from '../http/node-app.ts';
import { HttpGuard } from '../http/http-limits.ts';
import { outboundFetch } from '../http/outbound-fetch.ts';
import { CastnetError } from '../protocol/errors.ts';
import { nodeIdentity } from '../protocol/identity.ts';
import { createMetricsRegistry } from '../observability/metrics-registry.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { startPresence, type Presence } from '../p2p/node-presence.ts';
import { OrchestratorLocator } from '../p2p/orchestrator-locator.ts';
import { OrchestratorClient } from '../protocol/orchestrator-client.ts';
import { playerBundle } from '../player/bundle.ts';
import { createHlsHandler, HLS_CORS } from './hls-handler.ts';
import { createVodHandler } from './vod-handler.ts';
import { Recordings, type RecordingSummary } from './recordings.ts';
import { Thumbnailer } from './thumbnailer.ts';
import { ffmpegBinaries } from '../media/ffmpeg-binaries.ts';
import { createRelayMetrics } from './metrics.ts';
import { pageRoutes } from './page-routes.ts';
import { ParentDirectory, type ParentLookup } from './parent-directory.ts';
import { pushRoutes } from './push-routes.ts';
import { llPushRoutes } from './ll-push-routes.ts';
import { SegmentCache } from './segment-cache.ts';
import { StreamStats } from './stream-stats.ts';
import { StreamStore } from './stream-store.ts';
import { Upstream } from './upstream.ts';
import { defaultRelayOptions, type RelayOptions } from './options.ts';
import { cors } from '../http/cors.ts';
import { ByteBudget } from './byte-budget.ts';
import { ContentCheck } from './content-check.ts';
import { PublisherKeys, type PublisherLookup } from './publisher-keys.ts';
import { PlaybackGuard, readPlaybackSecrets, type PolicyLookup } from './playback-guard.ts';
import { join } from 'node:path';
import { DeliveryEarnings, type DeliveryLookup } from './delivery-earnings.ts';
import { deliveryRoutes } from './delivery-routes.ts';
import { ReceiptIntake } from './receipt-intake.ts';
import { PaymentReceiver, type ChainTime } from '../settlement/payment-receiver.ts';
import { RedemptionQueue } from '../settlement/redemption-queue.ts';
import { fundsView } from '../settlement/funds-view.ts';
import { createSettlement } from '../settlement/options.ts';
import { ChainSettlement } from '../settlement/chain-settlement.ts';
import { BlockClock } from '../settlement/block-clock.ts';
import type { Settlement } from '../settlement/settlement.ts';

export { defaultRelayOptions, type RelayOptions };

export interface RelayComponents {
  logger?: Logger;
  registry?: Registry;
  now?: () => number;
  /** HTTP to parent relays and the orchestrator; the global fetch unless a test brings its own. */
  fetch?: typeof fetch;
  /** Where parents for a stream are looked up; defaults to the orchestrator's directory when `discoverParents`. */
  parentLookup?: ParentLookup;
  /** Where a stream's publisher key is looked up; defaults to the orchestrator's directory, none without an orchestrator (the first signer binds). */
  publisherLookup?: PublisherLookup;
  /** Where a stream's delivery terms (its payer) are looked up; defaults to the orchestrator's directory. */
  deliveryLookup?: DeliveryLookup;
  /** Where delivery tickets settle; defaults to what the options name. */
  settlement?: Settlement;
  /** Where a stream's signed playback policy is looked up; defaults to the orchestrator's directory. */
  policyLookup?: PolicyLookup;
}

export interface Relay {
  readonly url: string;
  readonly store: StreamStore;
  readonly stats: StreamStats;
  readonly cache: SegmentCache;
  /** The recordings of streams pushed here (--recording); null when it records nothing. */
  readonly recordings: Recordings | null;
  /** Receipts held, claims made and what payers paid (paid delivery). */
  readonly earnings: DeliveryEarnings;
  readonly redemptions: RedemptionQueue;
  /** Signed playback: the check every viewer-facing route runs (`await relay.playback.admit(id, req)`). */
  readonly playback: PlaybackGuard;
  readonly paymentAddress: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** The orchestrator's directory of relays holding a stream as origin; a 404 means it knows no such stream. */
/** A stream's parents from the orchestrator's directory: none when it does not know the stream; a failure to ask rejects (502 to viewers). */
function orchestratorParentLookup(orchestratorUrl: () => string | null, fetchFn: typeof fetch): ParentLookup {
  return async (playbackId) => {
    // Read at each lookup: a node bootstrapped over libp2p may learn (or see a move of) the URL later.
    const base = orchestratorUrl();
    if (base === null) return [];
    return new OrchestratorClient(base, { fetch: fetchFn }).relaysFor(playbackId, { holding: true }).catch((err: unknown) => {
      if (err instanceof CastnetError && err.code === 'STREAM_NOT_FOUND') return [];
      throw err;
    });
  };
}

/** A stream's publisher key from the orchestrator's directory: null when it knows no such stream (or it names none). */
function orchestratorPublisherLookup(orchestratorUrl: () => string | null, fetchFn: typeof fetch): PublisherLookup {
  return async (playbackId) => {
    const base = orchestratorUrl();
    if (base === null) throw new CastnetError('UPSTREAM_FAILED', 'no orchestrator is known yet to look the stream up in', { playbackId });
    try {
      return (await new OrchestratorClient(base, { fetch: fetchFn }).stream(playbackId)).publisher;
    } catch (err) {
      if (err instanceof CastnetError && err.code === 'STREAM_NOT_FOUND') return null;
      throw err;
    }
  };
}

/**
 * One field of a stream's entry in the orchestrator's directory: null when there is no orchestrator or it
 * knows no such stream. Delivery terms and the signed playback policy are both read this way.
 */
function orchestratorStreamField<T>(orchestratorUrl: () => string | null, fetchFn: typeof fetch, pick: (entry: Awaited<ReturnType<OrchestratorClient['stream']>>) => T | null): (playbackId: string) => Promise<T | null> {
  return async (playbackId) => {
    const base = orchestratorUrl();
    if (base === null) return null;
    try {
      return pick(await new OrchestratorClient(base, { fetch: fetchFn }).stream(playbackId));
    } catch (err) {
      if (err instanceof CastnetError && err.code === 'STREAM_NOT_FOUND') return null;
      throw err;
    }
  };
}

/** A stream's delivery terms: null when the orchestrator knows no such stream or it pays no relay. */
function orchestratorDeliveryLookup(orchestratorUrl: () => string | null, fetchFn: typeof fetch): DeliveryLookup {
  return orchestratorStreamField(orchestratorUrl, fetchFn, (entry) => entry.delivery);
}

/** A stream's signed playback policy: null when the orchestrator knows no such stream or it names none. */
function orchestratorPolicyLookup(orchestratorUrl: () => string | null, fetchFn: typeof fetch): PolicyLookup {
  return orchestratorStreamField(orchestratorUrl, fetchFn, (entry) => entry.playbackPolicy);
}

/** Delivery tickets are offered this long; the claim loop asks for fresh ones every round anyway. */
const DELIVERY_TICKET_TTL_MS = 10 * 60_000;
const REDEEM_INTERVAL_MS = 2_000;

export async function createRelay(init: Partial<RelayOptions> = {}, components: RelayComponents = {}): Promise<Relay> {
  const options = { ...defaultRelayOptions, ...init };
  const logger = (components.logger ?? createLogger()).child({ component: 'relay' });
  const registry = components.registry ?? createMetricsRegistry('relay');
  // Pushed and pulled segments share one budget: pushes make the pull cache evict, never the reverse.
  const budget = new ByteBudget(options.cacheBytes);
  const store = new StreamStore({
    playlistSegments: options.playlistSegments,
    extraSegments: options.extraSegments,
    idleMs: options.streamIdleMs,
    maxStreams: options.maxStreams,
    maxRenditions: options.maxRenditions,
    maxSeqAhead: options.maxSeqAhead,
    budget,
    ...(components.now ? { now: components.now } : {}),
  });
  const stats = new StreamStats({ windowMs: options.viewerWindowMs });
  const cache = new SegmentCache(budget);
  const metrics = createRelayMetrics(registry, {
    streams: () => store.size + (upstream?.streams ?? 0),
    bytesHeld: () => budget.used,
    perStream: () => stats.snapshot(),
    unpaidStreams: () => earnings.unpaidStreams.length,
    recordingBytes: () => recordings?.bytes ?? 0,
  });
  const orchestrator = new OrchestratorLocator(options.orchestrator, options.bootstrap.length > 0, logger);
  let selfUrl = '';
  const fetchFn = components.fetch ?? globalThis.fetch;
  // Parents found in the directory are other people's nodes: reached under the outbound policy. Those the
  // operator listed in --parents are trusted to be private.
  const parentFetch = outboundFetch({ allowPrivate: options.allowPrivateNodes, trustedOrigins: options.parents.map((p) => new URL(p).origin), onRefused: (reason) => metrics.outboundRefused.inc({ reason }) }, fetchFn);
  const parents = new ParentDirectory({
    staticParents: options.parents,
    // null (not given) still discovers: the URL is learned from gossip, or is the local default.
    lookup: components.parentLookup ?? (options.discoverParents && options.orchestrator !== false ? orchestratorParentLookup(() => orchestrator.url(), fetchFn) : undefined),
    self: () => selfUrl,
  });
  const publisherLookup = components.publisherLookup ?? (options.orchestrator !== false ? orchestratorPublisherLookup(() => orchestrator.url(), fetchFn) : undefined);
  const keys = new PublisherKeys({ ...(publisherLookup ? { lookup: publisherLookup } : {}), ...(components.now ? { now: components.now } : {}) });
  const content = new ContentCheck({
    keys,
    ...(components.now ? { now: components.now } : {}),
    onRefused: (from, reason, playbackId) => {
      metrics.contentRefused.inc({ from, reason });
      logger.info({ playbackId, from, reason }, from === 'push' ? 'push refused: not signed by the stream\'s publisher' : "a parent's segment refused: not signed by the stream's publisher");
    },
  });
  const identity = nodeIdentity(options.dataDir, 'relay');
  // Paid delivery: the relay is a ticket recipient as a transcoder is, through the same checks and queue.
  const settlement = components.settlement ?? createSettlement(options, () => orchestrator.url());
  const redemptions = new RedemptionQueue(options.dataDir ? join(options.dataDir, settlement.mode === 'chain' && options.broker ? `relay-redemptions-${options.broker}.sqlite` : 'relay-redemptions.sqlite') : ':memory:');
  const clock = settlement instanceof ChainSettlement ? new BlockClock(settlement.reader, { logger }) : null;
  const chainTime: ChainTime | null = clock ? { latest: () => clock.latest(), msPerBlock: () => clock.msPerBlock(), validityBlocks: 0n } : null;
  const payments = new PaymentReceiver({
    identity,
    terms: { pricePerPixel: options.pricePerByte, faceValue: options.deliveryTicketFaceValue, ticketEv: options.deliveryTicketEv, ticketTtlMs: DELIVERY_TICKET_TTL_MS },
    funds: fundsView({ settlement, recipient: identity.address, refreshMs: 5_000, maxAgeMs: 60_000 }),
    queue: redemptions,
    chain: chainTime,
  });
  const earnings = new DeliveryEarnings({
    identity,
    pricePerByte: options.pricePerByte,
    claimIntervalMs: options.claimIntervalMs,
    refuseUnpaid: options.refuseUnpaid,
    lookup: components.deliveryLookup ?? orchestratorDeliveryLookup(() => orchestrator.url(), fetchFn),
    payments,
    // The payer's URL comes from the directory: another party's node, reached under the outbound policy.
    fetch: outboundFetch({ allowPrivate: options.allowPrivateNodes, onRefused: (reason) => metrics.outboundRefused.inc({ reason }) }, fetchFn),
    logger,
    events: {
      receipt: (result) => metrics.deliveryReceipts.inc({ result }),
      claim: (result, credited, paid) => {
        metrics.deliveryClaims.inc({ result });
        metrics.deliveryCredited.inc(credited);
        metrics.deliveryPaid.inc(Number(paid));
      },
      refusedByPayer: (reason) => metrics.deliveryRefusedByPayer.inc({ reason }),
      edgeReceipt: (result) => metrics.edgeReceipts.inc({ result }),
    },
  });
  // Declared before the upstream it feeds tokens to; it asks the upstream for parents' policies lazily.
  const playback: PlaybackGuard = new PlaybackGuard({
    keys,
    holds: (playbackId) => store.has(playbackId),
    ...(parents.hasParents ? { fromParent: (playbackId: string) => upstream!.policy(playbackId) as ReturnType<PolicyLookup> } : {}),
    ...(components.policyLookup ? { fromDirectory: components.policyLookup } : options.orchestrator !== false ? { fromDirectory: orchestratorPolicyLookup(() => orchestrator.url(), fetchFn) } : {}),
    hs256Secrets: options.playbackSecretsFile ? readPlaybackSecrets(options.playbackSecretsFile) : new Map(),
    ...(components.now ? { now: components.now } : {}),
    onRefused: (reason) => metrics.playbackRefused.inc({ reason }),
  });
  const upstream = parents.hasParents
    ? new Upstream({
        parentsFor: (playbackId) => parents.parentsFor(playbackId),
        fetch: parentFetch,
        cache,
        idleMs: options.streamIdleMs,
        logger,
        verifySegment: (at, headers, bytes) => content.pulled(at, headers, bytes),
        verifyPart: (at, part, headers, bytes) => content.pulledPart(at, part, headers, bytes),
        verifyInit: (at, headers, bytes) => content.pulledInit(at, headers, bytes),
        // Receipts for what parents deliver are signed whether or not this relay charges its own viewers.
        onSegmentPulled: (at, parent, bytes) => earnings.pulled(at.playbackId, parent, at.rendition, at.seq, bytes),
        receipts: { attach: (playbackId, parent, url) => earnings.attachForParent(playbackId, parent, url), answered: (playbackId, parent, header) => earnings.parentAnswered(playbackId, parent, header) },
        onPlaylistRefused: () => metrics.contentRefused.inc({ from: 'parent', reason: 'seq_ahead' }),
        tokenFor: (playbackId) => playback.tokenFor(playbackId),
        onUpstreamRequest: (kind, bytes, playbackId) => {
          metrics.upstreamRequests.inc({ kind });
          metrics.upstreamBytes.inc({ kind }, bytes);
          stats.upstream(playbackId, bytes);
        },
      })
    : null;
  // Recordings and thumbnails are made at the origin, from what it accepted after its checks (never on an edge).
  const recordings = options.recording && options.dataDir && !options.edge
    ? new Recordings({ dir: join(options.dataDir, 'recordings'), maxBytes: options.recordingBytes, maxRecordings: options.maxRecordings, dvrSeconds: options.dvrSeconds, logger, ...(components.now ? { now: components.now } : {}) })
    : null;
  const thumbnailer = options.thumbnails && !options.edge ? new Thumbnailer({ ffmpegPath: ffmpegBinaries().ffmpeg, logger }) : null;
  const liveThumbnail = (playbackId: string) => {
    if (!thumbnailer) throw new CastnetError('NOT_FOUND', 'this relay makes no thumbnails (--no-thumbnails, or an edge with no parent holding the stream)', { playbackId, reason: 'thumbnails_off' });
    return thumbnailer.get(playbackId);
  };
  store.on('segmentStored', (playbackId, rendition, segment) => {
    const descriptor = store.descriptorOf(playbackId);
    // A CMAF (low-latency) rendition's whole segment is recorded with the init segment it needs.
    const init = store.isLowLatency(playbackId, rendition) ? store.initFor(playbackId, rendition, segment.seq) ?? null : null;
    if (store.isLowLatency(playbackId, rendition) && !init) return;
    // The streamer's stream key may ask for no recording (`castnet keys record <key> off`).
    if (descriptor?.record !== false) recordings?.add(playbackId, rendition, segment, descriptor?.variants ?? [], descriptor?.targetDuration ?? 2, descriptor?.playbackPolicy ?? null, init && { seq: init.seq, bytes: init.bytes, headers: init.headers });
    // Thumbnails are cut from MPEG-TS segments (a low-latency stream's from its transcoded renditions).
    if (!init) thumbnailer?.offer(playbackId, rendition, segment.bytes, descriptor?.variants ?? []);
  });
  thumbnailer?.on('thumbnail', (playbackId, jpeg) => {
    metrics.thumbnails.inc({ result: 'ok' });
    recordings?.setThumbnail(playbackId, jpeg);
  });
  thumbnailer?.on('failed', () => metrics.thumbnails.inc({ result: 'failed' }));
  recordings?.on('deleted', () => metrics.recordingsDeleted.inc());
  recordings?.on('ready', (summary) => void reportRecording(summary));
  /** recording.ready at the orchestrator: a write signed with this relay's key, the stream's origin's (webhook-routes.ts). */
  async function reportRecording(s: RecordingSummary): Promise<void> {
    const base = orchestrator.url();
    if (base === null) return;
    const client = new OrchestratorClient(base, { fetch: fetchFn, identity });
    const report = { recordingId: s.recordingId, playbackUrl: `${relay.url}/vod/${s.recordingId}/master.m3u8`, durationSeconds: s.durationSeconds, bytes: s.bytes, segments: s.segments };
    // A few tries: the orchestrator may be restarting; the recording itself is kept either way.
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        await client.reportRecording(s.playbackId, report);
        logger.info({ playbackId: s.playbackId, recordingId: s.recordingId }, 'recording reported to the orchestrator (recording.ready)');
        return;
      } catch (err) {
        if (err instanceof CastnetError && (err.code === 'FORBIDDEN' || err.code === 'STREAM_NOT_FOUND' || attempt === 3)) {
          logger.warn({ playbackId: s.playbackId, recordingId: s.recordingId, err: err.message }, 'recording not reported to the orchestrator');
          return;
        }
        if (attempt === 3) throw err;
        await new Promise((r) => setTimeout(r, 1_000 * attempt).unref());
      }
    }
  }
  const intake = new ReceiptIntake({ earnings, ...(components.now ? { now: components.now } : {}) });
  const hls = createHlsHandler({ store, upstream, metrics, stats, logger, playback, admit: (playbackId) => earnings.admit(playbackId), receipt: (playbackId, source, value) => intake.rode(playbackId, source, value), ...(thumbnailer ? { thumbnail: liveThumbnail } : {}) });
  const vod = createVodHandler({ recordings, metrics, logger, thumbnail: liveThumbnail, admit: (id, req) => playback.admit(id, req), admitUnder: (id, policy, req) => playback.admitUnder(id, policy, req) });
  store.on('streamStarted', (id) => logger.info({ playbackId: id }, 'stream started on relay'));
  store.on('refused', (reason, playbackId) => {
    metrics.refused.inc({ reason });
    logger.info({ playbackId, reason }, 'push refused');
  });
  store.on('streamEnded', (id) => {
    logger.info({ playbackId: id }, 'stream ended: playlists carry EXT-X-ENDLIST');
    recordings?.end(id);
  });
  store.on('streamExpired', (id) => {
    keys.forget(id);
    recordings?.end(id);
    thumbnailer?.forget(id);
    playback.forget(id);
    logger.info({ playbackId: id }, 'stream expired: no pushes');
  });

  const guard = new HttpGuard({ role: 'relay', registry, limits: options });
  const app = createNodeApp({ role: 'relay', registry, identity, guard, health: () => ({ streams: store.size, multiaddrs: presence?.p2p?.multiaddrs ?? [] }) });
  // Pushes and the player bundle under /hls and /player carry the same CORS policy as the fast path.
  app.use(['/hls', '/player', '/vod', '/dvr', '/api/recordings'], cors(HLS_CORS));

  app.use(deliveryRoutes({ earnings, intake, guard }));
  app.use(pushRoutes({ store, metrics, logger, keys, content, playback, guard, edge: options.edge, maxSegmentBytes: options.maxSegmentBytes, maxDescriptorBytes: options.maxDescriptorBytes, ...(components.now ? { now: components.now } : {}) }));
  if (!options.edge) app.use(llPushRoutes({ store, metrics, logger, content, guard, maxSegmentBytes: options.maxSegmentBytes }));
  app.use(pageRoutes({ metrics, orchestrator: () => orchestrator.url() }));
  finishNodeApp(app, logger);

  let server: ListeningServer | null = null;
  let presence: Presence | null = null;
  let expiry: NodeJS.Timeout | null = null;
  const relay: Relay = {
    get url() {
      return options.publicUrl || server?.url || `http://${options.host}:${options.httpPort}`;
    },
    store,
    stats,
    cache,
    recordings,
    earnings,
    redemptions,
    playback,
    paymentAddress: identity.address,
    async start() {
      if (options.pricePerByte > 0n && settlement instanceof ChainSettlement && clock && chainTime) {
        chainTime.validityBlocks = (await settlement.reader.parameters()).ticketValidityBlocks;
        await clock.start();
      }
      server = await listen((req: IncomingMessage, res: ServerResponse) => {
        if (!hls(req, res) && !vod(req, res)) app(req, res);
      }, options.host, options.httpPort, guard);
      selfUrl = relay.url;
      expiry = setInterval(() => store.expire(), 5_000);
      expiry.unref();
      void playerBundle().catch((err) => logger.error({ err }, 'player bundle failed to build'));
      logger.info({ url: relay.url, edge: options.edge }, options.edge ? 'edge relay listening (pushes refused)' : 'relay listening');
      presence = await startPresence({
        ...options,
        role: 'relay',
        orchestrator,
        identity,
        logger,
        record: () => ({
          role: 'relay',
          url: relay.url,
          version: '0.1.0',
          capabilities: { encoders: [], maxSessions: options.maxSessions, pricePerPixel: '0', ...(options.edge ? { edge: true } : {}), ...(options.pricePerByte > 0n ? { pricePerByte: options.pricePerByte.toString() } : {}) },
          load: { sessions: store.size + (upstream?.streams ?? 0), inFlight: 0 },
          stats: stats.snapshot(),
          // Which streams this relay holds as origin, so edges and players can find a parent for them.
          streams: store.ids(),
        }),
      }).catch(async (err: unknown) => {
        // Refused to join (no orchestrator announced itself): nothing stays listening.
        await server?.close();
        server = null;
        throw err;
      });
      earnings.start();
      if (options.pricePerByte > 0n && (settlement.mode === 'chain' || components.settlement || orchestrator.url() !== null)) {
        redemptions.start(
          settlement.redemptions(identity),
          REDEEM_INTERVAL_MS,
          (results) => {
            for (const r of results) metrics.deliveryRedemptions.inc({ outcome: r.outcome });
          },
          (err) => logger.error({ err }, 'delivery redemption round failed'),
        );
      }
    },
    async stop() {
      await earnings.close();
      clock?.stop();
      await presence?.stop();
      upstream?.close();
      if (expiry) clearInterval(expiry);
      await server?.close();
      server = null;
      thumbnailer?.close();
      await recordings?.close();
      if (!redemptions.closed) await redemptions.close();
    },
  };
  return relay;
}
