// The orchestrator role, wired: node registry, stream sessions (which transcoder and relay serve each
// stream) and the embedded ledger, their HTTP API (api-routes.ts, ledger-routes.ts), gossiped node records
// and its own gossiped URL record, and the logs and metrics of their events. It never carries video. With
// --settlement chain it holds no money at all: there is no ledger, and the earnings it shows beside its
// nodes are read from the TicketBroker's events.

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
import { BrokerEarnings } from '../settlement/broker-earnings.ts';
import { ChainSettlement } from '../settlement/chain-settlement.ts';
import { CastnetError } from '../protocol/errors.ts';
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
  /** The embedded ledger; null when the network settles on chain. */
  readonly ledger: Ledger | null;
  /** On chain: what the broker's events say each address earned and paid. */
  readonly chainEarnings: BrokerEarnings | null;
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
  const onChain = options.settlement === 'chain';
  const ledger = onChain ? null : (components.ledger ?? new Ledger(options.dataDir ? join(options.dataDir, 'ledger.sqlite') : ':memory:'));
  const chain = onChain ? new ChainSettlement({ rpcUrl: options.chainRpc!, broker: options.broker! }) : null;
  const chainEarnings = chain ? new BrokerEarnings(chain.reader, { fromBlock: BigInt(options.chainFromBlock), logger }) : null;
  const unobserve = observe({ nodes, streams, ledger, metrics, logger });

  function sweep(): void {
    nodes.sweep();
    streams.expire();
    metrics.activeStreams.set(streams.size);
    for (const role of ['transcoder', 'relay'] as const) metrics.nodes.set({ role }, nodes.list(role).length);
  }

  const app = createNodeApp({ role: 'orchestrator', registry, health: () => ({ nodes: nodes.list().length, streams: streams.size, multiaddrs: p2p?.multiaddrs ?? [] }) });
  app.use('/api', express.json({ limit: '256kb' }), cors());
  // Where money settles is public: nodes and wallets read it to check they agree with the network.
  app.get('/api/settlement', (_req, res) => {
    res.json(chain ? { mode: 'chain', broker: chain.reader.address, chainRpc: options.chainRpc, syncedToBlock: chainEarnings!.syncedTo.toString() } : { mode: 'ledger', ledger: '/api/ledger' });
  });
  if (ledger) app.use('/api/ledger', ledgerRoutes(ledger));
  else {
    app.use('/api/ledger', () => {
      throw new CastnetError('NOT_FOUND', `this network settles on chain, not at an orchestrator's ledger: TicketBroker ${chain!.reader.address} (castnet deposit/wallet/withdraw --settlement chain)`);
    });
  }
  const earned = (address: string) => (chainEarnings ? chainEarnings.totalsOf(address).earned : ledger!.account(address).earned);
  app.use('/api', apiRoutes({ nodes, streams, earned, heartbeatIntervalMs: options.heartbeatIntervalMs, sweep }));
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
    chainEarnings,
    get multiaddrs() {
      return p2p?.multiaddrs ?? [];
    },
    async start() {
      if (chain) {
        await chain.reader.parameters(); // refuses to start when there is no broker at the address
        await chainEarnings!.sync();
        chainEarnings!.start();
        logger.info({ broker: chain.reader.address, rpc: options.chainRpc }, 'network settles on chain');
      }
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
      await chainEarnings?.stop();
      if (ledger && !components.ledger) ledger.close();
    },
  };
  return orchestrator;
}

/** Logs and metrics of the orchestrator's domain events; returns the function that stops listening. */
function observe(o: { nodes: NodeRegistry; streams: StreamSessions; ledger: Ledger | null; metrics: OrchestratorMetrics; logger: Logger }): () => void {
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
  ledger?.on('funded', onFunded).on('redeemed', onRedeemed);
  return () => {
    nodes.off('added', onAdded).off('lost', onLost);
    streams.off('assigned', onAssigned).off('ended', onEnded).off('expired', onExpired);
    ledger?.off('funded', onFunded).off('redeemed', onRedeemed);
  };
}
