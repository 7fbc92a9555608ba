// The relay role: HLS origin for streams pushed by broadcasters (PUT), serving playlists, segments, the
// player bundle, the watch page and the embed page. Hot path: every viewer request lands here.

import express, { type Response } from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { createNodeApp, finishNodeApp, listen, type ListeningServer } from '../http/node-app.ts';
import { assertMpegTs } from '../media/mpegts.ts';
import { CastnetError } from '../protocol/errors.ts';
import { idPattern } from '../protocol/fields.ts';
import { parseSegmentMetadata } from '../protocol/segment-metadata.ts';
import { streamDescriptorSchema } from '../protocol/stream-record.ts';
import { createMetricsRegistry } from '../observability/metrics-registry.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { startPresence, type Presence } from '../p2p/node-presence.ts';
import { OrchestratorLocator } from '../p2p/orchestrator-locator.ts';
import { DEFAULT_P2P_PORTS } from '../p2p/p2p-host.ts';
import { identityFromPrivateKey, loadOrCreateIdentity } from '../protocol/identity.ts';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { playerBundle } from '../player/bundle.ts';
import { embedPage, watchPage } from '../player/pages.ts';
import { createRelayMetrics } from './metrics.ts';
import { StreamStore } from './stream-store.ts';
import { createHlsHandler } from './hls-handler.ts';
import { SegmentCache } from './segment-cache.ts';
import { StreamStats } from './stream-stats.ts';
import { Upstream } from './upstream.ts';

export interface RelayOptions {
  host: string;
  port: number;
  publicUrl: string;
  /** Orchestrator URL (registration, parents, players' relay lists); null: learned from its gossip with bootstrap, else http://127.0.0.1:8935; '': none. */
  orchestrator: string | null;
  playlistSegments: number;
  extraSegments: number;
  streamIdleMs: number;
  maxSessions: number;
  /** Parent relays to pull streams this relay does not hold from, comma-separated, best first. */
  parents: string;
  /** Look up a stream's origin relay in the orchestrator's directory when no parent holds it. */
  discoverParents: boolean;
  /** Byte budget of segments pulled from parents. */
  cacheBytes: number;
  /** Viewer sessions are counted over this window. */
  viewerWindowMs: number;
  /** The relay's identity key lives here; empty: a throwaway key. */
  dataDir: string;
  /** Comma-separated libp2p bootstrap multiaddrs: announce over gossip instead of registering over HTTP. */
  bootstrap: string;
  p2pPort: number;
  /** Comma-separated multiaddrs peers dial this node at (behind NAT); '' derives them from publicUrl. */
  p2pAnnounce: string;
  /** With bootstrap and no orchestrator URL: how long start waits for the orchestrator's record. */
  orchestratorWaitMs: number;
  announceIntervalMs: number;
}

export const defaultRelayOptions: RelayOptions = {
  host: '127.0.0.1',
  port: 8080,
  publicUrl: '',
  orchestrator: null,
  playlistSegments: 6,
  extraSegments: 4,
  streamIdleMs: 60_000,
  maxSessions: 100,
  parents: '',
  discoverParents: true,
  cacheBytes: 512 * 1024 * 1024,
  viewerWindowMs: 30_000,
  dataDir: './.castnet',
  bootstrap: '',
  p2pPort: DEFAULT_P2P_PORTS.relay,
  p2pAnnounce: '',
  orchestratorWaitMs: 15_000,
  announceIntervalMs: 2_000,
};

export interface RelayComponents {
  logger?: Logger;
  registry?: Registry;
  now?: () => number;
}

export interface Relay {
  readonly url: string;
  readonly store: StreamStore;
  readonly stats: StreamStats;
  readonly cache: SegmentCache;
  start(): Promise<void>;
  stop(): Promise<void>;
}


function checkId(value: string, what: string): string {
  if (!idPattern.test(value)) throw new CastnetError('INVALID_PATH', `invalid ${what}`);
  return value;
}

