// The orchestrator role: node registry, stream sessions (which transcoder and relay serve each stream),
// and the public stream directory. It never carries video.

import express from 'express';
import type { Registry } from 'prom-client';
import { createNodeApp, finishNodeApp, listen, type ListeningServer } from '../http/node-app.ts';
import { CastnetError } from '../protocol/errors.ts';
import { heartbeatSchema, nodeRegistrationSchema } from '../protocol/node-record.ts';
import { sessionRequestSchema, type Assignment, type SessionRequest, type StreamDirectoryEntry } from '../protocol/stream-record.ts';
import type { z } from 'zod';
import { createMetricsRegistry } from '../observability/metrics-registry.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { join } from 'node:path';
import { depositRequestSchema, redemptionRequestSchema, type AccountJson } from '../protocol/redemption.ts';
import { Ledger, type Account } from './ledger.ts';
import { openAnnouncement, registrationOf } from '../protocol/node-announcement.ts';
import { DEFAULT_P2P_PORTS, type P2pHost } from '../p2p/p2p-host.ts';
import { startOrchestratorPresence } from '../p2p/orchestrator-presence.ts';
import { identityFromPrivateKey, loadOrCreateIdentity } from '../protocol/identity.ts';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { createOrchestratorMetrics } from './metrics.ts';
import { NodeRegistry } from './node-registry.ts';
import { CapacityPriceScheduler, type Scheduler } from './scheduler.ts';
import { StreamSessions } from './stream-sessions.ts';

export interface OrchestratorOptions {
  host: string;
  port: number;
  /** The ledger lives here (ledger.sqlite); empty keeps it in memory. */
  dataDir: string;
  heartbeatIntervalMs: number;
  /** A node missing heartbeats this long is dropped. */
  nodeTimeoutMs: number;
  /** A stream whose broadcaster stopped refreshing it this long is dropped from the directory. */
  streamTtlMs: number;
  /** Transcoders assigned to each stream: segments rotate over them and fail over between them. */
  transcodersPerStream: number;
  /** URL nodes reach the API at (announced over libp2p); defaults to http://host:port. */
  publicUrl: string;
  /** Run a libp2p host: hear nodes' gossiped records and announce this orchestrator's URL. */
  p2p: boolean;
  /** libp2p TCP port (0: any free port). */
  p2pPort: number;
  /** Comma-separated multiaddrs peers dial this host at (behind NAT); '' derives them from publicUrl. */
  p2pAnnounce: string;
  /** How often the orchestrator's signed record is gossiped. */
  announceIntervalMs: number;
  /** Comma-separated multiaddrs of peers to join through. */
  bootstrap: string;
  /** Announcements older than this are dropped as stale. */
  announcementMaxAgeMs: number;
}

export const defaultOrchestratorOptions: OrchestratorOptions = {
  host: '127.0.0.1',
  port: 8935,
  dataDir: './.castnet',
  heartbeatIntervalMs: 2_000,
  nodeTimeoutMs: 8_000,
  streamTtlMs: 30_000,
  transcodersPerStream: 2,
  publicUrl: '',
  p2p: false,
  p2pPort: DEFAULT_P2P_PORTS.orchestrator,
  p2pAnnounce: '',
  announceIntervalMs: 2_000,
  bootstrap: '',
  announcementMaxAgeMs: 10_000,
};

export interface OrchestratorComponents {
  logger?: Logger;
  registry?: Registry;
  scheduler?: Scheduler;
  ledger?: Ledger;
  now?: () => number;
}

export interface Orchestrator {
  readonly url: string;
  readonly nodes: NodeRegistry;
  readonly ledger: Ledger;
  /** Where peers reach this orchestrator's libp2p host (empty without one). */
  readonly multiaddrs: string[];
  start(): Promise<void>;
  stop(): Promise<void>;
}

