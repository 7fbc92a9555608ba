// The relay role: HLS origin for streams pushed by broadcasters (PUT), serving playlists, segments, the
// player bundle, the watch page and the embed page. Hot path: every viewer request lands here.

import express, { type Response } from 'express';
import type { Registry } from 'prom-client';
import { createNodeApp, finishNodeApp, listen, type ListeningServer } from '../http/node-app.ts';
import { assertMpegTs } from '../media/mpegts.ts';
import { CastnetError } from '../protocol/errors.ts';
import { idPattern, parseSegmentMetadata } from '../protocol/segment-metadata.ts';
import { streamDescriptorSchema } from '../protocol/stream-record.ts';
import { createMetricsRegistry } from '../observability/metrics-registry.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { NodeRegistrationLoop, OrchestratorClient } from '../orchestrator/orchestrator-client.ts';
import { playerBundle } from '../player/bundle.ts';
import { embedPage, watchPage } from '../player/pages.ts';
import { createRelayMetrics } from './metrics.ts';
import { StreamStore } from './stream-store.ts';

export interface RelayOptions {
  host: string;
  port: number;
  publicUrl: string;
  orchestrator: string;
  playlistSegments: number;
  extraSegments: number;
  streamIdleMs: number;
  maxSessions: number;
}

export const defaultRelayOptions: RelayOptions = {
  host: '127.0.0.1',
  port: 8080,
  publicUrl: '',
  orchestrator: 'http://127.0.0.1:8935',
  playlistSegments: 6,
  extraSegments: 4,
  streamIdleMs: 60_000,
  maxSessions: 100,
};

export interface RelayComponents {
  logger?: Logger;
  registry?: Registry;
  now?: () => number;
}

export interface Relay {
  readonly url: string;
  readonly store: StreamStore;
  start(): Promise<void>;
  stop(): Promise<void>;
}

const PLAYLIST_TYPE = 'application/vnd.apple.mpegurl';
const SEGMENT_CACHE = 'public, max-age=86400, immutable';
// Under half a target duration, so a CDN in front never holds a live playlist past the next segment.
const PLAYLIST_CACHE = 'public, max-age=1';

function checkId(value: string, what: string): string {
  if (!idPattern.test(value)) throw new CastnetError('INVALID_PATH', `invalid ${what}`);
  return value;
}

export async function createRelay(init: Partial<RelayOptions> = {}, components: RelayComponents = {}): Promise<Relay> {
  const options = { ...defaultRelayOptions, ...init };
  const logger = (components.logger ?? createLogger()).child({ component: 'relay' });
  const registry = components.registry ?? createMetricsRegistry('relay');
  const store = new StreamStore({ playlistSegments: options.playlistSegments, extraSegments: options.extraSegments, idleMs: options.streamIdleMs, ...(components.now ? { now: components.now } : {}) });
  const metrics = createRelayMetrics(registry, { streams: () => store.size, bytesHeld: () => store.bytesHeld() });
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

  // ---- viewer side ----
  app.get('/hls/:playbackId/master.m3u8', (req, res) => {
    served('master', res);
    const body = store.multivariantPlaylist(checkId(req.params.playbackId, 'playback id'));
    res.set({ 'content-type': PLAYLIST_TYPE, 'cache-control': 'public, max-age=2' }).end(body);
  });
  app.get('/hls/:playbackId/:rendition/index.m3u8', (req, res) => {
    served('media', res);
    const body = store.mediaPlaylist(checkId(req.params.playbackId, 'playback id'), checkId(req.params.rendition, 'rendition'));
    res.set({ 'content-type': PLAYLIST_TYPE, 'cache-control': PLAYLIST_CACHE }).end(body);
  });
  app.get('/hls/:playbackId/:rendition/:seq.ts', (req, res) => {
    served('segment', res);
    let segment;
    try {
      segment = store.segment(checkId(String(req.params.playbackId), 'playback id'), checkId(String(req.params.rendition), 'rendition'), Number(req.params.seq));
    } catch (err) {
      metrics.cache.inc({ result: 'miss' });
      throw err;
    }
    metrics.cache.inc({ result: 'hit' });
    res.setHeader('etag', segment.etag);
    res.setHeader('cache-control', SEGMENT_CACHE);
    if (req.headers['if-none-match'] === segment.etag) {
      res.status(304).end();
      return;
    }
    res.setHeader('content-type', 'video/mp2t');
    res.setHeader('content-length', segment.bytes.length);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    metrics.bytesServed.inc(segment.bytes.length);
    res.end(segment.bytes);
  });
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
    res.type('html').send(watchPage(checkId(req.params.playbackId, 'playback id')));
  });
  app.get('/embed/:playbackId', (req, res) => {
    served('page', res);
    // The embed page is made to be framed by any site.
    res.setHeader('content-security-policy', 'frame-ancestors *');
    res.type('html').send(embedPage(checkId(req.params.playbackId, 'playback id')));
  });
  finishNodeApp(app, logger);

  let server: ListeningServer | null = null;
  let registration: NodeRegistrationLoop | null = null;
  let expiry: NodeJS.Timeout | null = null;
  const relay: Relay = {
    get url() {
      return options.publicUrl || server?.url || `http://${options.host}:${options.port}`;
    },
    store,
    async start() {
      server = await listen(app, options.host, options.port);
      expiry = setInterval(() => store.expire(), 5_000);
      expiry.unref();
      void playerBundle().catch((err) => logger.error({ err }, 'player bundle failed to build'));
      logger.info({ url: relay.url }, 'relay listening');
      if (options.orchestrator) {
        registration = new NodeRegistrationLoop(
          new OrchestratorClient(options.orchestrator),
          () => ({ role: 'relay', url: relay.url, version: '0.1.0', capabilities: { encoders: [], maxSessions: options.maxSessions, pricePerPixel: '0' }, load: { sessions: store.size, inFlight: 0 } }),
          logger,
        );
        await registration.start();
      }
    },
    async stop() {
      registration?.stop();
      if (expiry) clearInterval(expiry);
      await server?.close();
      server = null;
    },
  };
  return relay;
}