export async function createRelay(init: Partial<RelayOptions> = {}, components: RelayComponents = {}): Promise<Relay> {
  const options = { ...defaultRelayOptions, ...init };
  const logger = (components.logger ?? createLogger()).child({ component: 'relay' });
  const registry = components.registry ?? createMetricsRegistry('relay');
  const store = new StreamStore({ playlistSegments: options.playlistSegments, extraSegments: options.extraSegments, idleMs: options.streamIdleMs, ...(components.now ? { now: components.now } : {}) });
  const stats = new StreamStats({ windowMs: options.viewerWindowMs });
  const cache = new SegmentCache(options.cacheBytes);
  const metrics = createRelayMetrics(registry, {
    streams: () => store.size + (upstream?.streams ?? 0),
    bytesHeld: () => store.bytesHeld() + cache.bytesHeld,
    perStream: () => stats.snapshot(),
  });
  const orchestrator = new OrchestratorLocator(options.orchestrator, options.bootstrap.trim() !== '', logger);
  let selfUrl = '';
  const staticParents = options.parents.split(',').map((p) => p.trim().replace(/\/$/, '')).filter(Boolean);
  // Parents found through the orchestrator: the stream's origin relay and relays announcing they hold it.
  const parentCache = new Map<string, { at: number; urls: string[] }>();
  async function parentsFor(playbackId: string): Promise<string[]> {
    const parents = [...staticParents];
    const base = orchestrator.url();
    if (options.discoverParents && base) {
      let hit = parentCache.get(playbackId);
      if (!hit || Date.now() - hit.at > 5_000) {
        const urls = await fetch(`${base}/api/streams/${playbackId}/relays?holding=1`, { signal: AbortSignal.timeout(3_000) })
          .then((r) => (r.ok ? (r.json() as Promise<string[]>) : []))
          .catch(() => [] as string[]);
        hit = { at: Date.now(), urls };
        // Requests for made-up ids must not grow this without bound.
        if (parentCache.size > 10_000) parentCache.clear();
        parentCache.set(playbackId, hit);
      }
      for (const url of hit.urls) if (url !== selfUrl && !parents.includes(url)) parents.push(url);
    }
    return parents;
  }
  const upstream =
    staticParents.length > 0 || (options.discoverParents && orchestrator.explicit !== '')
      ? new Upstream({
          parentsFor,
          cache,
          idleMs: options.streamIdleMs,
          logger,
          onUpstreamRequest: (kind, bytes, playbackId) => {
            metrics.upstreamRequests.inc({ kind });
            metrics.upstreamBytes.inc({ kind }, bytes);
            stats.upstream(playbackId, bytes);
          },
        })
      : null;
  const hls = createHlsHandler({ store, upstream, metrics, stats });
  store.on('streamStarted', (id) => logger.info({ playbackId: id }, 'stream started on relay'));
  store.on('streamExpired', (id) => logger.info({ playbackId: id }, 'stream expired: no pushes'));

  const app = createNodeApp({ role: 'relay', registry, health: () => ({ streams: store.size }) });
  app.use(['/hls', '/player'], (req, res, next) => {
    res.setHeader('access-control-allow-origin', '*');
    res.setHeader('access-control-expose-headers', 'content-length, etag');
    if (req.method === 'OPTIONS') {
      res.setHeader('access-control-allow-methods', 'GET, HEAD, OPTIONS');
      res.setHeader('access-control-allow-headers', 'range, if-none-match');
      res.status(204).end();
      return;
    }
    next();
  });

  const served = (kind: string, res: Response) => res.once('finish', () => metrics.requests.inc({ kind, status: String(res.statusCode) }));

  // ---- push side (broadcasters) ----
  app.put('/hls/:playbackId', express.json({ limit: '64kb' }), (req, res) => {
    served('push', res);
    const parsed = streamDescriptorSchema.safeParse({ ...req.body, playbackId: req.params.playbackId });
    if (!parsed.success) throw new CastnetError('BAD_REQUEST', `invalid stream descriptor: ${parsed.error.issues[0]?.message}`);
    store.setDescriptor(parsed.data);
    res.status(204).end();
  });
  app.put('/hls/:playbackId/:rendition/:seq.ts', express.raw({ type: () => true, limit: '64mb' }), (req, res) => {
    served('push', res);
    const playbackId = checkId(req.params.playbackId, 'playback id');
    const rendition = checkId(req.params.rendition, 'rendition');
    const seq = Number(req.params.seq);
    if (!Number.isInteger(seq) || seq < 0) throw new CastnetError('INVALID_PATH', 'invalid segment sequence');
    const meta = parseSegmentMetadata(req.headers);
    const bytes = req.body as Buffer;
    assertMpegTs(bytes, { playbackId, rendition, seq });
    store.putSegment(playbackId, rendition, seq, meta, bytes);
    metrics.segmentsReceived.inc();
    logger.debug({ playbackId, rendition, seq, bytes: bytes.length }, 'segment stored');
    res.status(201).end();
  });

  // ---- viewer side: HLS GETs are answered by the fast path (hls-handler.ts) before Express ----
  app.get('/player/castnet-player.js', async (_req, res, next) => {
    served('player', res);
    try {
      res.set({ 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'public, max-age=300' }).send(await playerBundle());
    } catch (err) {
      next(err);
    }
  });
  app.get('/watch/:playbackId', (req, res) => {
    served('page', res);
    const id = checkId(req.params.playbackId, 'playback id');
    res.type('html').send(watchPage(id, orchestrator.url() ? `${orchestrator.url()}/api/streams/${id}/relays` : undefined));
  });
  app.get('/embed/:playbackId', (req, res) => {
    served('page', res);
    // The embed page is made to be framed by any site.
    res.setHeader('content-security-policy', 'frame-ancestors *');
    const id = checkId(req.params.playbackId, 'playback id');
    res.type('html').send(embedPage(id, orchestrator.url() ? `${orchestrator.url()}/api/streams/${id}/relays` : undefined));
  });
  finishNodeApp(app, logger);

  let server: ListeningServer | null = null;
  let presence: Presence | null = null;
  const identity = options.dataDir ? loadOrCreateIdentity(options.dataDir, 'relay') : identityFromPrivateKey(secp256k1.utils.randomSecretKey());
  let expiry: NodeJS.Timeout | null = null;
  const relay: Relay = {
    get url() {
      return options.publicUrl || server?.url || `http://${options.host}:${options.port}`;
    },
    store,
    stats,
    cache,
    async start() {
      server = await listen((req: IncomingMessage, res: ServerResponse) => {
        if (!hls(req, res)) app(req, res);
      }, options.host, options.port);
      selfUrl = relay.url;
      expiry = setInterval(() => store.expire(), 5_000);
      expiry.unref();
      void playerBundle().catch((err) => logger.error({ err }, 'player bundle failed to build'));
      logger.info({ url: relay.url }, 'relay listening');
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
          capabilities: { encoders: [], maxSessions: options.maxSessions, pricePerPixel: '0' },
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
    },
    async stop() {
      await presence?.stop();
      upstream?.close();
      if (expiry) clearInterval(expiry);
      await server?.close();
      server = null;
    },
  };
  return relay;
}