function parse<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new CastnetError('BAD_REQUEST', `invalid ${what}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

export async function createOrchestrator(init: Partial<OrchestratorOptions> = {}, components: OrchestratorComponents = {}): Promise<Orchestrator> {
  const options = { ...defaultOrchestratorOptions, ...init };
  const logger = (components.logger ?? createLogger()).child({ component: 'orchestrator' });
  const registry = components.registry ?? createMetricsRegistry('orchestrator');
  const metrics = createOrchestratorMetrics(registry);
  const now = components.now ?? Date.now;
  const scheduler = components.scheduler ?? new CapacityPriceScheduler();
  const nodes = new NodeRegistry({ timeoutMs: options.nodeTimeoutMs, now });
  const streams = new StreamSessions({ nodes, scheduler, ttlMs: options.streamTtlMs, transcodersPerStream: options.transcodersPerStream, now });
  const ledger = components.ledger ?? new Ledger(options.dataDir ? join(options.dataDir, 'ledger.sqlite') : ':memory:');
  const accountJson = (a: Account): AccountJson => ({ address: a.address, deposit: a.deposit.toString(), reserve: a.reserve.toString(), earned: a.earned.toString(), spent: a.spent.toString() });

  nodes.on('added', (n) => logger.info({ node: n.id, role: n.role, url: n.url, encoders: n.capabilities.encoders }, 'node registered'));
  nodes.on('lost', (n) => {
    metrics.nodesLost.inc({ role: n.role });
    logger.warn({ node: n.id, role: n.role, url: n.url }, 'node lost: heartbeats stopped');
  });

  function sweep(): void {
    nodes.sweep();
    for (const id of streams.expire()) logger.info({ playbackId: id }, 'stream expired: broadcaster stopped refreshing it');
    metrics.activeStreams.set(streams.size);
    for (const role of ['transcoder', 'relay'] as const) metrics.nodes.set({ role }, nodes.list(role).length);
  }

  function openSession(request: SessionRequest): Assignment {
    sweep();
    const { assignment, changed } = streams.open(request);
    if (changed) {
      metrics.assignments.inc({ transcoder: assignment.transcoder ? 'yes' : 'none' });
      logger.info({ playbackId: request.playbackId, relay: assignment.relay.url, transcoders: assignment.transcoders.map((t) => t.url), avoid: request.avoid }, 'stream assigned');
    }
    metrics.activeStreams.set(streams.size);
    return assignment;
  }

  function directory(): StreamDirectoryEntry[] {
    sweep();
    const entries: StreamDirectoryEntry[] = [];
    for (const [playbackId, s] of streams.entries()) {
      const relay = nodes.get(s.relayId);
      if (!relay) continue;
      entries.push({
        playbackId,
        playbackUrl: `${relay.url}/hls/${playbackId}/master.m3u8`,
        watchUrl: `${relay.url}/watch/${playbackId}`,
        renditions: s.request.renditions,
        startedAt: s.request.startedAt,
        relay: relay.url,
        transcoder: s.transcoderIds[0] ? (nodes.get(s.transcoderIds[0])?.url ?? null) : null,
        transcoders: s.transcoderIds.map((id) => nodes.get(id)?.url).filter((u): u is string => !!u),
      });
    }
    return entries;
  }

  const app = createNodeApp({ role: 'orchestrator', registry, health: () => ({ nodes: nodes.list().length, streams: streams.size, multiaddrs: p2p?.multiaddrs ?? [] }) });
  app.use('/api', express.json({ limit: '256kb' }));
  app.use('/api', (_req, res, next) => {
    res.setHeader('access-control-allow-origin', '*');
    next();
  });
  app.get('/api/nodes', (_req, res) => {
    sweep();
    res.json(
      nodes.list().map((n) => ({
        ...n,
        address: n.url,
        streams: streams.assigned(n.id),
        recentFailures: streams.recentFailures(n.id),
        earned: n.paymentAddress ? ledger.account(n.paymentAddress).earned.toString() : '0',
      })),
    );
  });
  app.post('/api/nodes', (req, res) => {
    const record = nodes.register(parse(nodeRegistrationSchema, req.body, 'node registration'));
    res.status(201).json({ id: record.id, heartbeatIntervalMs: options.heartbeatIntervalMs });
  });
  app.post('/api/nodes/:id/heartbeat', (req, res) => {
    // A node past its timeout is gone even if the sweeper has not run yet: it must register again.
    nodes.sweep();
    const beat = parse(heartbeatSchema, req.body, 'heartbeat');
    nodes.heartbeat(req.params.id, beat.load, beat.stats);
    res.status(204).end();
  });
  app.get('/api/streams', (_req, res) => {
    res.json(directory());
  });
  // Every relay can serve every stream (edges pull from the origin), so a player failing over may use any:
  // the stream's origin relay first, then the others, least loaded first.
  app.get('/api/streams/:playbackId/relays', (req, res) => {
    sweep();
    const session = streams.get(req.params.playbackId);
    if (!session) throw new CastnetError('STREAM_NOT_FOUND', 'no live stream with this playback id', { playbackId: req.params.playbackId });
    // ?holding=1: only relays that hold the stream as origin (what an edge needs as a parent; an edge
    // pulling from another edge that pulls from it would loop).
    const holdingOnly = req.query.holding === '1';
    const relays = nodes.list('relay').filter((n) => streams.recentFailures(n.id) < 3 && (!holdingOnly || n.id === session.relayId || (n.streams?.includes(req.params.playbackId) ?? false)));
    // The origin first, then relays that say (in their records) they hold the stream, then the least loaded.
    const holds = (n: (typeof relays)[number]) => Number(n.id === session.relayId) * 2 + Number(n.streams?.includes(req.params.playbackId) ?? false);
    relays.sort((a, b) => holds(b) - holds(a) || a.load.sessions / a.capabilities.maxSessions - b.load.sessions / b.capabilities.maxSessions);
    res.json(relays.map((n) => n.url));
  });
  app.post('/api/streams', (req, res) => {
    res.json(openSession(parse(sessionRequestSchema, req.body, 'session request')));
  });
  app.delete('/api/streams/:playbackId', (req, res) => {
    if (streams.close(req.params.playbackId)) logger.info({ playbackId: req.params.playbackId }, 'stream ended');
    metrics.activeStreams.set(streams.size);
    res.status(204).end();
  });
  app.get('/api/ledger/accounts', (_req, res) => {
    res.json(ledger.accounts().map(accountJson));
  });
  app.get('/api/ledger/accounts/:address', (req, res) => {
    if (!/^0x[0-9a-fA-F]{40}$/.test(req.params.address)) throw new CastnetError('BAD_REQUEST', 'invalid address');
    res.json(accountJson(ledger.account(req.params.address)));
  });
  app.post('/api/ledger/deposits', (req, res) => {
    const d = parse(depositRequestSchema, req.body, 'deposit');
    const account = ledger.fund(d.address, d.amount, d.reserve);
    logger.info({ address: d.address, amount: d.amount.toString(), reserve: d.reserve.toString() }, 'sender funded');
    res.json(accountJson(account));
  });
  app.post('/api/ledger/redemptions', (req, res) => {
    const r = parse(redemptionRequestSchema, req.body, 'redemption');
    const redemption = ledger.redeem(r.ticket, r.signature, r.recipientRand);
    metrics.redemptions.inc();
    metrics.faceValueRedeemed.inc(Number(redemption.paid));
    logger.info({ ticketHash: redemption.ticketHash, sender: r.ticket.sender, recipient: r.ticket.recipient, paid: redemption.paid.toString() }, 'ticket redeemed');
    res.json({ ticketHash: redemption.ticketHash, paid: redemption.paid.toString(), fromReserve: redemption.fromReserve.toString() });
  });
  finishNodeApp(app, logger);

  let server: ListeningServer | null = null;
  let sweeper: NodeJS.Timeout | null = null;
  let p2p: P2pHost | null = null;
  let presence: { stop(): Promise<void> } | null = null;

  function onAnnouncement(data: Uint8Array): void {
    const opened = openAnnouncement(data, now(), options.announcementMaxAgeMs);
    if (typeof opened === 'string') {
      metrics.announcements.inc({ result: opened });
      logger.debug({ reason: opened }, 'announcement dropped');
      return;
    }
    metrics.announcements.inc({ result: 'accepted' });
    nodes.register({ ...registrationOf(opened), ...(opened.role === 'relay' ? { streams: opened.streams } : {}) });
  }

  const orchestrator: Orchestrator = {
    get url() {
      return options.publicUrl || server?.url || `http://${options.host}:${options.port}`;
    },
    nodes,
    ledger,
    get multiaddrs() {
      return p2p?.multiaddrs ?? [];
    },
    async start() {
      server = await listen(app, options.host, options.port);
      if (options.p2p) {
        // Its record is signed by its own key (kept beside the nodes' keys), so nodes follow one orchestrator.
        const identity = options.dataDir ? loadOrCreateIdentity(options.dataDir, 'orchestrator') : identityFromPrivateKey(secp256k1.utils.randomSecretKey());
        const started = await startOrchestratorPresence({ ...options, url: () => orchestrator.url, identity, onAnnouncement, logger });
        ({ p2p } = started);
        presence = started;
      }
      sweeper = setInterval(sweep, Math.max(500, options.heartbeatIntervalMs));
      sweeper.unref();
      logger.info({ url: server.url }, 'orchestrator listening');
    },
    async stop() {
      if (sweeper) clearInterval(sweeper);
      await presence?.stop();
      await server?.close();
      server = null;
      if (!components.ledger) ledger.close();
    },
  };
  return orchestrator;
}
