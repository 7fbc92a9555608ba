// The orchestrator role, wired: node registry, stream sessions (which transcoder and relay serve each
// stream) and the embedded ledger, their HTTP API (api-routes.ts, ledger-routes.ts), gossiped node records
// and its own gossiped URL record, and the logs and metrics of their events. It never carries video.

import express from 'express';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { Registry } from 'prom-client';
import { cors } from '../http/cors.ts';
import { createNodeApp, finishNodeApp, listen, type ListeningServer } from '../http/node-app.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { createMetricsRegistry } from '../observability/metrics-registry.ts';
import { startOrchestratorPresence, type OrchestratorPresence } from '../p2p/orchestrator-presence.ts';
import type { P2pHost } from '../p2p/p2p-host.ts';
import { identityFromPrivateKey, loadOrCreateIdentity } from '../protocol/identity.ts';
import { openAnnouncement, registrationOf } from '../protocol/node-announcement.ts';
import type { NodeRecord } from '../protocol/node-record.ts';
import type { Assignment, SessionRequest } from '../protocol/stream-record.ts';
import { apiRoutes } from './api-routes.ts';
import { Ledger, type Account, type Redemption } from './ledger.ts';
import { ledgerRoutes } from './ledger-routes.ts';
import { createOrchestratorMetrics, type OrchestratorMetrics } from './metrics.ts';
import { NodeRegistry } from './node-registry.ts';
import { CapacityPriceScheduler, type Scheduler } from './scheduler.ts';
import { StreamSessions } from './stream-sessions.ts';
import { defaultOrchestratorOptions, type OrchestratorOptions } from './options.ts';

export { defaultOrchestratorOptions, type OrchestratorOptions };

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
  const unobserve = observe({ nodes, streams, ledger, metrics, logger });

  function sweep(): void {
    nodes.sweep();
    streams.expire();
    metrics.activeStreams.set(streams.size);
    for (const role of ['transcoder', 'relay'] as const) metrics.nodes.set({ role }, nodes.list(role).length);
  }

  const app = createNodeApp({ role: 'orchestrator', registry, health: () => ({ nodes: nodes.list().length, streams: streams.size, multiaddrs: p2p?.multiaddrs ?? [] }) });
  app.use('/api', express.json({ limit: '256kb' }), cors());
  app.use('/api/ledger', ledgerRoutes(ledger));
  app.use('/api', apiRoutes({ nodes, streams, ledger, heartbeatIntervalMs: options.heartbeatIntervalMs, sweep }));
  finishNodeApp(app, logger);

  let server: ListeningServer | null = null;
  let sweeper: NodeJS.Timeout | null = null;
  let p2p: P2pHost | null = null;
  let presence: OrchestratorPresence | null = null;

  function onAnnouncement(data: Uint8Array): void {
    const opened = openAnnouncement(data, now(), options.announcementMaxAgeMs);
    if (typeof opened === 'string') {
      metrics.announcements.inc({ result: opened });
      logger.debug({ reason: opened }, 'announcement dropped');
      return;
    }
    metrics.announcements.inc({ result: 'accepted' });
    nodes.register(registrationOf(opened));
  }

  const orchestrator: Orchestrator = {
    get url() {
      return options.publicUrl ?? server?.url ?? `http://${options.host}:${options.httpPort}`;
    },
    nodes,
    ledger,
    get multiaddrs() {
      return p2p?.multiaddrs ?? [];
    },
    async start() {
      server = await listen(app, options.host, options.httpPort);
      if (options.p2p) {
        // Its record is signed by its own key (kept beside the nodes' keys), so nodes follow one orchestrator.
        const identity = options.dataDir !== null ? loadOrCreateIdentity(options.dataDir, 'orchestrator') : identityFromPrivateKey(secp256k1.utils.randomSecretKey());
        presence = await startOrchestratorPresence({ ...options, url: () => orchestrator.url, identity, onAnnouncement, logger });
        p2p = presence.p2p;
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
      unobserve();
      if (!components.ledger) ledger.close();
    },
  };
  return orchestrator;
}

/** Logs and metrics of the orchestrator's domain events; returns the function that stops listening. */
function observe(o: { nodes: NodeRegistry; streams: StreamSessions; ledger: Ledger; metrics: OrchestratorMetrics; logger: Logger }): () => void {
  const { nodes, streams, ledger, metrics, logger } = o;
  const onAdded = (n: NodeRecord) => logger.info({ node: n.id, role: n.role, url: n.url, encoders: n.capabilities.encoders }, 'node registered');
  const onLost = (n: NodeRecord) => {
    metrics.nodesLost.inc({ role: n.role });
    logger.warn({ node: n.id, role: n.role, url: n.url }, 'node lost: heartbeats stopped');
  };
  const onAssigned = (request: SessionRequest, assignment: Assignment) => {
    metrics.assignments.inc({ transcoder: assignment.transcoder ? 'yes' : 'none' });
    metrics.activeStreams.set(streams.size);
    logger.info({ playbackId: request.playbackId, relay: assignment.relay.url, transcoders: assignment.transcoders.map((t) => t.url), avoid: request.avoid }, 'stream assigned');
  };
  const onEnded = (playbackId: string) => {
    metrics.activeStreams.set(streams.size);
    logger.info({ playbackId }, 'stream ended');
  };
  const onExpired = (playbackId: string) => {
    metrics.activeStreams.set(streams.size);
    logger.info({ playbackId }, 'stream expired: broadcaster stopped refreshing it');
  };
  const onFunded = (a: Account, added: { deposit: bigint; reserve: bigint }) => logger.info({ address: a.address, amount: added.deposit.toString(), reserve: added.reserve.toString() }, 'sender funded');
  const onRedeemed = (r: Redemption, parties: { sender: string; recipient: string }) => {
    metrics.redemptions.inc();
    metrics.faceValueRedeemed.inc(Number(r.paid));
    logger.info({ ticketHash: r.ticketHash, sender: parties.sender, recipient: parties.recipient, paid: r.paid.toString() }, 'ticket redeemed');
  };
  nodes.on('added', onAdded).on('lost', onLost);
  streams.on('assigned', onAssigned).on('ended', onEnded).on('expired', onExpired);
  ledger.on('funded', onFunded).on('redeemed', onRedeemed);
  return () => {
    nodes.off('added', onAdded).off('lost', onLost);
    streams.off('assigned', onAssigned).off('ended', onEnded).off('expired', onExpired);
    ledger.off('funded', onFunded).off('redeemed', onRedeemed);
  };
}
